"""§7.6 webhook endpoints and §9 signed deliveries with retries, observed by a local receiver thread."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_markaestro.emulator import EmulatorServer
from airflow_provider_markaestro.emulator.webhooks import sign

from .support import KEY_NORTHWIND, P, Api, Receiver, assert_error, demo_seed_dict, png, wait_deliveries

ENDPOINTS = f"{P}/webhook-endpoints"
ALL_EVENTS = ["post.publish.queued", "post.published", "post.action_required", "post.failed"]


def _ms(value: str) -> int:
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _register(api: Api, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = api.post(ENDPOINTS, json={"url": url, "events": events or ALL_EVENTS})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()["webhookEndpoint"]
    return endpoint


def _verify(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    expected = hmac.new(secret.encode(), headers["x-markaestro-timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["x-markaestro-signature"] == expected
    assert headers["content-type"] == "application/json"
    envelope: dict[str, Any] = json.loads(body)
    assert headers["x-markaestro-event"] == envelope["type"]
    return envelope


def test_signature_matches_the_contract_vector() -> None:
    body = (
        b'{"id":"evt_0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f","type":"post.published","createdAt":"2026-08-21T15:02:11.482Z",'
        b'"workspaceId":"Xq3LmN8pR2tV6wYz1aBc","data":{"postId":"9fJ2kL7qW3xR8tY5uP1m","channel":"linkedin","status":"published",'
        b'"externalId":"urn:li:share:7234567890123456789","externalUrl":"https://www.linkedin.com/feed/update/urn:li:share:7234567890123456789"}}'
    )
    signature = sign("whsec_J3q9Xv2LpR8tWm5Kz1Ny7Bc4Hd6Fg0Sa", "2026-08-21T15:02:13.907Z", body)
    assert signature == "e8988a09263f7af6c9e148bcbe10f9c6f4fe04114c34d4c33f9af784ad03d134"


def test_create_list_disable(api: Api, orbit: Api) -> None:
    api.fresh_rate_window()
    created = api.post(ENDPOINTS, json={"url": " https://hooks.example.com/m ", "events": ["post.published", "post.published"]})
    assert created.status_code == 201 and created.headers["x-ratelimit-limit"] == "20"
    endpoint = created.json()["webhookEndpoint"]
    assert list(endpoint) == ["id", "url", "events", "status", "secret", "createdAt"]
    assert re.fullmatch(r"[A-Za-z0-9]{20}", endpoint["id"]) and re.fullmatch(r"whsec_[A-Za-z0-9_-]{32}", endpoint["secret"])
    assert (endpoint["url"], endpoint["events"], endpoint["status"]) == ("https://hooks.example.com/m", ["post.published"] * 2, "active")
    ftp = _register(orbit, "ftp://files.example.com/x", ["post.failed"])  # any scheme; workspace-wide list
    listed = api.get(ENDPOINTS)
    assert listed.status_code == 200 and listed.headers["x-ratelimit-remaining"] == "18"  # GET and POST share a bucket
    items = listed.json()["webhookEndpoints"]
    assert [i["id"] for i in items] == sorted([endpoint["id"], ftp["id"]])
    assert all(list(i) == ["id", "url", "events", "status", "createdAt", "updatedAt"] for i in items)
    assert "secret" not in json.dumps(listed.json())

    deleted = orbit.http.delete(f"{ENDPOINTS}/{endpoint['id']}")  # any key may disable any endpoint
    assert deleted.status_code == 204 and deleted.content == b"" and deleted.headers["x-ratelimit-limit"] == "20"
    assert orbit.http.delete(f"{ENDPOINTS}/{endpoint['id']}").status_code == 204  # already disabled: still fine
    assert {i["id"]: i["status"] for i in api.get(ENDPOINTS).json()["webhookEndpoints"]}[endpoint["id"]] == "disabled"
    assert_error(api.http.delete(f"{ENDPOINTS}/nope"), 404, "NOT_FOUND", rid=True, rl=False)


@pytest.mark.parametrize(
    ("body", "issues"),
    [
        ({"url": "not a url", "events": ["post.failed"]}, [("url", "invalid_format")]),
        ({"url": "https://x.example/" + "a" * 2000, "events": ["post.failed"]}, [("url", "too_big")]),
        ({"url": "https://x.example", "events": []}, [("events", "too_small")]),
        ({"url": "https://x.example", "events": ALL_EVENTS + ["post.failed"]}, [("events", "too_big")]),
        ({"url": "https://x.example", "events": ["post.deleted"]}, [("events.0", "invalid_value")]),
        ({"events": "post.failed"}, [("url", "invalid_type"), ("events", "invalid_type")]),
    ],
)
def test_create_validation(api: Api, body: dict[str, Any], issues: list[tuple[str, str]]) -> None:
    found = assert_error(api.post(ENDPOINTS, json=body), 400, "VALIDATION_ERROR", rid=True, rl=False)["issues"]
    assert [(i["field"], i["code"]) for i in found] == issues


def test_scope_required(readonly: Api) -> None:
    assert_error(readonly.get(ENDPOINTS), 403, "FORBIDDEN", rid=True, rl=False)


def test_active_endpoint_cap(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["webhooks"] = {"max_active_endpoints": 2, "endpoints": [{"url": "https://seeded.example/h", "events": ["post.failed"]}]}
    api = Api(start_server(seed), KEY_NORTHWIND)
    try:
        second = _register(api, "https://x.example/2")
        assert_error(api.post(ENDPOINTS, json={"url": "https://x.example/3", "events": ["post.failed"]}), 409, "WEBHOOK_ENDPOINT_LIMIT_REACHED", rid=True, rl=False)
        api.http.delete(f"{ENDPOINTS}/{second['id']}")
        assert _register(api, "https://x.example/4")["status"] == "active"  # disabled ones do not count
    finally:
        api.close()


def test_default_cap_is_25_active_endpoints(api: Api) -> None:
    """§7.6 with the seed left at its default (MAX_WEBHOOK_ENDPOINTS_PER_WORKSPACE = 25): the 26th active
    endpoint is refused with the mapped 409 body. The route allows 20/min, so the clock skips windows."""
    assert "webhooks" not in demo_seed_dict()  # the demo seed relies on the default
    for n in range(25):
        response = api.post(ENDPOINTS, json={"url": f"https://x.example/{n}", "events": ["post.failed"]})
        assert response.status_code == 201, (n, response.text)
        if response.headers["x-ratelimit-remaining"] == "0":
            api.advance(60)
    refused = api.post(ENDPOINTS, json={"url": "https://x.example/26", "events": ["post.failed"]})
    assert_error(refused, 409, "WEBHOOK_ENDPOINT_LIMIT_REACHED", rid=True, rl=False)
    listed = api.get(ENDPOINTS).json()["webhookEndpoints"]
    assert len(listed) == 25 and all(e["status"] == "active" for e in listed)
    assert api.http.delete(f"{ENDPOINTS}/{listed[0]['id']}").status_code == 204
    assert _register(api, "https://x.example/26")["status"] == "active"  # a disabled endpoint frees a slot


def test_publish_events_are_signed_and_delivered(api: Api, receiver: Receiver) -> None:
    endpoint = _register(api, receiver.url)
    other = _register(api, receiver.url, ["post.failed"])  # not subscribed to these events
    post = api.create_ok({"channel": "linkedin", "caption": "hello"})
    run = api.publish(post["id"]).json()["run"]
    api.advance(1)
    hooks = receiver.wait_for(2)
    envelopes = [_verify(endpoint["secret"], headers, body) for headers, body in hooks]
    queued, published = sorted(envelopes, key=lambda e: ALL_EVENTS.index(e["type"]))
    assert list(queued) == ["id", "type", "createdAt", "workspaceId", "data"] and queued["id"].startswith("evt_")
    assert queued["data"] == {"postId": post["id"], "channel": "linkedin", "status": "draft", "runId": run["id"]}
    live = api.post_of(post["id"])
    assert published["data"] == {
        "postId": post["id"], "channel": "linkedin", "status": "published", "externalId": live["externalId"], "externalUrl": live["externalUrl"],
    }
    deliveries = wait_deliveries(api, lambda ds: len(ds) == 2 and all(d["status"] == "succeeded" for d in ds))
    assert {(d["type"], d["status"], d["attempts"][0]["responseCode"]) for d in deliveries} == {
        ("post.publish.queued", "succeeded", 200), ("post.published", "succeeded", 200),
    }
    assert endpoint["secret"] not in json.dumps(deliveries) and other["secret"] not in json.dumps(deliveries)


def test_manual_failed_and_tiktok_events(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    destinations = {d["provider"]: d for d in seed["products"][0]["destinations"]}
    destinations["threads"]["behaviour"] = {"fail_reason": "Threads API error"}
    server = start_server(seed)
    api, receiver = Api(server, KEY_NORTHWIND), Receiver()
    try:
        endpoint = _register(api, receiver.url, ["post.action_required", "post.failed", "post.published"])
        image = api.upload_ok("a.png", png(1, 1), "image/png")["id"]
        manual = api.create_ok({"channel": "instagram", "mediaAssetIds": [image]})
        failing = api.create_ok({"channel": "threads", "caption": "x"})
        inbox = api.create_ok({"channel": "tiktok", "mediaAssetIds": [image], "deliveryMode": "platform_inbox"})
        for post in (manual, failing, inbox):
            assert api.publish(post["id"]).status_code == 202
        api.advance(2)
        api.admin("POST", f"/posts/{manual['id']}/mark-posted", json={"externalUrl": "https://www.instagram.com/p/Cx1/"})
        data = {}
        for headers, body in receiver.wait_for(4):
            envelope = _verify(endpoint["secret"], headers, body)
            data[(envelope["type"], envelope["data"]["postId"])] = envelope["data"]
        assert data[("post.action_required", manual["id"])] == {
            "postId": manual["id"], "channel": "instagram", "status": "platform_action_required", "nextAction": "post_manually_from_reminder",
        }
        assert data[("post.failed", failing["id"])] == {"postId": failing["id"], "channel": "threads", "status": "failed", "error": "Threads API error"}
        tiktok = data[("post.action_required", inbox["id"])]
        assert list(tiktok) == ["postId", "channel", "status", "externalId", "externalUrl", "nextAction"]
        assert tiktok["nextAction"] == "open_tiktok_inbox_and_complete_posting" and tiktok["externalId"].startswith("v_inbox_file~")
        assert data[("post.published", manual["id"])]["publishedVia"] == "manual"
    finally:
        receiver.close()
        api.close()


def test_retries_follow_the_schedule_then_give_up(start_server: Callable[..., EmulatorServer]) -> None:
    # Retry delays become 30 s, 150 s, 450 s, 1800 s: crossed with the admin clock. (Not smaller: the
    # "not before its time" check below needs `margin` of slack, and the ticker's send timeout scales too.)
    scale = 0.5
    margin = 10.0  # emulator seconds before a retry is due at which nothing may have been sent yet
    server = start_server(demo_seed_dict(), scale=scale)
    api, receiver = Api(server, KEY_NORTHWIND), Receiver([500, 503, 404, 500, 500])
    try:
        endpoint = _register(api, receiver.url, ["post.publish.queued"])
        post = api.create_ok({"channel": "threads", "caption": "x"})
        api.publish(post["id"])
        receiver.wait_for(1)
        for attempt, delay in enumerate((60, 300, 900, 3600), start=2):
            delivery = wait_deliveries(api, lambda ds, n=attempt - 1: ds[0]["attemptCount"] == n)[0]
            assert delivery["status"] == "pending" and delivery["nextAttemptAt"] is not None
            due_ms = _ms(delivery["nextAttemptAt"])
            assert abs(due_ms - _ms(delivery["attempts"][-1]["attemptedAt"]) - delay * scale * 1000) <= 1  # ms-floored stamps
            # Advance to `margin` before it is due, measured from the emulator's now (not from the last
            # attempt, which real time has already left behind by an unknown amount).
            api.advance(max(0.0, (due_ms - _ms(api.health()["now"])) / 1000 - margin))
            time.sleep(0.1)  # a couple of ticks
            assert len(receiver.requests) == attempt - 1  # not before its time
            api.advance(margin + 0.1)
            receiver.wait_for(attempt)
        delivery = wait_deliveries(api, lambda ds: ds[0]["status"] == "failed")[0]
        assert delivery["nextAttemptAt"] is None
        assert [a["responseCode"] for a in delivery["attempts"]] == [500, 503, 404, 500, 500]
        bodies = {body for _, body in receiver.requests}
        stamps = [headers["x-markaestro-timestamp"] for headers, _ in receiver.requests]
        assert len(bodies) == 1 and len(set(stamps)) == 5  # same event body, fresh timestamp and signature per attempt
        for headers, body in receiver.requests:
            _verify(endpoint["secret"], headers, body)
    finally:
        receiver.close()
        api.close()


def test_disabled_endpoint_is_not_sent_to(api: Api) -> None:
    dead = Receiver([500])
    try:
        endpoint = _register(api, dead.url, ["post.publish.queued"])
        post = api.create_ok({"channel": "threads", "caption": "x"})
        api.publish(post["id"])
        wait_deliveries(api, lambda ds: ds[0]["status"] == "pending" and ds[0]["attemptCount"] == 1)
        api.http.delete(f"{ENDPOINTS}/{endpoint['id']}")
        api.advance(61)
        delivery = wait_deliveries(api, lambda ds: ds[0]["status"] == "failed")[0]
        assert delivery["attemptCount"] == 1 and len(dead.requests) == 1
    finally:
        dead.close()


def test_ticker_stops_with_the_server() -> None:
    server = EmulatorServer(demo_seed_dict()).start()
    ticker = server._ticker
    assert ticker is not None and ticker._thread.is_alive()
    server.stop()
    assert not ticker._thread.is_alive()
