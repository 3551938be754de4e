"""§4.4: every row of the error catalogue, reached over the wire, with its body shape and headers.

One parametrized case per row (rows listing several codes get one case per code). All cases share
one emulator whose seed makes the rarer rows reachable: a small storage cap, key variants, seeded
posts in fixed statuses, a product whose document is gone, no webhook capacity and 10 s run phases
(support.SLOW_CLOCK, so a run is surely still running when the post-is-publishing row is asked).
The finalize-in-progress row gets its own short-lived emulator with a slow finalize, so the other
finalize rows do not wait for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import (
    C, FINALIZE_HOLD_SECONDS, KEY_NORTHWIND, KEY_ORBIT, KEY_READONLY, MP4, NORTHWIND, ORBIT, P, SLOW_CLOCK, SLOW_QUEUED, Api, assert_error,
    demo_seed_dict, finalize_twice_concurrently, make_key, png,
)

WS = demo_seed_dict()["workspace"]["id"]
REVOKED, EXPIRED, NOT_MEMBER, UNBOUND, GONE = (make_key(WS, n) for n in range(1, 6))
STORAGE_CAP = 200_000
FAKE_ASSET = "ast_00000000-0000-4000-8000-000000000000"


def _seed() -> dict[str, Any]:
    seed = demo_seed_dict()
    seed["workspace"]["storage_limit_bytes"] = STORAGE_CAP
    seed["rate_limits"] = {"routes": {f"{P}/job-runs/{{id}}": 1}}
    seed["webhooks"] = {"max_active_endpoints": 0}
    seed["clock"].update(SLOW_CLOCK)
    seed["products"].append({"id": "GoneProduct000000000", "name": "Gone", "deleted": True})
    seed["api_keys"] += [
        {"key": REVOKED, "product_id": NORTHWIND, "status": "revoked"},
        {"key": EXPIRED, "product_id": NORTHWIND, "expires_at": "2001-01-01T00:00:00Z"},
        {"key": NOT_MEMBER, "product_id": NORTHWIND, "owner_is_member": False},
        {"key": UNBOUND, "product_id": None},
        {"key": GONE, "product_id": "GoneProduct000000000"},
    ]
    seed["posts"] = [
        {"id": "SeededPublished00001", "product_id": NORTHWIND, "channel": "threads", "status": "published"},
        {"id": "SeededArchived000001", "product_id": NORTHWIND, "channel": "threads", "status": "archived"},
    ]
    return seed


@dataclass
class Ctx:
    server: EmulatorServer
    clients: Callable[[str | None], Api]
    raw: httpx.Client  # no API key: signed URLs

    @property
    def api(self) -> Api:
        return self.clients(KEY_NORTHWIND)

    def image(self) -> str:
        asset_id: str = self.api.upload_ok("a.png", png(1, 1), "image/png")["id"]
        return asset_id

    def video(self) -> str:
        asset_id: str = self.api.upload_ok("v.mp4", MP4, "video/mp4")["id"]
        return asset_id

    def connect_url(self, mime: str = "image/png") -> str:
        url: str = self.api.post(f"{C}/media/create-upload-url", json={"mime_type": mime}).json()["upload_url"]
        return url

    def session(self, size: int, mime: str = "image/png") -> dict[str, Any]:
        body = {"fileName": "f", "contentType": mime, "sizeBytes": size}
        session: dict[str, Any] = self.api.post(f"{P}/media/upload-sessions", json=body).json()["uploadSession"]
        return session


@pytest.fixture(scope="module")
def catalogue_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(_seed()) as server:
        yield server


@pytest.fixture(scope="module")
def module_clients(catalogue_server: EmulatorServer) -> Iterator[tuple[Callable[[str | None], Api], httpx.Client]]:
    """Clients are cached per key: building an httpx client costs ~50 ms (SSL context)."""
    made: dict[str | None, Api] = {}

    def make(key: str | None) -> Api:
        if key not in made:
            made[key] = Api(catalogue_server, key)
        return made[key]

    with httpx.Client(timeout=30) as raw:
        yield make, raw
    for api in made.values():
        api.close()


@pytest.fixture
def ctx(catalogue_server: EmulatorServer, module_clients: tuple[Callable[[str | None], Api], httpx.Client]) -> Ctx:
    make, raw = module_clients
    raw.post(f"{catalogue_server.url}/_emulator/reset").raise_for_status()
    return Ctx(catalogue_server, make, raw)


def _create(ctx: Ctx, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return ctx.api.create(body, **kw)


def _reused(ctx: Ctx) -> httpx.Response:
    assert _create(ctx, {"channel": "threads", "caption": "a"}, headers={"Idempotency-Key": "k1"}).status_code == 201
    return _create(ctx, {"channel": "threads", "caption": "b"}, headers={"Idempotency-Key": "k1"})


def _in_progress(ctx: Ctx) -> httpx.Response:
    body = {"channel": "pinterest", "caption": "x", "mediaAssetIds": [ctx.image()]}  # fails after reserving the key
    assert _create(ctx, body, headers={"Idempotency-Key": "k2"}).status_code == 400
    response = _create(ctx, body, headers={"Idempotency-Key": "k2"})
    assert response.headers["retry-after"] == "1"
    return response


def _metadata_mismatch(ctx: Ctx) -> httpx.Response:
    session = ctx.session(10)
    ctx.raw.put(session["uploadUrl"], content=b"123456789", headers=session["uploadHeaders"])
    return ctx.api.post(f"{P}/media/upload-sessions/{session['id']}/finalize")


def _finalize_in_progress(ctx: Ctx) -> httpx.Response:
    """A second finalize sent once health shows the first holding the lease (own emulator: slow finalize)."""
    seed = _seed()
    seed["uploads"] = {"finalize_delay_seconds": FINALIZE_HOLD_SECONDS}
    with EmulatorServer(seed) as server:
        api = Api(server, KEY_NORTHWIND)
        try:
            body = {"fileName": "f", "contentType": "image/png", "sizeBytes": 3}
            session = api.post(f"{P}/media/upload-sessions", json=body).json()["uploadSession"]
            assert ctx.raw.put(session["uploadUrl"], content=b"abc", headers=session["uploadHeaders"]).status_code == 200
            first, second = finalize_twice_concurrently(api, session["id"])
            assert first.status_code == 201, first.text
            return second
        finally:
            api.close()


def _url_used(ctx: Ctx) -> httpx.Response:
    url = ctx.connect_url()
    assert ctx.raw.put(url, content=png(1, 1)).status_code == 200
    return ctx.raw.put(url, content=png(1, 1))


def _publishing(ctx: Ctx) -> httpx.Response:
    post = _create(ctx, {"channel": "threads", "caption": "x"}).json()["post"]
    ctx.api.publish(post["id"])
    ctx.api.advance(SLOW_QUEUED + 0.01)  # claimed: running (post `publishing`) for the next 10 s
    return ctx.api.http.delete(f"{P}/posts/{post['id']}")


def _rate_limited(ctx: Ctx) -> httpx.Response:
    ctx.api.fresh_rate_window()  # limit 1/min: both GETs must fall in the same epoch-aligned window
    ctx.api.get(f"{P}/job-runs/any")
    response = ctx.api.get(f"{P}/job-runs/any")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    return response


def _connect_quota(ctx: Ctx) -> httpx.Response:
    return ctx.raw.put(ctx.connect_url(), content=b"\x89PNG" + b"x" * STORAGE_CAP, headers={"Content-Type": "image/png"})


def _media_multipart(ctx: Ctx, files: dict[str, tuple[str, bytes, str]]) -> httpx.Response:
    return ctx.api.post(f"{P}/media", files=files)


CAPTION = {"instagram": 2200, "tiktok": 2200, "threads": 500, "pinterest": 500, "linkedin": 3000}

# (case id, request, status, code, requestId?, X-RateLimit-*?, message?)
Case = tuple[str, Callable[[Ctx], httpx.Response], int, str, bool, bool, bool]
CASES: list[Case] = [
    ("validation-error", lambda c: _create(c, {"channel": "myspace"}), 400, "VALIDATION_ERROR", True, False, False),
    ("idempotency-key-invalid", lambda c: _create(c, {"channel": "threads"}, headers={"Idempotency-Key": "k" * 501}), 400, "VALIDATION_IDEMPOTENCY_KEY_INVALID", True, False, False),
    ("idempotency-key-reused", _reused, 400, "VALIDATION_IDEMPOTENCY_KEY_REUSED", True, False, False),
    ("invalid-cursor", lambda c: c.api.get(f"{P}/posts", params={"cursor": "e30"}), 400, "VALIDATION_INVALID_CURSOR", True, False, False),
    ("no-file-provided", lambda c: _media_multipart(c, {"other": ("a.png", b"x", "image/png")}), 400, "VALIDATION_NO_FILE_PROVIDED", True, False, False),
    ("no-file-provided-put", lambda c: c.raw.put(c.connect_url(), content=b""), 400, "VALIDATION_NO_FILE_PROVIDED", True, False, False),
    ("invalid-file-type", lambda c: _media_multipart(c, {"file": ("a.svg", b"<svg/>", "image/svg+xml")}), 400, "VALIDATION_INVALID_FILE_TYPE", True, False, False),
    ("file-too-large-10mb", lambda c: c.api.post(f"{P}/media/upload-sessions", json={"fileName": "f", "contentType": "image/gif", "sizeBytes": 10 * 1024 * 1024 + 1}), 400, "VALIDATION_FILE_TOO_LARGE_10MB", True, False, False),
    ("file-too-large-250mb", lambda c: c.api.post(f"{P}/media/upload-sessions", json={"fileName": "f", "contentType": "video/webm", "sizeBytes": 250 * 1024 * 1024 + 1}), 400, "VALIDATION_FILE_TOO_LARGE_250MB", True, False, False),
    ("invalid-upload-session", lambda c: c.api.post(f"{P}/media/upload-sessions/ast_nope/finalize"), 400, "VALIDATION_INVALID_UPLOAD_SESSION", True, False, False),
    ("upload-metadata-mismatch", _metadata_mismatch, 400, "VALIDATION_UPLOAD_METADATA_MISMATCH", True, False, False),
    ("upload-content-type-mismatch", lambda c: c.raw.put(c.connect_url("image/gif"), content=b"x", headers={"Content-Type": "image/png"}), 400, "VALIDATION_UPLOAD_CONTENT_TYPE_MISMATCH", True, False, False),
    ("upload-url-already-used", _url_used, 400, "VALIDATION_UPLOAD_URL_ALREADY_USED", True, False, False),
    ("too-many-media-public", lambda c: _create(c, {"channel": "threads", "mediaAssetIds": ["m"] * 11}), 400, "VALIDATION_TOO_MANY_MEDIA_ASSETS", True, False, False),
    ("too-many-media-connect", lambda c: c.api.post(f"{C}/posts", json={"social_accounts": ["a"], "media": ["m"] * 36}), 400, "VALIDATION_TOO_MANY_MEDIA_ASSETS", True, False, False),
    *[
        (f"{ch}-requires-media", (lambda c, ch=ch: _create(c, {"channel": ch, "caption": "x"})), 400, f"VALIDATION_{ch.upper()}_REQUIRES_MEDIA", True, False, False)
        for ch in ("instagram", "tiktok", "pinterest")
    ],
    *[
        (f"{ch}-caption-too-long", (lambda c, ch=ch, n=n: _create(c, {"channel": ch, "caption": "x" * (n + 1), "mediaAssetIds": ["m"]})), 400, f"VALIDATION_{ch.upper()}_CAPTION_TOO_LONG", True, False, False)
        for ch, n in CAPTION.items()
    ],
    ("facebook-requires-content", lambda c: _create(c, {"channel": "facebook", "caption": "  "}), 400, "VALIDATION_FACEBOOK_POST_REQUIRES_CONTENT_OR_MEDIA", True, False, False),
    ("linkedin-requires-content", lambda c: _create(c, {"channel": "linkedin", "mediaAssetIds": ["m"]}), 400, "VALIDATION_LINKEDIN_POST_REQUIRES_CONTENT", True, False, False),
    ("settings-channel-mismatch", lambda c: _create(c, {"channel": "instagram", "mediaAssetIds": ["m"], "settings": {"__type": "tiktok"}}), 400, "VALIDATION_SETTINGS_CHANNEL_MISMATCH", True, False, False),
    ("product-scope-mismatch", lambda c: _create(c, {"channel": "threads", "caption": "x", "brandId": ORBIT}), 400, "VALIDATION_PRODUCT_SCOPE_MISMATCH", True, False, False),
    ("pinterest-video-single", lambda c: _create(c, {"channel": "pinterest", "mediaAssetIds": [c.video(), c.image()]}), 400, "VALIDATION_PINTEREST_VIDEO_MUST_BE_SINGLE_MEDIA", True, False, False),
    ("linkedin-video-single", lambda c: _create(c, {"channel": "linkedin", "caption": "x", "mediaAssetIds": [c.image(), c.video()]}), 400, "VALIDATION_LINKEDIN_VIDEO_MUST_BE_SINGLE_MEDIA", True, False, False),
    ("tiktok-max-one-video", lambda c: _create(c, {"channel": "tiktok", "mediaAssetIds": [c.video(), c.video()]}), 400, "VALIDATION_TIKTOK_MAX_ONE_VIDEO", True, False, False),
    ("tiktok-video-combined", lambda c: _create(c, {"channel": "tiktok", "mediaAssetIds": [c.video(), c.image()]}), 400, "VALIDATION_TIKTOK_VIDEO_CANNOT_BE_COMBINED", True, False, False),
    ("delivery-mode-not-supported", lambda c: _create(c, {"channel": "threads", "caption": "x", "deliveryMode": "platform_inbox"}), 400, "VALIDATION_DELIVERY_MODE_NOT_SUPPORTED_FOR_CHANNEL", True, False, False),
    ("destination-not-configured", lambda c: _create(c, {"channel": "pinterest", "mediaAssetIds": [c.image()]}), 400, "VALIDATION_DESTINATION_NOT_CONFIGURED_FOR_PRODUCT", True, False, False),
    ("destination-id-required", lambda c: c.clients(KEY_ORBIT).create({"channel": "linkedin", "caption": "x"}), 400, "VALIDATION_DESTINATION_ID_REQUIRED_FOR_CHANNEL", True, False, False),
    ("post-is-publishing", _publishing, 400, "VALIDATION_POST_IS_PUBLISHING", True, False, False),
    ("post-already-publishing-409", lambda c: c.api.publish("SeededPublished00001"), 409, "VALIDATION_POST_ALREADY_PUBLISHING", False, True, True),
    ("post-not-publishable", lambda c: c.api.publish("SeededArchived000001"), 400, "VALIDATION_POST_NOT_PUBLISHABLE", False, True, False),
    ("connect-no-destination", lambda c: c.api.post(f"{C}/posts", json={"caption": "x"}), 400, "VALIDATION_NO_DESTINATION", True, False, False),
    ("connect-caption-too-long", lambda c: c.api.post(f"{C}/posts", json={"caption": "x" * 4001, "social_accounts": ["a"]}), 400, "VALIDATION_CAPTION_TOO_LONG", True, False, False),
    ("connect-too-many-destinations", lambda c: c.api.post(f"{C}/posts", json={"social_accounts": ["a"] * 26}), 400, "VALIDATION_TOO_MANY_DESTINATIONS", True, False, False),
    ("connect-identifier-too-long", lambda c: c.api.post(f"{C}/posts", json={"social_accounts": ["a" * 2001]}), 400, "VALIDATION_IDENTIFIER_TOO_LONG", True, False, False),
    ("connect-invalid-scheduled-at", lambda c: c.api.post(f"{C}/posts", json={"social_accounts": ["a"], "is_draft": False, "scheduled_at": "soon"}), 400, "VALIDATION_INVALID_SCHEDULED_AT", True, False, False),
    ("unauthenticated-missing", lambda c: c.clients(None).get(f"{P}/products"), 401, "UNAUTHENTICATED", True, False, False),
    ("unauthenticated-revoked", lambda c: c.clients(REVOKED).get(f"{P}/products"), 401, "UNAUTHENTICATED", True, False, False),
    ("unauthenticated-expired", lambda c: c.clients(EXPIRED).get(f"{C}/posts"), 401, "UNAUTHENTICATED", True, False, False),
    ("unauthenticated-not-member", lambda c: c.clients(NOT_MEMBER).get(f"{P}/posts"), 401, "UNAUTHENTICATED", True, False, False),
    ("unauthenticated-upload-token", lambda c: c.raw.put(c.connect_url().replace("token=", "token=x"), content=b"x"), 401, "UNAUTHENTICATED", True, False, False),
    ("quota-storage-route-built", lambda c: c.api.post(f"{P}/media/upload-sessions", json={"fileName": "f", "contentType": "video/mp4", "sizeBytes": STORAGE_CAP + 1}), 402, "QUOTA_EXCEEDED_STORAGE", False, True, False),
    ("quota-storage-multipart", lambda c: _media_multipart(c, {"file": ("a.png", b"\x89PNG" + b"x" * STORAGE_CAP, "image/png")}), 402, "QUOTA_EXCEEDED_STORAGE", False, True, False),
    ("quota-storage-create-upload-url", lambda c: c.api.post(f"{C}/media/create-upload-url", json={"size_bytes": STORAGE_CAP + 1}), 402, "QUOTA_EXCEEDED_STORAGE", False, True, False),
    ("quota-storage-connect-put", _connect_quota, 402, "QUOTA_EXCEEDED_STORAGE", True, False, False),
    ("forbidden-scope", lambda c: c.clients(KEY_READONLY).get(f"{P}/webhook-endpoints"), 403, "FORBIDDEN", True, False, False),
    ("forbidden-product-filter", lambda c: c.api.get(f"{P}/posts", params={"productId": ORBIT}), 403, "FORBIDDEN", True, False, False),
    ("api-key-not-bound", lambda c: c.clients(UNBOUND).get(f"{C}/social-accounts"), 403, "API_KEY_NOT_BOUND_TO_PRODUCT", False, False, True),
    ("not-found-post", lambda c: c.api.get(f"{P}/posts/nope"), 404, "NOT_FOUND", True, False, False),
    ("not-found-product", lambda c: c.clients(GONE).get(f"{P}/products/GoneProduct000000000/destinations"), 404, "NOT_FOUND", True, False, False),
    ("not-found-media-on-create", lambda c: _create(c, {"channel": "threads", "caption": "x", "mediaAssetIds": [FAKE_ASSET]}), 404, "NOT_FOUND", True, False, False),
    ("not-found-media-delete", lambda c: c.api.http.delete(f"{P}/media/{FAKE_ASSET}"), 404, "NOT_FOUND", True, False, False),
    ("not-found-upload-session", lambda c: c.api.post(f"{P}/media/upload-sessions/{FAKE_ASSET}/finalize"), 404, "NOT_FOUND", True, False, False),
    ("not-found-webhook-endpoint", lambda c: c.api.http.delete(f"{P}/webhook-endpoints/nope"), 404, "NOT_FOUND", True, False, False),
    ("idempotency-in-progress", _in_progress, 409, "IDEMPOTENCY_REQUEST_IN_PROGRESS", False, True, True),
    ("upload-finalization-in-progress", _finalize_in_progress, 409, "UPLOAD_FINALIZATION_IN_PROGRESS", False, True, False),
    ("webhook-endpoint-limit", lambda c: c.api.post(f"{P}/webhook-endpoints", json={"url": "https://x.example", "events": ["post.failed"]}), 409, "WEBHOOK_ENDPOINT_LIMIT_REACHED", True, False, False),
    ("rate-limited", _rate_limited, 429, "RATE_LIMITED", False, True, False),
    ("internal-error-malformed-json", lambda c: c.api.post(f"{P}/posts", content=b'{"channel":', headers={"Content-Type": "application/json"}), 500, "INTERNAL_ERROR", True, False, False),
    ("internal-error-finalize-before-upload", lambda c: c.api.post(f"{P}/media/upload-sessions/{c.session(5)['id']}/finalize"), 500, "INTERNAL_ERROR", True, False, False),
]


@pytest.mark.parametrize(("request_fn", "status", "code", "rid", "rl", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_catalogue_row(ctx: Ctx, request_fn: Callable[[Ctx], httpx.Response], status: int, code: str, rid: bool, rl: bool, message: bool) -> None:
    assert_error(request_fn(ctx), status, code, rid=rid, rl=rl, message=message)


def test_subscription_required(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["workspace"]["subscription_active"] = False
    api = Api(start_server(seed), KEY_NORTHWIND)
    try:
        for response in (api.get(f"{C}/posts"), api.post(f"{P}/media/upload-sessions", json={})):
            assert_error(response, 403, "SUBSCRIPTION_REQUIRED", rid=False, rl=False, message=True)
    finally:
        api.close()


def test_no_catalogue_row_is_missing() -> None:
    codes = {c[3] for c in CASES} | {"SUBSCRIPTION_REQUIRED"}
    expected = {
        "VALIDATION_ERROR", "VALIDATION_IDEMPOTENCY_KEY_INVALID", "VALIDATION_IDEMPOTENCY_KEY_REUSED", "VALIDATION_INVALID_CURSOR",
        "VALIDATION_NO_FILE_PROVIDED", "VALIDATION_INVALID_FILE_TYPE", "VALIDATION_FILE_TOO_LARGE_10MB", "VALIDATION_FILE_TOO_LARGE_250MB",
        "VALIDATION_INVALID_UPLOAD_SESSION", "VALIDATION_UPLOAD_METADATA_MISMATCH", "VALIDATION_UPLOAD_CONTENT_TYPE_MISMATCH",
        "VALIDATION_UPLOAD_URL_ALREADY_USED", "VALIDATION_TOO_MANY_MEDIA_ASSETS", "VALIDATION_FACEBOOK_POST_REQUIRES_CONTENT_OR_MEDIA",
        "VALIDATION_LINKEDIN_POST_REQUIRES_CONTENT", "VALIDATION_SETTINGS_CHANNEL_MISMATCH", "VALIDATION_PRODUCT_SCOPE_MISMATCH",
        "VALIDATION_TIKTOK_MAX_ONE_VIDEO", "VALIDATION_TIKTOK_VIDEO_CANNOT_BE_COMBINED", "VALIDATION_DELIVERY_MODE_NOT_SUPPORTED_FOR_CHANNEL",
        "VALIDATION_DESTINATION_NOT_CONFIGURED_FOR_PRODUCT", "VALIDATION_DESTINATION_ID_REQUIRED_FOR_CHANNEL", "VALIDATION_POST_IS_PUBLISHING",
        "VALIDATION_POST_ALREADY_PUBLISHING", "VALIDATION_POST_NOT_PUBLISHABLE", "VALIDATION_NO_DESTINATION", "VALIDATION_CAPTION_TOO_LONG",
        "VALIDATION_TOO_MANY_DESTINATIONS", "VALIDATION_IDENTIFIER_TOO_LONG", "VALIDATION_INVALID_SCHEDULED_AT", "UNAUTHENTICATED",
        "QUOTA_EXCEEDED_STORAGE", "FORBIDDEN", "API_KEY_NOT_BOUND_TO_PRODUCT", "SUBSCRIPTION_REQUIRED", "NOT_FOUND",
        "IDEMPOTENCY_REQUEST_IN_PROGRESS", "UPLOAD_FINALIZATION_IN_PROGRESS", "WEBHOOK_ENDPOINT_LIMIT_REACHED", "RATE_LIMITED", "INTERNAL_ERROR",
        *(f"VALIDATION_{ch}_REQUIRES_MEDIA" for ch in ("INSTAGRAM", "TIKTOK", "PINTEREST")),
        *(f"VALIDATION_{ch.upper()}_CAPTION_TOO_LONG" for ch in CAPTION),
        "VALIDATION_PINTEREST_VIDEO_MUST_BE_SINGLE_MEDIA", "VALIDATION_LINKEDIN_VIDEO_MUST_BE_SINGLE_MEDIA",
    }
    assert expected <= codes, expected - codes


# The two race-only rows: the publish route reads the post, then re-reads it inside its
# transaction. A seed-set window between the reads lets a test move the post in between.
RACE_WINDOW = 1.5


@pytest.fixture
def racing(start_server: Callable[..., EmulatorServer]) -> Iterator[Api]:
    seed = demo_seed_dict()
    seed["clock"].update(publish_race_window_seconds=RACE_WINDOW, run_queued_seconds=30, run_running_seconds=30)
    api = Api(start_server(seed), KEY_NORTHWIND)
    yield api
    api.close()


def _publish_while(api: Api, post_id: str, key: str, move: Callable[[], None]) -> httpx.Response:
    """Send a publish, and run `move` once it is waiting between its two reads."""
    answer: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: answer.append(api.publish(post_id, headers={"Idempotency-Key": key})))
    sender.start()
    deadline = time.monotonic() + 10  # entering the window may be slow on a loaded runner; it then lasts RACE_WINDOW
    while api.admin("GET", "/health").json()["publishesInRaceWindow"] == 0:
        assert time.monotonic() < deadline, "the publish never entered the race window"
        time.sleep(0.02)
    move()
    sender.join(timeout=10)
    return answer[0]


def test_race_already_publishing_is_a_mapped_400_and_keeps_the_key_reserved(racing: Api) -> None:
    post = racing.create_ok({"channel": "linkedin", "caption": "Raced."})
    first = racing.publish(post["id"], headers={"Idempotency-Key": "race-first"})
    assert first.status_code == 202 and first.json()["run"]["status"] == "queued"

    def worker_finishes_the_first_run() -> None:
        racing.advance(120)
        deadline = time.monotonic() + 5
        while racing.admin("GET", "/posts").json()["posts"][0]["status"] != "published":
            assert time.monotonic() < deadline
            time.sleep(0.02)

    raced = _publish_while(racing, post["id"], "race-second", worker_finishes_the_first_run)
    assert_error(raced, 400, "VALIDATION_POST_ALREADY_PUBLISHING", rid=True, rl=False)
    again = racing.publish(post["id"], headers={"Idempotency-Key": "race-second"})  # now the direct row
    assert_error(again, 409, "VALIDATION_POST_ALREADY_PUBLISHING", rid=False, rl=True, message=True)
    assert len(racing.admin("GET", "/job-runs").json()["runs"]) == 1


def test_race_not_publishable_is_a_mapped_400(racing: Api) -> None:
    post = racing.create_ok({"channel": "linkedin", "caption": "Archived mid-flight."})

    def dashboard_archives_it() -> None:
        racing.admin("POST", f"/posts/{post['id']}/stored-status", json={"status": "archived"}).raise_for_status()

    raced = _publish_while(racing, post["id"], "race-archived", dashboard_archives_it)
    assert_error(raced, 400, "VALIDATION_POST_NOT_PUBLISHABLE", rid=True, rl=False)
    assert racing.admin("GET", "/job-runs").json()["runs"] == []


def test_rows_that_cannot_be_reached_today_are_the_documented_ones() -> None:
    """§2.4 unbound-key rows need a legacy key that step 8 refuses first; Connect's
    POST_CREATE_FAILED needs zero outcomes from a non-empty account list."""
    reachable = {c[3] for c in CASES} | {"SUBSCRIPTION_REQUIRED"}
    unreachable = {"VALIDATION_DESTINATION_NOT_CONFIGURED_FOR_CHANNEL", "VALIDATION_PRODUCT_ID_REQUIRED_FOR_CHANNEL",
                   "VALIDATION_POST_CREATE_FAILED"}
    assert not unreachable & reachable
