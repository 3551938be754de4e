"""Post listing shared by Public and Connect `GET /posts` (§6): order, opaque cursors, end detection."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from .clock import iso, parse_iso
from .errors import mapped
from .models import Post
from .signing import b64url, b64url_decode


@dataclass(frozen=True)
class Page:
    posts: list[Post]
    next_cursor: str | None


def _ms(ts: float) -> int:
    return math.floor(ts * 1000)


def encode_cursor(post: Post) -> str:
    """base64url (no padding) of `{"id":<last id>,"value":<last createdAt>}`."""
    return b64url(json.dumps({"id": post.id, "value": iso(post.created_at)}, separators=(",", ":")).encode())


def decode_cursor(cursor: str) -> tuple[str, int | None]:
    """(id, createdAt ms); anything but base64url JSON with a non-empty string `id` is a 400."""
    raw = b64url_decode(cursor)
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise mapped("VALIDATION_INVALID_CURSOR")
    value = data.get("value")
    parsed = parse_iso(value) if isinstance(value, str) else None
    return data["id"], None if parsed is None else _ms(parsed)


def paginate(rows: Iterable[Post], limit: int, cursor: str | None) -> Page:
    """createdAt desc then id desc, rows strictly after the cursor; a next cursor only when more rows exist."""
    ordered = sorted(rows, key=lambda p: (_ms(p.created_at), p.id), reverse=True)
    if cursor:
        after_id, after_ms = decode_cursor(cursor)
        if after_ms is None:
            ordered = [p for p in ordered if p.id < after_id]
        else:
            ordered = [p for p in ordered if (_ms(p.created_at), p.id) < (after_ms, after_id)]
    page = ordered[: limit + 1]
    more = len(page) > limit
    page = page[:limit]
    return Page(page, encode_cursor(page[-1]) if more and page else None)
