"""§5: workspace-wide keys, normalized hashing, replays, reservations that outlive failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from airflow_provider_markaestro.emulator.idempotency import read_key

from .support import ORBIT, P, Api, assert_error, png

LEASE = 600


def _key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def test_create_replays_for_the_same_normalized_body(api: Api) -> None:
    api.fresh_rate_window()  # the two remaining counts below must share a window
    first = api.create({"channel": "threads", "caption": "hello"}, headers=_key("k-create"))
    replay = api.create({"caption": "  hello ", "channel": "threads", "extra": [1, 2]}, headers=_key("k-create"))
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert int(replay.headers["x-ratelimit-remaining"]) == int(first.headers["x-ratelimit-remaining"]) - 1
    posts = api.admin("GET", "/posts").json()["posts"]
    assert [(p["id"], p["idempotencyKey"]) for p in posts] == [(first.json()["post"]["id"], "k-create")]


def test_key_is_workspace_wide_and_reuse_with_other_input_is_rejected(api: Api, orbit: Api) -> None:
    api.create_ok({"channel": "threads", "caption": "a"})
    assert api.create({"channel": "threads", "caption": "a"}, headers=_key("shared")).status_code == 201
    # The hash does not include the brand: another brand's key with the same body gets the replay.
    assert orbit.create({"channel": "threads", "caption": "a"}, headers=_key("shared")).status_code == 201
    for response in (
        api.create({"channel": "threads", "caption": "b"}, headers=_key("shared")),
        api.create({"channel": "threads", "caption": "a", "scheduledAt": None}, headers=_key("shared")),
        orbit.create({"channel": "threads", "caption": "a", "productId": ORBIT}, headers=_key("shared")),
    ):
        assert response.status_code == 400
        assert response.json()["error"] == "VALIDATION_IDEMPOTENCY_KEY_REUSED" and "requestId" in response.json()
    post_id = api.admin("GET", "/posts").json()["posts"][-1]["id"]
    assert api.publish(post_id, headers=_key("shared")).json()["error"] == "VALIDATION_IDEMPOTENCY_KEY_REUSED"


def test_failed_attempt_keeps_the_key_reserved_until_the_lease_lapses(orbit: Api) -> None:
    body = {"channel": "linkedin", "caption": "which page?"}
    first = orbit.create(body, headers=_key("k-fail"))
    assert first.json()["error"] == "VALIDATION_DESTINATION_ID_REQUIRED_FOR_CHANNEL"
    busy = orbit.create(body, headers=_key("k-fail"))
    assert busy.status_code == 409
    assert set(busy.json()) == {"error", "message"} and busy.json()["error"] == "IDEMPOTENCY_REQUEST_IN_PROGRESS"
    assert busy.headers["retry-after"] == "1" and "x-ratelimit-limit" in busy.headers
    corrected = orbit.create({**body, "destinationId": "linkedin:linkedin:8812345"}, headers=_key("k-fail"))
    assert corrected.json()["error"] == "VALIDATION_IDEMPOTENCY_KEY_REUSED"
    orbit.advance(LEASE + 1)
    assert orbit.create(body, headers=_key("k-fail")).json()["error"] == "VALIDATION_DESTINATION_ID_REQUIRED_FOR_CHANNEL"


def test_schema_errors_do_not_reserve_the_key(api: Api) -> None:
    assert api.create({"channel": "nope"}, headers=_key("k-schema")).status_code == 400
    assert api.create({"channel": "threads", "caption": "x"}, headers=_key("k-schema")).status_code == 201


@pytest.mark.parametrize("value", ["x" * 501, "bad\tkey"])
def test_invalid_keys(api: Api, value: str) -> None:
    response = api.create({"channel": "threads", "caption": "x"}, headers=_key(value))
    assert response.status_code == 400 and response.json()["error"] == "VALIDATION_IDEMPOTENCY_KEY_INVALID"


def test_blank_key_is_absent(api: Api) -> None:
    for _ in range(2):
        assert api.create({"channel": "threads", "caption": "x"}, headers=_key("")).status_code == 201
    assert len(api.admin("GET", "/posts").json()["posts"]) == 2


def test_key_value_is_trimmed_like_javascript() -> None:
    # HTTP clients refuse to send padded header values, so the trimming is checked directly.
    assert read_key("  k-1\u3000") == "k-1"
    assert read_key(" \ufeff ") is None
    assert read_key(None) is None


def test_publish_replay_then_status_check_wins(api: Api) -> None:
    post = api.create_ok({"channel": "linkedin", "caption": "go"})
    first = api.publish(post["id"], headers=_key("k-pub"))
    replay = api.publish(post["id"], headers=_key("k-pub"))
    assert (first.status_code, replay.status_code) == (202, 202) and replay.json() == first.json()
    api.advance(1)
    late = api.publish(post["id"], headers=_key("k-pub"))
    assert late.status_code == 409 and late.json()["message"] == "Post is already published"
    runs = api.admin("GET", "/job-runs").json()["runs"]
    assert len(runs) == 1 and runs[0]["idempotencyKey"] == "k-pub"


def test_batch_and_media_replay(api: Api) -> None:
    batch = {"posts": [{"channel": "threads", "caption": "one"}, {"channel": "threads", "caption": "two"}]}
    first = api.create(batch, headers=_key("k-batch"))
    assert first.status_code == 200 and api.create(batch, headers=_key("k-batch")).json() == first.json()
    assert api.create(batch["posts"][0], headers=_key("k-batch")).json()["error"] == "VALIDATION_IDEMPOTENCY_KEY_REUSED"

    data = png(3, 3)
    asset = api.upload("a.png", data, "image/png", headers=_key("k-media"))
    again = api.upload("a.png", data, "image/png", headers=_key("k-media"))
    assert (asset.status_code, again.status_code) == (201, 201) and again.json() == asset.json()
    renamed = api.upload("b.png", data, "image/png", headers=_key("k-media"))
    assert renamed.json()["error"] == "VALIDATION_IDEMPOTENCY_KEY_REUSED"
    assert api.create({"channel": "facebook", "productId": ORBIT, "caption": "x"}, headers=_key("k-other")).status_code == 400
    assert api.get(f"{P}/products").status_code == 200


def _hold_after_reserve(api: Api, path_regex: str, seconds: float) -> None:
    fault = {"method": "POST", "path_regex": path_regex, "action": "delay_after_reserve", "delay_seconds": seconds}
    assert api.admin("POST", "/faults", json=fault).status_code == 201


def _wait_until_paused(api: Api, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while api.admin("GET", "/health").json()["pausedAfterReserve"] == 0:
        assert time.monotonic() < deadline, "the first request never reserved its key"
        time.sleep(0.01)


SAME_REQUEST: dict[str, tuple[str, Callable[[Api, dict[str, str]], httpx.Response]]] = {
    "single-create": (r"/posts$", lambda a, h: a.create({"channel": "threads", "caption": "twice?"}, headers=h)),
    "batch-create": (r"/posts$", lambda a, h: a.create({"posts": [{"channel": "threads", "caption": "b"}]}, headers=h)),
    "media": (r"/media$", lambda a, h: a.upload("a.png", png(2, 2), "image/png", headers=h)),
}


@pytest.mark.parametrize("route", [*SAME_REQUEST, "publish"])
def test_concurrent_duplicate_gets_409_in_progress_while_the_first_is_reserved(api: Api, route: str) -> None:
    """§5 "Concurrent duplicate": the reservation is committed before the operation, so the
    duplicate sees it (409 + Retry-After: 1) instead of waiting for the lock and replaying."""
    if route == "publish":
        post_id = api.create_ok({"channel": "linkedin", "caption": "once"})["id"]
        path_regex, send = r"/publish$", lambda a, h: a.publish(post_id, headers=h)
    else:
        path_regex, send = SAME_REQUEST[route]
    headers = _key(f"k-concurrent-{route}")
    _hold_after_reserve(api, path_regex, 1.0)
    first: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: first.append(send(api, headers)))
    sender.start()
    try:
        _wait_until_paused(api)
        duplicate = send(api, headers)
    finally:
        sender.join(timeout=10)
    assert_error(duplicate, 409, "IDEMPOTENCY_REQUEST_IN_PROGRESS", rid=False, rl=True, message=True)
    assert duplicate.headers["retry-after"] == "1"
    assert first[0].status_code in (200, 201, 202), first[0].text
    replay = send(api, headers)  # the first one completed: now a replay of its answer
    assert (replay.status_code, replay.json()) == (first[0].status_code, first[0].json())
    if route == "publish":
        assert len(api.admin("GET", "/job-runs").json()["runs"]) == 1
    elif route != "media":
        assert len(api.admin("GET", "/posts").json()["posts"]) == 1
