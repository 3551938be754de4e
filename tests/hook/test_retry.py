"""Retry policy against injected faults, plus Retry-After parsing and its ceiling."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro.exceptions import (
    MarkaestroAPIError,
    MarkaestroConflict,
    MarkaestroRateLimited,
    MarkaestroTransportError,
)
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.transport import (
    RateLimitPacer,
    RequestSpec,
    RetryPolicy,
    SyncTransport,
    parse_retry_after,
)

from .conftest import emulator_posts, inject, requests_log


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Keep exponential backoff in the tests, but in milliseconds."""
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.01 * attempt)


def test_503_before_commit_is_retried_on_a_get(hook, markaestro):
    inject(markaestro, method="GET", path_regex="/products$", action="error_before_commit", status=503, count=2)
    assert hook.list_products()
    statuses = [r["status"] for r in requests_log(markaestro) if r["path"] == "/api/public/v1/products"]
    assert statuses == [503, 503, 200]


def test_error_after_commit_on_an_idempotent_post_replays_the_same_post(hook, markaestro):
    inject(markaestro, method="POST", path_regex="/posts$", action="error_after_commit", status=502)
    post = hook.create_post(api.post_body("threads", "exactly once"), idempotency_key="retry-after-commit")
    assert [p["id"] for p in emulator_posts(markaestro)] == [post.id]
    posts = [r for r in requests_log(markaestro) if r["path"] == "/api/public/v1/posts"]
    assert [r["status"] for r in posts] == [502, 201] and all(r["idempotencyKey"] for r in posts)


def test_publish_after_dropped_connection_is_retried_with_its_key(hook, markaestro):
    post = hook.create_post(api.post_body("threads", "publish once"))
    inject(markaestro, method="POST", path_regex="/publish$", action="drop_after_commit")
    run = hook.publish_post(post.id, idempotency_key="retry-publish-drop")
    runs = httpx.get(f"{markaestro.url}/_emulator/job-runs").json()["runs"]
    assert [r["id"] for r in runs] == [run.id]


def test_drop_after_commit_without_a_key_is_not_retried(hook, markaestro):
    inject(markaestro, method="POST", path_regex="/posts$", action="drop_after_commit")
    with pytest.raises(MarkaestroTransportError) as exc:
        hook.create_post(api.post_body("threads", "maybe created"))
    assert "1 attempt" in str(exc.value) and "not retried" in str(exc.value)
    assert len([r for r in requests_log(markaestro) if r["path"] == "/api/public/v1/posts"]) == 1
    assert len(emulator_posts(markaestro)) == 1  # it was created: a blind resend would have made two


def test_5xx_on_a_post_without_a_key_is_not_retried(hook, markaestro):
    inject(markaestro, method="POST", path_regex="/posts$", action="error_before_commit", status=503)
    with pytest.raises(MarkaestroAPIError) as exc:
        hook.create_post(api.post_body("threads", "no key"))
    assert exc.value.status_code == 503
    assert len([r for r in requests_log(markaestro) if r["path"] == "/api/public/v1/posts"]) == 1


def test_finalize_is_retried_without_a_key(hook, markaestro, tmp_path):
    image = tmp_path / "a.gif"
    image.write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    session = hook.create_upload_session(image.name, "image/gif", image.stat().st_size)
    hook.put_upload_session(session, image)
    inject(markaestro, method="POST", path_regex="/finalize$", action="drop_after_commit")
    asset = hook.finalize_upload_session(session.id)  # 1st committed but lost; 2nd answers 200
    assert asset.id == session.id
    statuses = [r["status"] for r in requests_log(markaestro) if r["path"].endswith("/finalize")]
    assert statuses == [None, 200]


def test_signed_put_is_retried_after_a_lost_answer(hook, markaestro, tmp_path):
    image = tmp_path / "b.gif"
    image.write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    session = hook.create_upload_session(image.name, "image/gif", image.stat().st_size)
    inject(markaestro, method="PUT", path_regex="^/storage/", action="drop_after_commit")
    hook.put_upload_session(session, image)  # re-usable until expiry: a second PUT overwrites
    assert hook.finalize_upload_session(session.id).size_bytes == image.stat().st_size
    assert [r["status"] for r in requests_log(markaestro) if r["method"] == "PUT"] == [None, 200]


def test_idempotency_in_progress_waits_and_resends_the_identical_request(markaestro):
    body = api.post_body("tiktok", "no media: fails after the key is reserved")
    with MarkaestroHook(max_retries=2) as hook:
        with pytest.raises(MarkaestroAPIError) as first:
            hook.create_post(body, idempotency_key="retry-in-progress", check=False)
        assert first.value.error_code == "VALIDATION_TIKTOK_REQUIRES_MEDIA"
        started = time.monotonic()
        with pytest.raises(MarkaestroConflict) as second:
            hook.create_post(body, idempotency_key="retry-in-progress", check=False)
        waited = time.monotonic() - started
    assert second.value.error_code == "IDEMPOTENCY_REQUEST_IN_PROGRESS" and second.value.retry_after == 1
    assert 0.9 <= waited < 10  # Retry-After: 1 honoured once, then the budget (2 attempts) ran out
    statuses = [r["status"] for r in requests_log(markaestro) if r["path"] == "/api/public/v1/posts"]
    assert statuses == [400, 409, 409]


def test_connect_upload_after_a_lost_put_accepts_already_used(hook, markaestro, caplog):
    from .test_routes import IMAGE

    inject(markaestro, method="PUT", path_regex="/api/connect/v1/media/upload$", action="drop_after_commit")
    media_id = hook.connect_upload_image(IMAGE)
    puts = [r for r in requests_log(markaestro) if r["path"] == "/api/connect/v1/media/upload"]
    assert [r["status"] for r in puts] == [None, 400]  # consumed by the lost attempt
    assert "consumed by the attempt whose answer was lost" in caplog.text
    accounts = hook.connect_list_social_accounts()
    threads = next(a.id for a in accounts if a.platform == "threads")
    assert hook.connect_create_post("uses the media", [threads], [media_id]).created  # it really exists


def test_connect_upload_already_used_on_a_first_attempt_is_an_error(hook, markaestro):
    from .test_routes import IMAGE

    grant = hook.connect_create_upload_url("image/jpeg", IMAGE.stat().st_size)
    hook.connect_put_upload(grant, IMAGE)
    with pytest.raises(MarkaestroAPIError) as exc:
        hook.connect_put_upload(grant, IMAGE)
    assert exc.value.error_code == "VALIDATION_UPLOAD_URL_ALREADY_USED"


def test_connect_create_post_is_never_resent(hook, markaestro):
    accounts = hook.connect_list_social_accounts()
    threads = next(a.id for a in accounts if a.platform == "threads")
    inject(markaestro, method="POST", path_regex="/api/connect/v1/posts$", action="error_after_commit", status=502)
    with pytest.raises(MarkaestroAPIError):
        hook.connect_create_post("once", [threads])
    assert len([r for r in requests_log(markaestro) if r["path"] == "/api/connect/v1/posts"]) == 1


# --- Retry-After parsing and ceiling (unit level) ----------------------------------------------


def test_retry_after_accepts_seconds_and_http_dates():
    now = time.time()
    assert parse_retry_after("17") == 17
    assert parse_retry_after(" 0 ") == 0
    assert parse_retry_after("") is None and parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(now + 30, usegmt=True)  # IMF-fixdate
    assert 28 <= parse_retry_after(date, now) <= 30
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == 0  # in the past: go now
    assert 29 <= parse_retry_after(email.utils.formatdate(now + 30, usegmt=False), now) <= 30  # numeric zone


def test_retry_after_is_capped_at_the_policy_ceiling():
    policy = RetryPolicy(max_wait=5)
    assert policy.retry_after(httpx.Response(429, headers={"Retry-After": "3600"})) == 5
    far = email.utils.formatdate(time.time() + 86400, usegmt=True)
    assert policy.retry_after(httpx.Response(429, headers={"Retry-After": far})) == 5
    assert RetryPolicy().max_wait == 120


def test_a_huge_retry_after_waits_only_the_ceiling_then_gives_up():
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return httpx.Response(429, headers={"Retry-After": "3600"}, json={"error": "RATE_LIMITED", "retryAfter": 3600})

    transport = SyncTransport(
        "http://mk.test", "mk_live_x.cli_y.z",
        policy=RetryPolicy(max_attempts=3, max_wait=0.05),
        pacer=RateLimitPacer(enabled=False),
        http_transport=httpx.MockTransport(handler),
    )
    started = time.monotonic()
    with pytest.raises(MarkaestroRateLimited) as exc:
        transport.send(RequestSpec("GET", "/products"))
    transport.close()
    assert len(sent) == 3 and time.monotonic() - started < 5  # waits capped at max_wait (0.05 s), never the 3600 s asked
    assert exc.value.retry_after == 3600  # the server's ask stays visible to the caller


def test_https_to_a_plain_http_server_fails_at_once_and_says_http(markaestro, demo_seed, set_conn, monkeypatch):
    """A scheme-less host means https; against a plain-HTTP server that can never succeed."""
    set_conn("no_scheme", markaestro.url.removeprefix("http://"), demo_seed.api_keys[0].key)
    attempts = []
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: attempts.append(attempt) or 0.01)
    with MarkaestroHook("no_scheme") as hook, pytest.raises(MarkaestroTransportError, match="write http://") as err:
        hook.list_products()
    assert attempts == []  # not retried
    assert "1 attempt" in str(err.value)


def test_forbidden_says_which_setting_to_check(markaestro, demo_seed, set_conn):
    readonly = next(k for k in demo_seed.api_keys if k.scopes and "posts.write" not in k.scopes)
    set_conn("readonly", markaestro.url, readonly.key)
    with MarkaestroHook("readonly") as hook, pytest.raises(MarkaestroAPIError, match="lacks the scope") as err:
        hook.create_post(api.post_body("threads", "no scope"))
    assert err.value.status_code == 403


def test_5xx_after_the_key_was_reserved_ends_in_a_typed_conflict_without_a_duplicate(markaestro):
    """§5: the operation threw after the reservation, so every identical resend sees 409 IN_PROGRESS
    for up to 10 min. The hook resends with the same key (5xx with a key is retry-safe), waits
    Retry-After: 1 per 409, and gives up when the attempt budget is spent: bounded, typed, no second post."""
    inject(markaestro, method="POST", path_regex="/posts$", action="error_after_reserve", status=502)
    with MarkaestroHook(max_retries=3) as hook:
        started = time.monotonic()
        with pytest.raises(MarkaestroConflict) as exc:
            hook.create_post(api.post_body("threads", "thrown after reserve"), idempotency_key="retry-after-reserve")
        waited = time.monotonic() - started
    assert exc.value.status_code == 409 and exc.value.error_code == "IDEMPOTENCY_REQUEST_IN_PROGRESS"
    assert exc.value.retry_after == 1
    assert 0.9 <= waited < 10  # one Retry-After wait between the two 409s, no hang on the 10-minute lease
    posts = [r for r in requests_log(markaestro) if r["path"] == "/api/public/v1/posts"]
    assert [r["status"] for r in posts] == [502, 409, 409] and all(r["idempotencyKey"] for r in posts)
    assert emulator_posts(markaestro) == []  # nothing was created, and nothing twice
