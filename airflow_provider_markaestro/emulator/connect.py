"""Connect API routes (§10): flat snake_case shapes over the same keys, posts and media as Public."""

from __future__ import annotations

import json
import math
from email.utils import parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from .auth import AuthContext, authenticate
from .clock import iso, parse_iso
from .errors import JsonResponse, mapped
from .jsstr import js_length, js_number, js_string, js_truthy
from .media import IMAGE_TYPES, MAX_IMAGE_BYTES
from .models import Product
from .paths import CONNECT_PREFIX
from .signing import read_connect_token
from .state import EmulatorState
from .uploads import media_type, spool_body

router = APIRouter(prefix=CONNECT_PREFIX)

SOCIAL_ACCOUNTS = f"{CONNECT_PREFIX}/social-accounts"
PRODUCTS = f"{CONNECT_PREFIX}/products"
MEDIA = f"{CONNECT_PREFIX}/media"
CREATE_UPLOAD_URL = f"{CONNECT_PREFIX}/media/create-upload-url"
POSTS = f"{CONNECT_PREFIX}/posts"
MAX_CAPTION = 4000
MAX_MEDIA = 35
MAX_ACCOUNTS = 25
MAX_IDENTIFIER = 2000


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _ok(auth: AuthContext, body: dict[str, Any], status: int = 200) -> Response:
    return JsonResponse(body, status_code=status, headers=auth.rate.headers())


async def _lenient_json(request: Request) -> dict[str, Any]:
    """Connect tolerates invalid JSON (and non-objects) as `{}`."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _origin(request: Request) -> str:
    """Rebuilt from X-Forwarded-Proto / X-Forwarded-Host / Host, like the server does."""
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip() or request.url.scheme
    host = request.headers.get("x-forwarded-host", "").split(",")[0].strip() or request.headers.get("host") or request.url.netloc
    return f"{proto}://{host}"


def _accounts(product: Product | None) -> list[dict[str, Any]]:
    if product is None:
        return []
    seen: dict[str, dict[str, Any]] = {}
    for destination in product.destinations:
        token = f"{product.id}#{destination.id}"
        seen.setdefault(
            token,
            {
                "id": token,
                "product_id": product.id,
                "product": product.name,
                "platform": destination.channel,
                "username": destination.extras.get("username") or destination.display_name or destination.channel,
            },
        )
    return list(seen.values())


def js_date_parse(value: str) -> float | None:
    """A practical `Date.parse`: ISO forms (offset-less times taken as UTC) and RFC 2822 dates."""
    text = value.strip()
    parsed = parse_iso(text)
    if parsed is not None and text[:4].isdigit():
        return parsed
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


@router.get("/social-accounts")
async def social_accounts(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.read", SOCIAL_ACCOUNTS)
    with state.transaction():
        accounts = _accounts(state.products.get(auth.product_id))
    return _ok(auth, {"data": accounts})


@router.get("/products")
async def products(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.read", PRODUCTS)
    with state.transaction():
        product = state.products.get(auth.product_id)
        data = (
            [{"id": product.id, "name": product.name or product.id, "channels": product.summary_json()["availableChannels"], "accounts": _accounts(product)}]
            if product
            else []
        )
    return _ok(auth, {"data": data})


@router.get("/media")
async def media(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.read", MEDIA)
    return _ok(auth, {"data": []})


@router.post("/media/create-upload-url")
async def create_upload_url(request: Request) -> Response:
    """200 (not 201); the size, when given, is reserved now; the MIME type is only checked at PUT."""
    state = _state(request)
    auth = authenticate(request, state, "media.write", CREATE_UPLOAD_URL)
    body = await _lenient_json(request)
    mime = body.get("mime_type")
    mime = mime if isinstance(mime, str) and mime else "image/png"
    size = body.get("size_bytes")
    reserve = math.floor(size) if isinstance(size, int | float) and not isinstance(size, bool) and math.isfinite(size) and size > 0 else 0
    return _ok(auth, state.connect_upload_url(auth.key.client_id, mime, reserve, _origin(request)))


@router.put("/media/upload")
async def upload(request: Request) -> Response:
    """Token-only auth, no rate limit, images only, single use; 200 without rate-limit headers."""
    state = _state(request)
    payload = read_connect_token(state.signing_key, request.query_params.get("token"), state.clock.now() * 1000)
    if payload is None or payload["ws"] != state.workspace_id:
        raise mapped("UNAUTHENTICATED")
    sent = media_type(request.headers.get("content-type"))
    if sent is not None:
        if sent not in IMAGE_TYPES:
            raise mapped("VALIDATION_INVALID_FILE_TYPE")
        if sent != payload["mime"]:
            raise mapped("VALIDATION_UPLOAD_CONTENT_TYPE_MISMATCH")
    elif payload["mime"] not in IMAGE_TYPES:
        raise mapped("VALIDATION_INVALID_FILE_TYPE")
    mime = sent or payload["mime"]
    spooled = await spool_body(request, state.spool_dir, MAX_IMAGE_BYTES)
    try:
        if spooled.size == 0:
            raise mapped("VALIDATION_NO_FILE_PROVIDED")
        if spooled.path is None:
            raise mapped("VALIDATION_FILE_TOO_LARGE_10MB")
        state.claim_connect_upload(payload["assetId"])
        body = state.complete_connect_upload(
            payload["assetId"], payload["clientId"], spooled.path, mime, spooled.size, str(request.base_url).rstrip("/")
        )
    finally:
        spooled.discard()
    return JsonResponse(body)


@router.post("/posts")
async def create_posts(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.write", POSTS)
    body = await _lenient_json(request)
    caption = body.get("caption") if isinstance(body.get("caption"), str) else ""
    if js_length(caption) > MAX_CAPTION:
        raise mapped("VALIDATION_CAPTION_TOO_LONG")
    media_ids = [js_string(item) for item in body["media"]] if isinstance(body.get("media"), list) else []
    if len(media_ids) > MAX_MEDIA:
        raise mapped("VALIDATION_TOO_MANY_MEDIA_ASSETS")
    accounts = [js_string(item) for item in body["social_accounts"]] if isinstance(body.get("social_accounts"), list) else []
    if not accounts:
        raise mapped("VALIDATION_NO_DESTINATION")
    if len(accounts) > MAX_ACCOUNTS:
        raise mapped("VALIDATION_TOO_MANY_DESTINATIONS")
    if any(js_length(identifier) > MAX_IDENTIFIER for identifier in [*media_ids, *accounts]):
        raise mapped("VALIDATION_IDENTIFIER_TOO_LONG")
    scheduled: tuple[str, float] | None = None
    raw_schedule = body.get("scheduled_at")
    if body.get("is_draft") is False and js_truthy(raw_schedule):
        ts = js_date_parse(js_string(raw_schedule))
        if ts is None:
            raise mapped("VALIDATION_INVALID_SCHEDULED_AT")
        scheduled = (iso(ts), ts)
    status, answer = state.connect_create(auth.product_id, caption, media_ids, accounts, scheduled)
    return _ok(auth, answer, status)


@router.get("/posts")
async def list_posts(request: Request) -> Response:
    """limit: default 100, never an error (NaN/0 -> 100, clamped to 1..100)."""
    state = _state(request)
    auth = authenticate(request, state, "posts.read", POSTS)
    number = js_number(request.query_params.get("limit", ""))
    limit = 100 if math.isnan(number) or number == 0 else math.floor(max(1.0, min(100.0, number)))
    page = state.list_posts(auth.product_id, status=None, limit=limit, cursor=request.query_params.get("cursor") or None)
    return _ok(auth, {"data": [post.connect_json() for post in page.posts], "next_cursor": page.next_cursor})
