"""Idempotency-Key handling of §5: one key space per workspace shared by every honouring route."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import mapped, route_built
from .jsstr import js_length, js_trim

LEASE_SECONDS = 600.0
MAX_KEY_LENGTH = 500


def read_key(raw: str | None) -> str | None:
    """Trimmed `Idempotency-Key` value; empty means absent; too long or control characters is a 400."""
    if raw is None:
        return None
    key = js_trim(raw)
    if not key:
        return None
    if js_length(key) > MAX_KEY_LENGTH or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise mapped("VALIDATION_IDEMPOTENCY_KEY_INVALID")
    return key


def hash_json(value: Any) -> str:
    """SHA-256 of the compact JSON of an already normalized value (key order is the schema order)."""
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")).hexdigest()


def hash_upload(file_name: str, mime_type: str, size: int, path: Path) -> str:
    """Multipart hash: file name, MIME type, decimal size and raw bytes, fed in that order."""
    digest = hashlib.sha256()
    for part in (file_name, mime_type, str(size)):
        digest.update(part.encode("utf-8", "surrogatepass"))
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Replay:
    """A stored success, answered again with fresh rate-limit headers."""

    status: int
    body: dict[str, Any]


@dataclass
class _Record:
    request_hash: str
    lease_until: float
    replay: Replay | None = None


class IdempotencyStore:
    """Reservations are never released on failure: only success or the lease lapsing frees a key."""

    def __init__(self, lease_seconds: float) -> None:
        self._lease = lease_seconds
        self._records: dict[tuple[str, str], _Record] = {}

    def begin(self, workspace_id: str, key: str, request_hash: str, now: float) -> Replay | None:
        """Return a replay, or reserve the key for this request (raises 400 REUSED / 409 IN_PROGRESS)."""
        record = self._records.get((workspace_id, key))
        if record is not None:
            if record.request_hash != request_hash:
                raise mapped("VALIDATION_IDEMPOTENCY_KEY_REUSED")
            if record.replay is not None:
                return record.replay
            if now < record.lease_until:
                raise route_built(
                    409,
                    "IDEMPOTENCY_REQUEST_IN_PROGRESS",
                    "A request with this Idempotency-Key is still being processed",
                    headers={"Retry-After": "1"},
                )
        self._records[(workspace_id, key)] = _Record(request_hash, now + self._lease)
        return None

    def complete(self, workspace_id: str, key: str, status: int, body: dict[str, Any]) -> None:
        self._records[(workspace_id, key)].replay = Replay(status, body)
