"""Public API v1 routes (§7). Handlers stay thin: auth, parse, delegate to the state, answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from .auth import AuthContext, authenticate
from .errors import JsonResponse, internal, mapped, not_found, validation_error
from .idempotency import hash_json, hash_upload, read_key
from .imageprobe import probe_dimensions
from .media import MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, check_upload, extension_of, kind_of, receive_upload
from .paths import PUBLIC_PREFIX
from .state import EmulatorState
from .uploads import UploadSession
from .validation import is_batch, validate_batch, validate_list_query, validate_post, validate_upload_session, validate_webhook_endpoint
from .webhooks import EVENTS

router = APIRouter(prefix=PUBLIC_PREFIX)

PRODUCTS = f"{PUBLIC_PREFIX}/products"
DESTINATIONS = f"{PUBLIC_PREFIX}/products/{{id}}/destinations"
MEDIA = f"{PUBLIC_PREFIX}/media"
POSTS = f"{PUBLIC_PREFIX}/posts"
POST = f"{PUBLIC_PREFIX}/posts/{{id}}"
PUBLISH = f"{PUBLIC_PREFIX}/posts/{{id}}/publish"
JOB_RUN = f"{PUBLIC_PREFIX}/job-runs/{{id}}"
MEDIA_ITEM = f"{PUBLIC_PREFIX}/media/{{id}}"
UPLOAD_SESSIONS = f"{PUBLIC_PREFIX}/media/upload-sessions"
FINALIZE = f"{PUBLIC_PREFIX}/media/upload-sessions/{{id}}/finalize"
WEBHOOK_ENDPOINTS = f"{PUBLIC_PREFIX}/webhook-endpoints"
WEBHOOK_ENDPOINT = f"{PUBLIC_PREFIX}/webhook-endpoints/{{id}}"


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _route(request: Request) -> tuple[str, str]:
    """(method, path) as the fault book matches them."""
    return request.method, request.scope["path"]


def _ok(auth: AuthContext, body: dict[str, Any], status: int = 200) -> Response:
    """Successful answers always carry the current X-RateLimit-* headers (replays included)."""
    return JsonResponse(body, status_code=status, headers=auth.rate.headers())


def _reject_js_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _json_body(request: Request) -> Any:
    """`req.json()` semantics: an empty or malformed body is an unhandled error (500 INTERNAL_ERROR)."""
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_js_constant)
    except ValueError:
        raise internal() from None


@router.get("/products")
async def list_products(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "products.read", PRODUCTS)
    with state.transaction():
        product = state.products.get(auth.product_id)
        products = [product.summary_json()] if product else []
    return _ok(auth, {"products": products, "count": len(products)})


@router.get("/products/{product_id}/destinations")
async def list_destinations(request: Request, product_id: str) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "products.read", DESTINATIONS)
    if product_id != auth.product_id:
        raise mapped("VALIDATION_PRODUCT_SCOPE_MISMATCH")
    with state.transaction():
        product = state.products.get(product_id)
        if product is None:
            raise not_found()
        destinations = [d.to_json() for d in product.destinations]
    return _ok(auth, {"productId": product_id, "destinations": destinations, "count": len(destinations)})


@router.post("/media")
async def upload_media(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "media.write", MEDIA)
    received = await receive_upload(request, state.spool_dir)
    try:
        upload, kind = check_upload(received)
        key = read_key(request.headers.get("idempotency-key"))
        assert upload.path is not None, "an accepted upload keeps its bytes"
        source = upload.path
        request_hash = hash_upload(upload.file_name, upload.mime_type, upload.size, source) if key else ""
        dimensions = probe_dimensions(source, upload.mime_type) if kind == "image" else None
        base_url = str(request.base_url).rstrip("/")
        status, body = await state.idempotent(
            _route(request),
            key,
            request_hash,
            lambda now, _key: (
                201,
                {
                    "asset": state.store_asset(
                        source=source,
                        file_name=upload.file_name,
                        mime_type=upload.mime_type,
                        kind=kind,
                        extension=extension_of(upload.mime_type),
                        size=upload.size,
                        dimensions=dimensions,
                        base_url=base_url,
                        now=now,
                    ).to_json()
                },
            ),
        )
    finally:
        if received is not None:
            received.discard()  # no-op once the file was moved into storage
    return _ok(auth, body, status)


@router.post("/posts")
async def create_posts(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.write", POSTS)
    body = await _json_body(request)
    if is_batch(body):
        items, issues = validate_batch(body)
        if issues:
            raise validation_error(issues)
        key = read_key(request.headers.get("idempotency-key"))
        status, answer = await state.idempotent(
            _route(request), key, hash_json(items), lambda now, key: state.create_batch(auth.product_id, items, key, now)
        )
        return _ok(auth, answer, status)
    data, issues = validate_post(body)
    if issues:
        raise validation_error(issues)
    key = read_key(request.headers.get("idempotency-key"))
    status, answer = await state.idempotent(
        _route(request),
        key,
        hash_json(data),
        lambda now, key: (201, {"post": state.create_post(auth.product_id, data, key, now).to_json()}),
    )
    return _ok(auth, answer, status)


@router.get("/posts")
async def list_posts(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.read", POSTS)
    query, issues = validate_list_query(request.query_params)
    if issues:
        raise validation_error(issues)
    if query["productId"] and query["productId"] != auth.product_id:
        raise mapped("FORBIDDEN")
    page = state.list_posts(auth.product_id, status=query["status"], limit=query["limit"], cursor=query["cursor"])
    posts = [post.to_json() for post in page.posts]
    return _ok(auth, {"posts": posts, "count": len(posts), "nextCursor": page.next_cursor})


@router.delete("/posts/{post_id}")
async def delete_post(request: Request, post_id: str) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.write", POST)
    return _ok(auth, state.delete_post(auth.product_id, post_id))


@router.post("/media/upload-sessions")
async def create_upload_session(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "media.write", UPLOAD_SESSIONS)
    data, issues = validate_upload_session(await _json_body(request))
    if issues:
        raise validation_error(issues)
    kind = kind_of(data["contentType"])
    if kind is None:
        raise mapped("VALIDATION_INVALID_FILE_TYPE")
    if kind == "image" and data["sizeBytes"] > MAX_IMAGE_BYTES:
        raise mapped("VALIDATION_FILE_TOO_LARGE_10MB")
    if kind == "video" and data["sizeBytes"] > MAX_VIDEO_BYTES:
        raise mapped("VALIDATION_FILE_TOO_LARGE_250MB")
    origin = str(request.base_url).rstrip("/")
    session = state.create_upload_session(auth.key.client_id, data["fileName"], data["contentType"], data["sizeBytes"], origin)
    return _ok(auth, {"uploadSession": session}, 201)


@router.post("/media/upload-sessions/{session_id}/finalize")
async def finalize_upload_session(request: Request, session_id: str) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "media.write", FINALIZE)
    begun = state.begin_finalize(auth.key.client_id, session_id)
    if not isinstance(begun, UploadSession):
        status, body = begun
        return _ok(auth, body, status)
    delay = state.seed.uploads.finalize_delay_seconds
    if delay:
        await asyncio.sleep(delay)  # holds the lease, so a concurrent finalize sees 409
    status, body = state.complete_finalize(begun, str(request.base_url).rstrip("/"))
    return _ok(auth, body, status)


@router.delete("/media/{asset_id}")
async def delete_media(request: Request, asset_id: str) -> Response:
    if asset_id == "upload-sessions":  # a static route wins in Next.js, and it has no DELETE
        raise HTTPException(405)
    state = _state(request)
    auth = authenticate(request, state, "media.write", MEDIA_ITEM)
    return _ok(auth, state.delete_media(asset_id))


@router.get("/webhook-endpoints")
async def list_webhook_endpoints(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "webhooks.manage", WEBHOOK_ENDPOINTS)
    return _ok(auth, {"webhookEndpoints": state.list_webhook_endpoints()})


@router.post("/webhook-endpoints")
async def create_webhook_endpoint(request: Request) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "webhooks.manage", WEBHOOK_ENDPOINTS)
    data, issues = validate_webhook_endpoint(await _json_body(request), EVENTS)
    if issues:
        raise validation_error(issues)
    return _ok(auth, {"webhookEndpoint": state.create_webhook_endpoint(data["url"], data["events"])}, 201)


@router.delete("/webhook-endpoints/{endpoint_id}")
async def disable_webhook_endpoint(request: Request, endpoint_id: str) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "webhooks.manage", WEBHOOK_ENDPOINT)
    state.disable_webhook_endpoint(endpoint_id)
    return Response(status_code=204, headers=auth.rate.headers())


@router.get("/posts/{post_id}")
async def get_post(request: Request, post_id: str) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.read", POST)
    with state.transaction():
        post = state.visible_post(auth.product_id, post_id).to_json()
    return _ok(auth, {"post": post})


@router.post("/posts/{post_id}/publish")
async def publish_post(request: Request, post_id: str) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "posts.publish", PUBLISH)
    read_idempotency_key = lambda: read_key(request.headers.get("idempotency-key"))  # noqa: E731
    raced = bool(state.publish_race_window)
    if raced:  # let the world move between the two reads, as production can
        state.check_publishable(auth.product_id, post_id)
        with state.in_race_window():
            await asyncio.sleep(state.publish_race_window)
    status, body = await state.publish(auth.product_id, post_id, read_idempotency_key, route=_route(request), precheck=not raced)
    return _ok(auth, body, status)


@router.get("/job-runs/{run_id}")
async def get_job_run(request: Request, run_id: str) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "job_runs.read", JOB_RUN)
    with state.transaction():
        run = state.visible_run(auth.product_id, run_id).to_json()
    return _ok(auth, {"run": run})
