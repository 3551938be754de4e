"""§10 Connect: accounts/products/media listings, token uploads, fan-out create, flat listing, scheduling."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from email.utils import format_datetime
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import RAW, C, KEY_NORTHWIND, NORTHWIND, ORBIT, P, RL_HEADERS, Api, Receiver, assert_error, demo_seed_dict, png

IG = f"{NORTHWIND}#instagram:instagram:17841400000000000"
LI = f"{NORTHWIND}#linkedin:linkedin:2414183"
FB = f"{NORTHWIND}#meta:facebook:104938271234567"
TT = f"{NORTHWIND}#tiktok:tiktok:-000aQz3kTT9openid"
ACCOUNT_KEYS = ["id", "product_id", "product", "platform", "username"]


def _image(api: Api) -> str:
    asset_id: str = api.upload_ok("a.png", png(2, 2), "image/png")["id"]
    return asset_id


def test_social_accounts(api: Api) -> None:
    response = api.get(f"{C}/social-accounts")
    assert response.status_code == 200 and all(h in response.headers for h in RL_HEADERS)
    assert response.headers["x-ratelimit-limit"] == "60"
    data = response.json()["data"]
    assert [a["id"] for a in data] == [FB, IG, TT, f"{NORTHWIND}#threads:threads:25123456789012345", LI]
    assert all(list(a) == ACCOUNT_KEYS for a in data)
    assert data[1] == {"id": IG, "product_id": NORTHWIND, "product": "Northwind Coffee", "platform": "instagram", "username": "northwindcoffee"}
    assert data[4]["username"] == "Northwind Coffee Co."  # no username: falls back to displayName


def test_products_and_media(api: Api, orbit: Api) -> None:
    body = orbit.get(f"{C}/products").json()
    assert list(body) == ["data"] and len(body["data"]) == 1
    product = body["data"][0]
    assert list(product) == ["id", "name", "channels", "accounts"] and product["id"] == ORBIT
    assert product["channels"] == ["facebook", "instagram", "threads", "linkedin"] and len(product["accounts"]) == 5
    media = api.get(f"{C}/media")
    assert media.status_code == 200 and media.json() == {"data": []}


def test_connect_scopes(readonly: Api, clients: Callable[[str | None], Api]) -> None:
    assert readonly.get(f"{C}/social-accounts").status_code == 200  # posts.read
    assert_error(readonly.post(f"{C}/media/create-upload-url", json={}), 403, "FORBIDDEN", rid=True, rl=False)
    assert_error(readonly.post(f"{C}/posts", json={}), 403, "FORBIDDEN", rid=True, rl=False)
    assert_error(clients(None).get(f"{C}/products"), 401, "UNAUTHENTICATED", rid=True, rl=False)


def test_create_upload_url_token_and_single_use_put(api: Api, server: EmulatorServer) -> None:
    response = api.post(f"{C}/media/create-upload-url", json={"mime_type": "image/png", "size_bytes": 70.9, "name": "x.png"})
    assert response.status_code == 200 and response.headers["x-ratelimit-limit"] == "60"
    body = response.json()
    assert list(body) == ["media_id", "upload_url"] and body["media_id"].startswith("ast_")
    assert body["upload_url"].startswith(f"{server.url}{C}/media/upload?token=")
    token = body["upload_url"].split("token=")[1]
    head = token.split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    assert list(payload) == ["v", "ws", "assetId", "mime", "clientId", "exp"]
    assert (payload["v"], payload["assetId"], payload["mime"]) == (2, body["media_id"], "image/png")
    assert payload["clientId"] == KEY_NORTHWIND.split(".")[1]

    data = png(3, 3)
    put = RAW.put(body["upload_url"], content=data, headers={"Content-Type": "image/png; charset=binary"})
    assert put.status_code == 200 and not any(h in put.headers for h in RL_HEADERS)
    uploaded = put.json()
    assert list(uploaded) == ["media_id", "url"] and uploaded["media_id"] == body["media_id"]
    assert RAW.get(uploaded["url"]).content == data
    assert_error(RAW.put(body["upload_url"], content=data), 400, "VALIDATION_UPLOAD_URL_ALREADY_USED", rid=True, rl=False)
    # the id is an ordinary asset: usable on the Public surface too
    assert api.create_ok({"channel": "instagram", "mediaAssetIds": [body["media_id"]]})["mediaUrls"] == [uploaded["url"]]


def test_create_upload_url_defaults_and_origin(api: Api) -> None:
    response = api.post(f"{C}/media/create-upload-url", content=b"{not json", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "markaestro.test"})
    assert response.status_code == 200
    url = response.json()["upload_url"]
    assert url.startswith("https://markaestro.test/api/connect/v1/media/upload?token=")
    head = url.split("token=")[1].split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["mime"] == "image/png"


def _upload_url(api: Api, mime: str = "image/png", **extra: Any) -> str:
    url: str = api.post(f"{C}/media/create-upload-url", json={"mime_type": mime, **extra}).json()["upload_url"]
    return url


@pytest.mark.parametrize(
    ("mime", "headers", "content", "code"),
    [
        ("image/png", {"Content-Type": "image/jpeg"}, b"x", "VALIDATION_UPLOAD_CONTENT_TYPE_MISMATCH"),
        ("image/png", {"Content-Type": "video/mp4"}, b"x", "VALIDATION_INVALID_FILE_TYPE"),
        ("video/mp4", {}, b"x", "VALIDATION_INVALID_FILE_TYPE"),  # no video on Connect
        ("image/png", {"Content-Type": "image/png"}, b"", "VALIDATION_NO_FILE_PROVIDED"),
        ("image/png", {"Content-Type": "image/png"}, b"x" * (10 * 1024 * 1024 + 1), "VALIDATION_FILE_TOO_LARGE_10MB"),
    ],
)
def test_put_rejections_do_not_consume_the_url(api: Api, mime: str, headers: dict[str, str], content: bytes, code: str) -> None:
    url = _upload_url(api, mime)
    assert_error(RAW.put(url, content=content, headers=headers), 400, code, rid=True, rl=False)
    if mime == "image/png":
        assert RAW.put(url, content=png(1, 1), headers={"Content-Type": "image/png"}).status_code == 200


def test_put_token_problems_are_401(api: Api, server: EmulatorServer) -> None:
    url = _upload_url(api)
    head, mac = url.split("token=")[1].split(".")
    for bad in (f"{server.url}{C}/media/upload", f"{server.url}{C}/media/upload?token={head}.{mac[:-2]}AA", f"{server.url}{C}/media/upload?token=garbage"):
        assert_error(RAW.put(bad, content=b"x"), 401, "UNAUTHENTICATED", rid=True, rl=False)
    api.advance(901)
    assert_error(RAW.put(url, content=png(1, 1)), 401, "UNAUTHENTICATED", rid=True, rl=False)


def test_put_storage_quota(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["workspace"]["storage_limit_bytes"] = 100
    api = Api(start_server(seed), KEY_NORTHWIND)
    try:
        refused = api.post(f"{C}/media/create-upload-url", json={"size_bytes": 101})
        assert_error(refused, 402, "QUOTA_EXCEEDED_STORAGE", rid=False, rl=True)
        url = _upload_url(api)
        assert_error(RAW.put(url, content=b"\x89PNG" + b"x" * 200, headers={"Content-Type": "image/png"}), 402, "QUOTA_EXCEEDED_STORAGE", rid=True, rl=False)
        assert RAW.put(url, content=png(1, 1), headers={"Content-Type": "image/png"}).status_code == 200  # claim released
    finally:
        api.close()


def test_create_draft_fan_out(api: Api) -> None:
    image = _image(api)
    response = api.post(f"{C}/posts", json={"caption": "  hi  ", "media": [image], "social_accounts": [IG, LI, f"{ORBIT}#meta:facebook:207711938844551"]})
    assert response.status_code == 201 and all(h in response.headers for h in RL_HEADERS)
    body = response.json()
    assert list(body) == ["id", "created", "errors"]
    assert [(c["channel"], c["status"]) for c in body["created"]] == [("instagram", "draft"), ("linkedin", "draft")]
    assert body["id"] == body["created"][0]["id"]
    assert body["errors"] == [{"account": f"{ORBIT}#meta:facebook:207711938844551", "error": "VALIDATION_PRODUCT_SCOPE_MISMATCH"}]
    ig, li = (api.post_of(c["id"]) for c in body["created"])
    assert (ig["deliveryMode"], ig["destinationId"], ig["caption"]) == ("manual_reminder", IG.split("#")[1], "  hi  ")  # not trimmed
    assert (li["deliveryMode"], li["scheduledAt"]) == ("direct_publish", None)


def test_create_all_failed_maps_first_error(api: Api) -> None:
    missing = "ast_00000000-0000-4000-8000-000000000000"
    assert_error(api.post(f"{C}/posts", json={"media": [missing], "social_accounts": [IG, LI]}), 404, "NOT_FOUND", rid=True, rl=False)
    assert_error(api.post(f"{C}/posts", json={"social_accounts": [IG]}), 400, "VALIDATION_INSTAGRAM_REQUIRES_MEDIA", rid=True, rl=False)


def test_linkedin_blank_caption_is_refused_but_other_captions_are_kept_verbatim(api: Api) -> None:
    """§8.4 / §7.3.1 step 4: LinkedIn needs a non-blank caption; Connect does not trim, so the check must."""
    blank = " \t\u3000\n"  # JavaScript trim() whitespace, incl. an ideographic space
    only_linkedin = api.post(f"{C}/posts", json={"caption": blank, "social_accounts": [LI]})
    assert_error(only_linkedin, 400, "VALIDATION_LINKEDIN_POST_REQUIRES_CONTENT", rid=True, rl=False)
    scheduled = api.post(f"{C}/posts", json={"caption": blank, "social_accounts": [LI], "is_draft": False, "scheduled_at": "2030-01-01T00:00:00Z"})
    assert_error(scheduled, 400, "VALIDATION_LINKEDIN_POST_REQUIRES_CONTENT", rid=True, rl=False)
    threads = f"{NORTHWIND}#threads:threads:25123456789012345"
    mixed = api.post(f"{C}/posts", json={"caption": blank, "social_accounts": [LI, threads]})
    assert mixed.status_code == 201, mixed.text
    assert mixed.json()["errors"] == [{"account": LI, "error": "VALIDATION_LINKEDIN_POST_REQUIRES_CONTENT"}]
    assert api.post_of(mixed.json()["id"])["caption"] == blank  # threads accepts it, stored byte for byte
    padded = api.post(f"{C}/posts", json={"caption": "  hi\u3000", "social_accounts": [LI]})
    assert padded.status_code == 201 and api.post_of(padded.json()["id"])["caption"] == "  hi\u3000"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"social_accounts": [IG], "caption": "x" * 4001}, "VALIDATION_CAPTION_TOO_LONG"),
        ({"social_accounts": [IG], "media": ["m"] * 36}, "VALIDATION_TOO_MANY_MEDIA_ASSETS"),
        ({"social_accounts": []}, "VALIDATION_NO_DESTINATION"),
        ({"social_accounts": "not a list"}, "VALIDATION_NO_DESTINATION"),
        ({"social_accounts": [IG] * 26}, "VALIDATION_TOO_MANY_DESTINATIONS"),
        ({"social_accounts": [IG + "x" * 2000]}, "VALIDATION_IDENTIFIER_TOO_LONG"),
        ({"social_accounts": [LI], "caption": "x", "is_draft": False, "scheduled_at": "next friday"}, "VALIDATION_INVALID_SCHEDULED_AT"),
    ],
)
def test_create_request_validation(api: Api, body: dict[str, Any], code: str) -> None:
    assert_error(api.post(f"{C}/posts", json=body), 400, code, rid=True, rl=False)


def test_scheduling_forces_platform_delivery_and_the_ticker_publishes(api: Api, receiver: Receiver) -> None:
    api.post(f"{P}/webhook-endpoints", json={"url": receiver.url, "events": ["post.published", "post.action_required"]})
    image = _image(api)
    # is_draft must be exactly false: a truthy non-boolean keeps a draft
    draft = api.post(f"{C}/posts", json={"caption": "x", "social_accounts": [LI], "is_draft": 0, "scheduled_at": "2020-01-01T00:00:00Z"})
    assert draft.json()["created"][0]["status"] == "draft"
    api.advance(0.002)  # the scheduled posts list before the draft (limit=1 below), never in the same millisecond
    now = datetime.fromisoformat(api.admin("GET", "/health").json()["now"].replace("Z", "+00:00"))
    due = (now + timedelta(hours=1)).replace(microsecond=0)
    when = format_datetime(due, usegmt=True)  # RFC 2822: Date.parse accepts it too
    response = api.post(f"{C}/posts", json={"caption": "x", "media": [image], "social_accounts": [IG, FB], "is_draft": False, "scheduled_at": when})
    created = response.json()["created"]
    assert [c["status"] for c in created] == ["scheduled", "scheduled"]
    ig = api.post_of(created[0]["id"])
    expected_at = due.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (ig["status"], ig["deliveryMode"], ig["scheduledAt"]) == ("scheduled", "direct_publish", expected_at)
    listed = api.get(f"{C}/posts").json()["data"]
    assert listed[0]["status"] == "scheduled" and listed[0]["is_draft"] is False and listed[0]["scheduled_at"] == expected_at
    assert receiver.requests == []
    api.advance(3600)
    hooks = receiver.wait_for(2)
    events = sorted((json.loads(body)["type"], json.loads(body)["data"]["postId"]) for _, body in hooks)
    assert events == sorted(("post.published", c["id"]) for c in created)
    assert api.post_of(created[0]["id"])["status"] == "published"
    assert api.get(f"{C}/posts?limit=1").json()["data"][0]["status"] == "posted"


def test_list_flat_statuses_limit_and_cursor(api: Api) -> None:
    ids = []
    for i in range(3):
        ids.append(api.create_ok({"channel": "threads", "caption": f"p{i}"})["id"])
        api.advance(0.002)  # distinct createdAt milliseconds: posts made in the same millisecond list in id (random) order
    run = api.publish(ids[0]).json()["run"]
    api.advance(1)
    assert api.run(run["id"])["status"] == "succeeded"
    first = api.get(f"{C}/posts?limit=2")
    assert first.status_code == 200 and first.headers["x-ratelimit-limit"] == "60"
    body = first.json()
    assert list(body) == ["data", "next_cursor"] and [p["id"] for p in body["data"]] == ids[:0:-1]
    assert list(body["data"][0]) == ["id", "caption", "status", "scheduled_at", "media", "media_urls", "social_accounts", "is_draft"]
    rest = api.get(f"{C}/posts", params={"limit": 2, "cursor": body["next_cursor"]}).json()
    assert [p["id"] for p in rest["data"]] == [ids[0]] and rest["next_cursor"] is None
    assert rest["data"][0]["status"] == "posted" and rest["data"][0]["is_draft"] is False
    for raw, count in (("abc", 3), ("0", 3), ("-4", 1), ("1.9", 1), ("1000", 3)):
        assert len(api.get(f"{C}/posts", params={"limit": raw}).json()["data"]) == count, raw
    assert_error(api.get(f"{C}/posts", params={"cursor": "!!"}), 400, "VALIDATION_INVALID_CURSOR", rid=True, rl=False)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_scheduler_retries_retryable_failures_on_the_contract_delays_then_fails(start_server: Callable[..., EmulatorServer]) -> None:
    """§8.9: a retryable failure of a scheduler publish puts the post back to `scheduled` with
    scheduledAt +2, +5, +15, +30 min after the failed attempt (4 retries), then it fails for good.
    A permanent failure fails at once; an API publish run is never retried (§7.4)."""
    seed = demo_seed_dict()
    destinations = {d["provider"]: d for d in seed["products"][0]["destinations"]}
    destinations["threads"]["behaviour"] = {"fail_reason": "Threads is busy", "fail_retryable": True, "publish_seconds": 1}
    destinations["linkedin"]["behaviour"] = {"fail_reason": "LinkedIn 503", "fail_retryable": True, "fail_attempts": 2, "publish_seconds": 1}
    destinations["meta"]["behaviour"] = {"fail_reason": "Page was removed", "publish_seconds": 1}
    server = start_server(seed)
    api = Api(server, KEY_NORTHWIND)
    try:
        api.post(f"{P}/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook", "events": ["post.failed", "post.published"]})
        threads = f"{NORTHWIND}#threads:threads:25123456789012345"
        body = {"caption": "later", "social_accounts": [threads, LI, FB], "is_draft": False, "scheduled_at": "2020-01-01T00:00:00Z"}
        th, li, fb = (c["id"] for c in api.post(f"{C}/posts", json=body).json()["created"])
        events = lambda: sorted(d["type"] for d in api.admin("GET", "/webhook-deliveries").json()["deliveries"])  # noqa: E731
        # A past scheduled_at is due at creation; each attempt fails publish_seconds (1 s) after it starts.
        failed_at = _ts(api.post_of(th)["createdAt"]) + 1
        api.advance(2)
        assert api.post_of(fb)["status"] == "failed" and events() == ["post.failed"]  # not retryable: at once
        for retry, delay in enumerate((120, 300, 900, 1800), 1):
            post = api.post_of(th)
            assert post["status"] == "scheduled", (retry, post)
            assert abs(_ts(post["scheduledAt"]) - (failed_at + delay)) < 0.002, (retry, post["scheduledAt"])
            assert post["publishResults"] == [{"channel": "threads", "success": False, "error": "Threads is busy"}]
            assert next(p for p in api.get(f"{C}/posts").json()["data"] if p["id"] == th)["status"] == "scheduled"
            linkedin = api.post_of(li)
            assert linkedin["status"] == ("scheduled" if retry <= 2 else "published"), (retry, linkedin)
            assert events() == (["post.failed"] if retry <= 2 else ["post.failed", "post.published"])
            api.advance(delay + 5)
            failed_at += delay + 1  # the retry ran at its scheduledAt and failed 1 s later
        final = api.post_of(th)
        assert final["status"] == "failed" and final["publishResults"][0]["error"] == "Threads is busy"
        assert events() == ["post.failed", "post.failed", "post.published"]
        api.advance(3600)
        assert api.post_of(th)["status"] == "failed"  # the budget is spent: no fifth retry

        draft = api.create_ok({"channel": "threads", "caption": "now"})
        run = api.publish(draft["id"]).json()["run"]
        api.advance(2)
        assert api.run(run["id"])["status"] == "failed"
        api.advance(600)
        assert api.post_of(draft["id"])["status"] == "failed" and api.post_of(draft["id"])["scheduledAt"] is None
    finally:
        api.close()
