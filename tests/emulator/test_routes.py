"""Route-level conformance: GET/DELETE /posts, per-route base limits (§3.3), method handling and CORS (§11),
publish throttles (§7.4), seeded posts and deleted products."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import (
    RAW, C, KEY_NORTHWIND, KEY_ORBIT, KEY_READONLY, NORTHWIND, ORBIT, P, RL_HEADERS, SLOW_QUEUED, SLOW_RUNNING, Api, assert_error,
    demo_seed_dict, make_key, png,
)

POST_KEYS = 23


def test_list_posts_order_filters_and_cursor(api: Api, orbit: Api) -> None:
    ids = []
    for i in range(3):
        ids.append(api.create_ok({"channel": "threads", "caption": f"p{i}"})["id"])
        api.advance(0.002)  # distinct createdAt milliseconds: posts made in the same millisecond list in id (random) order
    orbit.create_ok({"channel": "threads", "caption": "other brand"})
    first = api.get(f"{P}/posts", params={"limit": 2})
    assert first.status_code == 200 and first.headers["x-ratelimit-limit"] == "30"
    body = first.json()
    assert list(body) == ["posts", "count", "nextCursor"] and body["count"] == 2
    assert [p["id"] for p in body["posts"]] == [ids[2], ids[1]] and len(body["posts"][0]) == POST_KEYS
    cursor = json.loads(base64.urlsafe_b64decode(body["nextCursor"] + "=" * (-len(body["nextCursor"]) % 4)))
    assert cursor == {"id": ids[1], "value": body["posts"][1]["createdAt"]} and "=" not in body["nextCursor"]
    rest = api.get(f"{P}/posts", params={"limit": 2, "cursor": body["nextCursor"]}).json()
    assert [p["id"] for p in rest["posts"]] == [ids[0]] and rest["nextCursor"] is None
    assert api.get(f"{P}/posts").json()["count"] == 3  # default 25, own brand only
    assert api.get(f"{P}/posts", params={"limit": 3}).json()["nextCursor"] is None  # exactly the rest: no cursor
    assert api.get(f"{P}/posts", params={"status": "published"}).json()["posts"] == []
    assert api.get(f"{P}/posts", params={"status": "", "productId": ""}).json()["count"] == 3  # empty = no filter
    assert api.get(f"{P}/posts", params={"productId": NORTHWIND}).json()["count"] == 3
    assert_error(api.get(f"{P}/posts", params={"productId": ORBIT}), 403, "FORBIDDEN", rid=True, rl=False)


@pytest.mark.parametrize(
    ("raw", "code"),
    [("abc", "invalid_type"), ("2.5", "invalid_type"), ("", "too_small"), ("0", "too_small"), ("101", "too_big")],
)
def test_list_posts_limit_validation(api: Api, raw: str, code: str) -> None:
    issues = assert_error(api.get(f"{P}/posts", params={"limit": raw}), 400, "VALIDATION_ERROR", rid=True, rl=False)["issues"]
    assert [(i["field"], i["code"]) for i in issues] == [("limit", code)]


@pytest.mark.parametrize("cursor", ["%%%", base64.urlsafe_b64encode(b'{"value":"x"}').decode(), base64.urlsafe_b64encode(b'{"id":""}').decode(), "bm90IGpzb24"])
def test_list_posts_invalid_cursor(api: Api, cursor: str) -> None:
    assert_error(api.get(f"{P}/posts", params={"cursor": cursor}), 400, "VALIDATION_INVALID_CURSOR", rid=True, rl=False)


def test_delete_post(slow_clients: Callable[[str | None], Api]) -> None:
    """On the slow server (10 s run phases), so the run is surely still running at the first DELETE."""
    api, orbit, readonly = (slow_clients(key) for key in (KEY_NORTHWIND, KEY_ORBIT, KEY_READONLY))
    api.fresh_rate_window()  # the remaining count below must not straddle a window boundary (60 s > the 20 s advanced)
    post = api.create_ok({"channel": "linkedin", "caption": "x"})
    assert_error(orbit.http.delete(f"{P}/posts/{post['id']}"), 404, "NOT_FOUND", rid=True, rl=False)
    assert_error(readonly.http.delete(f"{P}/posts/{post['id']}"), 403, "FORBIDDEN", rid=True, rl=False)
    run = api.publish(post["id"]).json()["run"]
    api.advance(SLOW_QUEUED + 0.01)
    assert api.post_of(post["id"])["status"] == "publishing"
    assert_error(api.http.delete(f"{P}/posts/{post['id']}"), 400, "VALIDATION_POST_IS_PUBLISHING", rid=True, rl=False)
    api.advance(SLOW_RUNNING)
    deleted = api.http.delete(f"{P}/posts/{post['id']}")  # published posts may be deleted
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True, "id": post["id"]}
    assert deleted.headers["x-ratelimit-remaining"] == "27"  # GET/DELETE /posts/:id share the per-id bucket
    assert_error(api.get(f"{P}/posts/{post['id']}"), 404, "NOT_FOUND", rid=True, rl=False)
    assert_error(api.get(f"{P}/job-runs/{run['id']}"), 404, "NOT_FOUND", rid=True, rl=False)


def test_queued_run_of_deleted_post_fails_post_not_found(slow_api: Api) -> None:
    """On the slow server: the run is surely still queued (the post still a draft) when the DELETE lands."""
    api = slow_api
    post = api.create_ok({"channel": "threads", "caption": "x"})
    run = api.publish(post["id"]).json()["run"]
    assert api.http.delete(f"{P}/posts/{post['id']}").status_code == 200
    api.advance(SLOW_QUEUED + 1)
    runs = {r["id"]: r for r in api.admin("GET", "/job-runs").json()["runs"]}
    assert (runs[run["id"]]["status"], runs[run["id"]]["message"]) == ("failed", "Post not found")


def _route_requests(api: Api) -> list[tuple[str, httpx.Response]]:
    asset = api.upload_ok("a.png", png(1, 1), "image/png")
    post = api.create_ok({"channel": "threads", "caption": "x"})
    run = api.publish(post["id"]).json()["run"]
    session = api.post(f"{P}/media/upload-sessions", json={"fileName": "a", "contentType": "image/png", "sizeBytes": 3}).json()["uploadSession"]
    RAW.put(session["uploadUrl"], content=b"abc", headers=session["uploadHeaders"])
    endpoint = api.post(f"{P}/webhook-endpoints", json={"url": "https://x.example", "events": ["post.failed"]}).json()["webhookEndpoint"]
    return [
        ("30", api.get(f"{P}/products")),
        ("30", api.get(f"{P}/products/{NORTHWIND}/destinations")),
        ("20", api.upload("b.png", png(1, 1), "image/png")),
        ("20", api.http.delete(f"{P}/media/{asset['id']}")),
        ("20", api.post(f"{P}/media/upload-sessions/{session['id']}/finalize")),
        ("30", api.get(f"{P}/posts")),
        ("30", api.get(f"{P}/posts/{post['id']}")),
        ("60", api.get(f"{P}/job-runs/{run['id']}")),
        ("20", api.get(f"{P}/webhook-endpoints")),
        ("20", api.http.delete(f"{P}/webhook-endpoints/{endpoint['id']}")),
        ("60", api.get(f"{C}/social-accounts")),
        ("60", api.get(f"{C}/products")),
        ("60", api.get(f"{C}/media")),
        ("60", api.post(f"{C}/media/create-upload-url", json={})),
        ("60", api.get(f"{C}/posts")),
    ]


def test_every_route_reports_its_base_limit(api: Api) -> None:
    for limit, response in _route_requests(api):
        assert response.status_code < 300, (response.request.url, response.text)
        assert response.headers["x-ratelimit-limit"] == limit, response.request.url
        assert all(h in response.headers for h in RL_HEADERS)


def test_plan_multiplier_scales_route_limits(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["workspace"]["plan"] = "business"
    api = Api(start_server(seed), KEY_NORTHWIND)
    try:
        assert api.get(f"{P}/products").headers["x-ratelimit-limit"] == "150"
        assert api.get(f"{C}/products").headers["x-ratelimit-limit"] == "300"
    finally:
        api.close()


def test_method_handling(server: EmulatorServer, api: Api) -> None:
    for method, path in (("PUT", f"{P}/posts"), ("GET", f"{P}/posts/x/publish"), ("PATCH", f"{P}/posts/x"), ("DELETE", f"{P}/media/upload-sessions"), ("GET", f"{P}/media"), ("DELETE", f"{C}/posts")):
        response = api.http.request(method, path)
        assert response.status_code == 405, (method, path)
        assert not response.headers["content-type"].startswith("application/json")
    for path in (f"{P}/unknown", f"{C}/unknown", "/api/public/v2/posts"):
        missing = RAW.get(f"{server.url}{path}")
        assert missing.status_code == 404 and not missing.headers["content-type"].startswith("application/json")
    preflight = RAW.options(f"{server.url}{P}/anything/at/all", headers={"Origin": "https://evil.example"})
    assert preflight.status_code == 204 and "access-control-allow-origin" not in preflight.headers


def test_cors_allow_list(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["cors_origins"] = ["https://app.example"]
    server = start_server(seed)
    auth = {"Authorization": f"Bearer {KEY_NORTHWIND}"}
    preflight = RAW.options(f"{server.url}{P}/posts", headers={"Origin": "https://app.example"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.headers["access-control-allow-headers"] == "Authorization,Content-Type,Idempotency-Key"
    allowed = RAW.get(f"{server.url}{P}/products", headers={**auth, "Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example" and allowed.headers["vary"] == "Origin"
    assert "access-control-expose-headers" not in allowed.headers
    assert "access-control-allow-origin" not in RAW.get(f"{server.url}{P}/products", headers={**auth, "Origin": "https://x.example"}).headers
    assert "access-control-allow-origin" not in RAW.get(f"{server.url}{C}/products", headers={**auth, "Origin": "https://app.example"}).headers


def test_seeded_posts_and_deleted_product(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    ws = seed["workspace"]["id"]
    seed["products"].append({"id": "GoneProduct000000000", "name": "Gone", "deleted": True})
    seed["api_keys"].append({"key": make_key(ws, 1), "product_id": "GoneProduct000000000"})
    seed["posts"] = [
        {"id": "SeededArchived000001", "product_id": NORTHWIND, "channel": "threads", "status": "archived", "created_at": "2026-01-01T00:00:00Z"},
        {"id": "SeededScheduled00001", "product_id": NORTHWIND, "channel": "linkedin", "status": "scheduled",
         "destination_id": "linkedin:linkedin:2414183", "delivery_mode": "direct_publish", "scheduled_at": "2026-01-02T00:00:00Z", "caption": "x"},
        {"id": "SeededNoAccount00001", "product_id": NORTHWIND, "channel": "threads", "status": "draft", "delivery_mode": "direct_publish"},
    ]
    server = start_server(seed)
    api, gone = Api(server, KEY_NORTHWIND), Api(server, make_key(ws, 1))
    try:
        assert api.get(f"{P}/posts", params={"status": "archived"}).json()["posts"][0]["id"] == "SeededArchived000001"
        assert_error(api.publish("SeededArchived000001"), 400, "VALIDATION_POST_NOT_PUBLISHABLE", rid=False, rl=True)
        run = api.publish("SeededNoAccount00001").json()["run"]
        api.advance(1)
        assert api.post_of("SeededScheduled00001")["status"] == "published"  # past due: the scheduler published it
        assert (api.run(run["id"])["status"], api.run(run["id"])["message"]) == ("failed", "No connected platform account")
        assert gone.get(f"{P}/products").json() == {"products": [], "count": 0}
        assert_error(gone.get(f"{P}/products/GoneProduct000000000/destinations"), 404, "NOT_FOUND", rid=True, rl=False)
        assert_error(gone.create({"channel": "threads", "caption": "x"}), 404, "NOT_FOUND", rid=True, rl=False)
        assert gone.get(f"{C}/social-accounts").json() == {"data": []} and gone.get(f"{C}/products").json() == {"data": []}
    finally:
        api.close()
        gone.close()


def test_publish_throttle_defers_runs(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    # an hour-long window, so a window boundary cannot fall between the claims
    seed["publish_throttles"] = {"limits": {"threads": 2, "instagram": 1}, "destination_lock": False, "window_seconds": 3600}
    api = Api(start_server(seed), KEY_NORTHWIND)
    try:
        threads = [api.create_ok({"channel": "threads", "caption": f"t{i}"})["id"] for i in range(3)]
        image = api.upload_ok("a.png", png(1, 1), "image/png")["id"]
        manual = [api.create_ok({"channel": "instagram", "mediaAssetIds": [image]})["id"] for _ in range(2)]
        runs = [api.publish(post_id).json()["run"]["id"] for post_id in threads + manual]
        api.advance(0.6)
        states = [(api.run(r)["status"], api.run(r)["message"]) for r in runs]
        assert states[:2] == [("succeeded", "Post published")] * 2
        assert states[2] == ("queued", "Publish deferred due to platform rate limit")
        assert states[3:] == [("succeeded", "Post is ready for manual posting")] * 2  # manual reminders skip throttles
        assert api.post_of(threads[2])["status"] == "draft"
        api.advance(3601)
        assert api.run(runs[2])["status"] == "succeeded"
    finally:
        api.close()


def test_busy_destination_defers_runs(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    # Long phases, so real time between requests cannot end the first run or the second one's wait
    # before they are observed: running 30 s, busy retry 60 s.
    seed["publish_throttles"] = {"busy_retry_seconds": 60}
    seed["clock"]["run_running_seconds"] = 30  # the first run is surely still running at the second claim
    api = Api(start_server(seed), KEY_NORTHWIND)
    try:
        posts = [api.create_ok({"channel": "linkedin", "caption": f"l{i}"})["id"] for i in range(2)]
        runs = [api.publish(post_id).json()["run"]["id"] for post_id in posts]
        api.advance(0.25)
        assert api.run(runs[0])["status"] == "running"
        assert (api.run(runs[1])["status"], api.run(runs[1])["message"]) == ("queued", "Publish deferred because destination is busy")
        api.advance(100)  # first done at 30.2 s; second retried at 60.2 s, done at 90.2 s
        assert [api.run(r)["status"] for r in runs] == ["succeeded", "succeeded"]
    finally:
        api.close()
