"""Signed upload URLs: GCS-V4-style URLs for upload sessions (§7.2) and Connect upload tokens (§10.4).

Both use an emulator-local secret minted per process, so nothing here is valid anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

STORAGE_PREFIX = "/storage"
CREDENTIAL = "markaestro-emulator@local.iam.gserviceaccount.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


# -- upload sessions: a storage host of our own ----------------------------------------------------


def _goog_date(ts: float) -> str:
    return datetime.fromtimestamp(math.floor(ts), UTC).strftime("%Y%m%dT%H%M%SZ")


def _string_to_sign(object_path: str, date: str, expires: str, content_type: str) -> bytes:
    """Method, path, the signed parameters and the one signed header besides host."""
    return f"PUT\n{object_path}\nX-Goog-Date={date}&X-Goog-Expires={expires}\ncontent-type:{content_type}".encode()


@dataclass(frozen=True)
class SignedUpload:
    url: str
    expires_at: float  # the session's `expiresAt`: creation + lifetime, millisecond precision


def sign_upload_url(key: bytes, origin: str, bucket: str, object_path: str, content_type: str, now: float, lifetime: float) -> SignedUpload:
    """A PUT URL for `<origin>/storage/<bucket>/<object_path>` and the session expiry it serves.

    `expiresAt` is creation + `lifetime` to the millisecond (like `Date.now() + 15 min`). A V4 URL
    only carries whole seconds (X-Goog-Date is floored), so X-Goog-Expires is rounded up to cover
    `expiresAt`: the storage host never refuses a PUT the session still allows, and lets one
    through at most a second later, when finalize refuses the session anyway.
    """
    expires_at = (math.floor(now * 1000) + round(lifetime * 1000)) / 1000
    signed_at = math.floor(now)
    date = _goog_date(signed_at)
    expires = str(max(1, math.ceil(expires_at - signed_at)))
    path = f"{bucket}/{object_path}"
    signature = hmac.new(key, _string_to_sign(path, date, expires, content_type), hashlib.sha256).hexdigest()
    query = "&".join(
        [
            "X-Goog-Algorithm=GOOG4-HMAC-SHA256",
            f"X-Goog-Credential={quote(CREDENTIAL + '/' + date[:8] + '/auto/storage/goog4_request', safe='')}",
            f"X-Goog-Date={date}",
            f"X-Goog-Expires={expires}",
            "X-Goog-SignedHeaders=content-type%3Bhost",
            f"X-Goog-Signature={signature}",
        ]
    )
    return SignedUpload(f"{origin}{STORAGE_PREFIX}/{quote(path)}?{query}", expires_at)


def check_upload_url(key: bytes, path: str, params: dict[str, str], content_type: str, now: float) -> str | None:
    """None when the PUT may proceed, else the GCS-style error code (answered as 403)."""
    date, expires, signature = (params.get(k, "") for k in ("X-Goog-Date", "X-Goog-Expires", "X-Goog-Signature"))
    expected = hmac.new(key, _string_to_sign(path, date, expires, content_type), hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(signature, expected):
        return "SignatureDoesNotMatch"
    try:
        signed_at = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        lifetime = int(expires)
    except ValueError:
        return "SignatureDoesNotMatch"
    if now > signed_at + lifetime:
        return "ExpiredToken"
    return None


# -- Connect upload tokens ----------------------------------------------------------------------------


def connect_token(key: bytes, payload: dict[str, Any]) -> str:
    """`<base64url(JSON payload)>.<base64url(HMAC-SHA256(secret, first part))>`."""
    head = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{b64url(hmac.new(key, head.encode(), hashlib.sha256).digest())}"


def read_connect_token(key: bytes, token: str | None, now_ms: float) -> dict[str, Any] | None:
    """The payload of a genuine, unexpired v2 token; None for missing, tampered or expired tokens."""
    if not token or token.count(".") != 1:
        return None
    head, mac = token.split(".")
    expected = b64url(hmac.new(key, head.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    raw = b64url_decode(head)
    try:
        payload = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("v") != 2:
        return None
    exp = payload.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now_ms:
        return None
    if not all(isinstance(payload.get(k), str) and payload.get(k) for k in ("ws", "assetId", "mime", "clientId")):
        return None
    return payload
