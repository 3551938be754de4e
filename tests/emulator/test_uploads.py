"""§7.2 upload sessions, the signed storage PUT, finalize (every row of its table) and DELETE /media/:id."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import (
    RAW, FINALIZE_HOLD_SECONDS, KEY_NORTHWIND, KEY_ORBIT, MP4, P, RL_HEADERS, Api, assert_error, demo_seed_dict, finalize_twice_concurrently, png,
)

SESSIONS = f"{P}/media/upload-sessions"
DEMO_WS = KEY_NORTHWIND.split("_", 2)[2].split(".")[0]
RECORD_KEYS = [
    "id", "type", "storagePath", "downloadUrl", "mimeType", "sizeBytes", "width", "height",
    "originalFileName", "createdByType", "createdById", "createdAt",
]


def _session(api: Api, data: bytes, mime: str = "image/png", name: str = "a.png", size: int | None = None) -> dict[str, Any]:
    response = api.post(SESSIONS, json={"fileName": f"  {name} ", "contentType": mime, "sizeBytes": len(data) if size is None else size})
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()["uploadSession"]
    return session


def _put(session: dict[str, Any], data: bytes | Iterator[bytes], **headers: str) -> httpx.Response:
    return RAW.put(session["uploadUrl"], content=data, headers={**session["uploadHeaders"], **headers}, timeout=30)


def _finalize(api: Api, session_id: str) -> httpx.Response:
    return api.post(f"{SESSIONS}/{session_id}/finalize")


def test_session_put_finalize_happy_path(api: Api, server: EmulatorServer) -> None:
    data = png(6, 4)
    response = api.post(SESSIONS, json={"fileName": "a.png", "contentType": "image/png", "sizeBytes": len(data)})
    assert response.status_code == 201 and response.headers["x-ratelimit-limit"] == "20"
    session = response.json()["uploadSession"]
    assert list(session) == ["id", "assetId", "uploadUrl", "uploadMethod", "uploadHeaders", "expiresAt"]
    assert session["id"] == session["assetId"] and session["id"].startswith("ast_")
    assert (session["uploadMethod"], session["uploadHeaders"]) == ("PUT", {"Content-Type": "image/png"})
    assert session["uploadUrl"].startswith(f"{server.url}/storage/") and "X-Goog-Signature=" in session["uploadUrl"]
    assert f"/_upload-staging/{DEMO_WS}/public-api/{session['id']}.png?" in session["uploadUrl"]

    put = RAW.put(session["uploadUrl"], content=b"first version!", headers=session["uploadHeaders"])
    assert put.status_code == 200 and put.content == b"" and not any(h in put.headers for h in RL_HEADERS)
    assert _put(session, data).status_code == 200  # re-usable until expiry: overwrites

    done = _finalize(api, session["id"])
    assert done.status_code == 201 and done.headers["x-ratelimit-limit"] == "20"
    asset = done.json()["asset"]
    assert list(asset) == RECORD_KEYS
    assert asset["storagePath"] == f"workspaces/{DEMO_WS}/public-media/{session['id']}.png"
    assert (asset["type"], asset["mimeType"], asset["sizeBytes"], asset["width"], asset["height"]) == ("image", "image/png", len(data), 6, 4)
    assert (asset["originalFileName"], asset["createdByType"], asset["createdById"]) == ("a.png", "api_client", KEY_NORTHWIND.split(".")[1])
    assert RAW.get(asset["downloadUrl"]).content == data
    again = _finalize(api, session["id"])
    assert again.status_code == 200 and again.json() == done.json()  # completed: same asset
    assert api.create_ok({"channel": "instagram", "mediaAssetIds": [asset["id"]]})["mediaUrls"] == [asset["downloadUrl"]]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"contentType": "image/png", "sizeBytes": 1}, "fileName", "invalid_type"),
        ({"fileName": "   ", "contentType": "image/png", "sizeBytes": 1}, "fileName", "too_small"),
        ({"fileName": "a" * 501, "contentType": "image/png", "sizeBytes": 1}, "fileName", "too_big"),
        ({"fileName": "a", "contentType": "image/png", "sizeBytes": 2.5}, "sizeBytes", "invalid_type"),
        ({"fileName": "a", "contentType": "image/png", "sizeBytes": 0}, "sizeBytes", "too_small"),
    ],
)
def test_session_schema_errors(api: Api, body: dict[str, Any], field: str, code: str) -> None:
    issues = assert_error(api.post(SESSIONS, json=body), 400, "VALIDATION_ERROR", rid=True, rl=False)["issues"]
    assert [(i["field"], i["code"]) for i in issues] == [(field, code)]


@pytest.mark.parametrize(
    ("mime", "size", "code"),
    [
        ("image/svg+xml", 10, "VALIDATION_INVALID_FILE_TYPE"),
        ("image/png", 10 * 1024 * 1024 + 1, "VALIDATION_FILE_TOO_LARGE_10MB"),
        ("video/mp4", 250 * 1024 * 1024 + 1, "VALIDATION_FILE_TOO_LARGE_250MB"),
    ],
)
def test_session_type_and_size_rules(api: Api, mime: str, size: int, code: str) -> None:
    assert_error(api.post(SESSIONS, json={"fileName": "f", "contentType": mime, "sizeBytes": size}), 400, code, rid=True, rl=False)


def test_malformed_json_is_internal_error(api: Api) -> None:
    assert_error(api.post(SESSIONS, content=b"{", headers={"Content-Type": "application/json"}), 500, "INTERNAL_ERROR", rid=True, rl=False)


def _ms(value: str) -> int:
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def test_expires_at_is_creation_plus_15_minutes_to_the_millisecond(api: Api) -> None:
    """§7.2: `expiresAt` = creation + 15 min (not floored to the second), and the signed URL agrees with it:
    a PUT shortly before `expiresAt` is accepted, a finalize shortly after it is refused. The margins are
    seconds, not milliseconds: emulator time is wall clock + offset and real time keeps running between
    requests; the millisecond value itself is checked exactly (URL validity and the 15-minute difference)."""
    session = _session(api, b"abc")
    query = parse_qs(urlsplit(session["uploadUrl"]).query)
    signed_at = datetime.strptime(query["X-Goog-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    url_ends_ms = round((signed_at + int(query["X-Goog-Expires"][0])) * 1000)
    expires_ms = _ms(session["expiresAt"])
    assert 0 <= url_ends_ms - expires_ms < 1000  # whole-second URL validity covers expiresAt
    now_ms = _ms(api.admin("GET", "/health").json()["now"])
    api.advance((expires_ms - now_ms) / 1000 - 5)
    assert _put(session, b"abc").status_code == 200  # 5 s before expiresAt
    api.advance(10)  # 5 s after it
    assert_error(_finalize(api, session["id"]), 400, "VALIDATION_INVALID_UPLOAD_SESSION", rid=True, rl=False)

    fresh = _session(api, b"xyz")
    assert _put(fresh, b"xyz").status_code == 200
    created_ms = _ms(_finalize(api, fresh["id"]).json()["asset"]["createdAt"])  # finalize reports the session creation time
    assert _ms(fresh["expiresAt"]) - created_ms == 15 * 60 * 1000


def test_storage_put_signature_and_expiry(api: Api) -> None:
    session = _session(api, b"abc")
    assert _put(session, b"abc", **{"Content-Type": "image/jpeg"}).status_code == 403  # signed Content-Type only
    tampered = re.sub(r"X-Goog-Expires=(\d+)", r"X-Goog-Expires=9\1", session["uploadUrl"])
    assert tampered != session["uploadUrl"]
    assert RAW.put(tampered, content=b"abc", headers=session["uploadHeaders"]).status_code == 403
    bad_sig = RAW.put(session["uploadUrl"][:-4] + "0000", content=b"abc", headers=session["uploadHeaders"])
    assert bad_sig.status_code == 403 and "SignatureDoesNotMatch" in bad_sig.text
    api.advance(901)
    expired = _put(session, b"abc")
    assert expired.status_code == 403 and "ExpiredToken" in expired.text


def test_finalize_rows(api: Api, orbit: Api) -> None:
    assert_error(_finalize(api, "ast_123"), 400, "VALIDATION_INVALID_UPLOAD_SESSION", rid=True, rl=False)
    assert_error(_finalize(api, "ast_00000000-0000-4000-8000-000000000000"), 404, "NOT_FOUND", rid=True, rl=False)
    session = _session(api, png(1, 1))
    assert_error(_finalize(orbit, session["id"]), 404, "NOT_FOUND", rid=True, rl=False)  # another API client
    assert_error(_finalize(api, session["id"]), 500, "INTERNAL_ERROR", rid=True, rl=False)  # not uploaded yet
    assert _put(session, png(1, 1)).status_code == 200
    assert _finalize(api, session["id"]).status_code == 201  # back to pending after the 500

    mismatch = _session(api, b"12345")
    assert _put(mismatch, b"1234").status_code == 200
    assert_error(_finalize(api, mismatch["id"]), 400, "VALIDATION_UPLOAD_METADATA_MISMATCH", rid=True, rl=False)
    assert_error(_finalize(api, mismatch["id"]), 400, "VALIDATION_INVALID_UPLOAD_SESSION", rid=True, rl=False)  # rejected: terminal

    late = _session(api, b"xyz")
    assert _put(late, b"xyz").status_code == 200
    api.advance(901)
    assert_error(_finalize(api, late["id"]), 400, "VALIDATION_INVALID_UPLOAD_SESSION", rid=True, rl=False)


def test_concurrent_finalize_is_409(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["uploads"] = {"finalize_delay_seconds": FINALIZE_HOLD_SECONDS}
    api = Api(start_server(seed), KEY_NORTHWIND)
    try:
        session = _session(api, MP4, "video/mp4", "clip.mp4")
        assert _put(session, MP4).status_code == 200
        done, busy = finalize_twice_concurrently(api, session["id"])  # the second one waits for the lease, not a sleep
        assert_error(busy, 409, "UPLOAD_FINALIZATION_IN_PROGRESS", rid=False, rl=True)
        asset = done.json()["asset"]
        assert done.status_code == 201 and (asset["type"], asset["width"]) == ("video", None)
        assert asset["storagePath"].endswith(f"/videos/{session['id']}.mp4")
    finally:
        api.close()


def test_session_storage_reservation(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["workspace"]["storage_limit_bytes"] = 100
    api = Api(start_server(seed), KEY_NORTHWIND)
    try:
        first = _session(api, b"x" * 60)
        assert_error(api.post(SESSIONS, json={"fileName": "b", "contentType": "image/png", "sizeBytes": 60}), 402, "QUOTA_EXCEEDED_STORAGE", rid=False, rl=True)
        assert _put(first, b"x" * 59).status_code == 200
        assert _finalize(api, first["id"]).status_code == 400  # rejected: bytes refunded
        assert _session(api, b"y" * 90)["id"]
    finally:
        api.close()


def test_put_streams_to_disk(api: Api) -> None:
    """A large PUT is written chunk by chunk: traced memory stays far below the body size."""
    chunk, count = b"\x00" * (1 << 20), 24
    session = _session(api, b"", "video/mp4", "big.mp4", size=len(chunk) * count)
    tracemalloc.start()
    try:
        assert _put(session, (chunk for _ in range(count))).status_code == 200
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * (1 << 20), peak
    asset = _finalize(api, session["id"]).json()["asset"]
    assert asset["sizeBytes"] == len(chunk) * count


def test_delete_media(api: Api, orbit: Api, clients: Callable[[str | None], Api]) -> None:
    asset = api.upload_ok("a.png", png(1, 1), "image/png")
    deleted = orbit.http.delete(f"{P}/media/{asset['id']}")  # not brand-scoped
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True, "id": asset["id"]}
    assert deleted.headers["x-ratelimit-limit"] == "20"
    assert RAW.get(asset["url"]).status_code == 404
    for gone in (asset["id"], "not-an-asset-id"):
        assert_error(api.http.delete(f"{P}/media/{gone}"), 404, "NOT_FOUND", rid=True, rl=False)
    assert_error(clients(KEY_ORBIT.replace("snj", "xxx")).http.delete(f"{P}/media/{asset['id']}"), 401, "UNAUTHENTICATED", rid=True, rl=False)
