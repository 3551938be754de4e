"""zod-compatible schema validation for post creation (§4.2, §7.3, §8.5).

Hand-written rather than pydantic because clients branch on zod v4 issue codes and paths.
Output is the normalized body (trimmed, defaults applied, unknown keys dropped, schema key order),
which is also what the idempotency hash is computed over.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .jsstr import js_length, js_number, js_trim
from .webhooks import is_url

CHANNELS = ("facebook", "instagram", "tiktok", "threads", "pinterest", "linkedin")
DELIVERY_MODES = ("direct_publish", "platform_inbox", "manual_reminder")
MAX_CAPTION = 4000
MAX_MEDIA_IDS = 35
MAX_ID_LENGTH = 2000
MIN_BATCH, MAX_BATCH = 1, 25

_MESSAGES = {
    "too_small": "Value is missing or below the minimum allowed.",
    "too_big": "Value is above the maximum allowed.",
}
_GENERIC_MESSAGE = "Value is invalid."

# zod v4 `z.iso.datetime()` defaults: calendar-valid date, optional seconds/fraction, only a `Z` suffix.
_DATE = (
    r"(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29"
    r"|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8])))"
)
_DATETIME_RE = re.compile(rf"^{_DATE}T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?Z$")

_TIKTOK_ENUMS = {
    "postMode": ("inbox", "direct_post"),
    "privacyLevel": ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"),
}
_TIKTOK_FIELDS = (
    "postMode",
    "privacyLevel",
    "disableComment",
    "disableDuet",
    "disableStitch",
    "photoCoverIndex",
    "commercialContentDisclosure",
    "brandOrganicToggle",
    "brandContentToggle",
)
_MISSING = object()

Path = tuple[str | int, ...]


@dataclass
class _Issues:
    items: list[dict[str, str]] = field(default_factory=list)

    def add(self, path: Path, code: str) -> None:
        self.items.append(
            {"field": ".".join(str(p) for p in path), "code": code, "message": _MESSAGES.get(code, _GENERIC_MESSAGE)}
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string(value: Any, path: Path, issues: _Issues, *, trim: bool, min_len: int = 0, max_len: int | None = None) -> str | None:
    if not isinstance(value, str):
        issues.add(path, "invalid_type")
        return None
    text = js_trim(value) if trim else value
    if js_length(text) < min_len:
        issues.add(path, "too_small")
    elif max_len is not None and js_length(text) > max_len:
        issues.add(path, "too_big")
    return text


def _enum(value: Any, options: tuple[str, ...], path: Path, issues: _Issues) -> str | None:
    if value not in options or not isinstance(value, str):
        issues.add(path, "invalid_value")
        return None
    return value


def _string_array(
    value: Any, path: Path, issues: _Issues, *, max_items: int, min_len: int, max_len: int | None
) -> list[str] | None:
    if not isinstance(value, list):
        issues.add(path, "invalid_type")
        return None
    items = [_string(item, (*path, i), issues, trim=True, min_len=min_len, max_len=max_len) for i, item in enumerate(value)]
    if len(value) > max_items:
        issues.add(path, "too_big")
    return [item for item in items if item is not None]


def _boolean(value: Any, path: Path, issues: _Issues) -> bool | None:
    if not isinstance(value, bool):
        issues.add(path, "invalid_type")
        return None
    return value


def _tiktok_settings(raw: dict[str, Any], path: Path, issues: _Issues) -> dict[str, Any]:
    out: dict[str, Any] = {"__type": "tiktok"}
    for name in _TIKTOK_FIELDS:
        value = raw.get(name, _MISSING)
        if value is _MISSING:
            continue
        if name in _TIKTOK_ENUMS:
            out[name] = _enum(value, _TIKTOK_ENUMS[name], (*path, name), issues)
        elif name == "photoCoverIndex":
            if not _is_number(value) or not math.isfinite(value) or value != int(value):
                issues.add((*path, name), "invalid_type")
            elif value < 0:
                issues.add((*path, name), "too_small")
            elif value > 9:
                issues.add((*path, name), "too_big")
            else:
                out[name] = int(value)
        else:
            out[name] = _boolean(value, (*path, name), issues)
    return out


def _instagram_settings(raw: dict[str, Any], path: Path, issues: _Issues) -> dict[str, Any]:
    out: dict[str, Any] = {"__type": "instagram"}
    if "postType" in raw:
        out["postType"] = _enum(raw["postType"], ("feed", "reel", "story"), (*path, "postType"), issues)
    if "collaborators" in raw:
        out["collaborators"] = _string_array(
            raw["collaborators"], (*path, "collaborators"), issues, max_items=3, min_len=1, max_len=60
        )
    if "altText" in raw:
        out["altText"] = _string_array(raw["altText"], (*path, "altText"), issues, max_items=10, min_len=0, max_len=1000)
    return out


def _settings(value: Any, path: Path, issues: _Issues) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        issues.add(path, "invalid_type")
        return None
    kind = value.get("__type")
    if kind == "tiktok":
        return _tiktok_settings(value, path, issues)
    if kind == "instagram":
        return _instagram_settings(value, path, issues)
    issues.add((*path, "__type"), "invalid_union")
    return None


def _post(body: Any, path: Path, issues: _Issues) -> dict[str, Any]:
    """Validate one post body; returns the normalized dict (meaningful only when no issues were added)."""
    if not isinstance(body, dict):
        issues.add(path, "invalid_type")
        return {}
    out: dict[str, Any] = {"channel": _enum(body.get("channel"), CHANNELS, (*path, "channel"), issues)}
    out["caption"] = (
        _string(body["caption"], (*path, "caption"), issues, trim=True, max_len=MAX_CAPTION) if "caption" in body else ""
    )
    out["mediaAssetIds"] = (
        _string_array(body["mediaAssetIds"], (*path, "mediaAssetIds"), issues, max_items=MAX_MEDIA_IDS, min_len=1, max_len=None)
        if "mediaAssetIds" in body
        else []
    )
    if "scheduledAt" in body:
        value = body["scheduledAt"]
        if value is not None and not isinstance(value, str):
            issues.add((*path, "scheduledAt"), "invalid_type")
        elif isinstance(value, str) and not _valid_datetime(value):
            issues.add((*path, "scheduledAt"), "invalid_format")
        out["scheduledAt"] = value
    ids = {
        name: _string(body[name], (*path, name), issues, trim=False, max_len=MAX_ID_LENGTH)
        for name in ("productId", "brandId", "destinationId")
        if name in body
    }
    # brandId is an alias; productId wins when both are present.
    if "productId" in ids or "brandId" in ids:
        out["productId"] = ids.get("productId", ids.get("brandId"))
    if "destinationId" in ids:
        out["destinationId"] = ids["destinationId"]
    if "deliveryMode" in body:
        out["deliveryMode"] = _enum(body["deliveryMode"], DELIVERY_MODES, (*path, "deliveryMode"), issues)
    if "settings" in body:
        out["settings"] = _settings(body["settings"], (*path, "settings"), issues)
    return out


def _valid_datetime(value: str) -> bool:
    if not _DATETIME_RE.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def is_batch(body: Any) -> bool:
    """A body is a batch iff it is an object whose `posts` property is an array."""
    return isinstance(body, dict) and isinstance(body.get("posts"), list)


def validate_post(body: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Single create: normalized body and issues (empty when valid)."""
    issues = _Issues()
    out = _post(body, (), issues)
    return out, issues.items


def validate_batch(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Batch create: one invalid item fails the whole request, with paths like `posts.1.channel`."""
    issues = _Issues()
    posts = body["posts"]
    items = [_post(item, ("posts", i), issues) for i, item in enumerate(posts)]
    if len(posts) < MIN_BATCH:
        issues.add(("posts",), "too_small")
    elif len(posts) > MAX_BATCH:
        issues.add(("posts",), "too_big")
    return items, issues.items


# -- other Public request schemas ---------------------------------------------------------------------


def validate_list_query(params: Mapping[str, str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """`GET /posts` query: z.coerce.number().int().min(1).max(100).default(25); status ≤ 200 chars."""
    issues = _Issues()
    out: dict[str, Any] = {"limit": 25, "cursor": params.get("cursor") or None, "productId": params.get("productId") or None}
    if "limit" in params:
        number = js_number(params["limit"])
        if not math.isfinite(number) or number != int(number):
            issues.add(("limit",), "invalid_type")
        elif number < 1:
            issues.add(("limit",), "too_small")
        elif number > 100:
            issues.add(("limit",), "too_big")
        else:
            out["limit"] = int(number)
    status = params.get("status")
    if status is not None and js_length(status) > 200:
        issues.add(("status",), "too_big")
    out["status"] = status or None
    return out, issues.items


def validate_upload_session(body: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """`POST /media/upload-sessions`: fileName 1-500 and contentType 1-200 (trimmed), sizeBytes a positive integer."""
    issues = _Issues()
    if not isinstance(body, dict):
        issues.add((), "invalid_type")
        return {}, issues.items
    out = {
        "fileName": _string(body.get("fileName"), ("fileName",), issues, trim=True, min_len=1, max_len=500),
        "contentType": _string(body.get("contentType"), ("contentType",), issues, trim=True, min_len=1, max_len=200),
    }
    size = body.get("sizeBytes")
    if not _is_number(size) or not math.isfinite(size) or size != int(size):
        issues.add(("sizeBytes",), "invalid_type")
    elif size <= 0:
        issues.add(("sizeBytes",), "too_small")
    else:
        out["sizeBytes"] = int(size)
    return out, issues.items


def validate_webhook_endpoint(body: Any, events: tuple[str, ...]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """`POST /webhook-endpoints`: a URL (any scheme) up to 2000 chars and 1-4 known event types."""
    issues = _Issues()
    if not isinstance(body, dict):
        issues.add((), "invalid_type")
        return {}, issues.items
    url = _string(body.get("url"), ("url",), issues, trim=True, max_len=2000)
    if url is not None and js_length(url) <= 2000 and not is_url(url):
        issues.add(("url",), "invalid_format")
    raw = body.get("events")
    chosen: list[str] = []
    if not isinstance(raw, list):
        issues.add(("events",), "invalid_type")
    else:
        chosen = [e for i, item in enumerate(raw) if (e := _enum(item, events, ("events", i), issues)) is not None]
        if not raw:
            issues.add(("events",), "too_small")
        elif len(raw) > 4:
            issues.add(("events",), "too_big")
    return {"url": url, "events": chosen}, issues.items
