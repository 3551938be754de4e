"""Public API v1 routes (§7). Handlers stay thin: auth, parse, delegate to the state, answer."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from .auth import AuthContext, authenticate
from .errors import JsonResponse, internal, mapped, not_found, validation_error
from .idempotency import hash_json, hash_upload, read_key
from .imageprobe import probe_dimensions
from .media import check_upload, extension_of, receive_upload
from .paths import PUBLIC_PREFIX
from .state import EmulatorState
from .validation import is_batch, validate_batch, validate_post

router = APIRouter(prefix=PUBLIC_PREFIX)

PRODUCTS = f"{PUBLIC_PREFIX}/products"
DESTINATIONS = f"{PUBLIC_PREFIX}/products/{{id}}/destinations"
MEDIA = f"{PUBLIC_PREFIX}/media"
POSTS = f"{PUBLIC_PREFIX}/posts"
POST = f"{PUBLIC_PREFIX}/posts/{{id}}"
PUBLISH = f"{PUBLIC_PREFIX}/posts/{{id}}/publish"
JOB_RUN = f"{PUBLIC_PREFIX}/job-runs/{{id}}"


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


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
        status, body = state.idempotent(
            key,
            request_hash,
            lambda now: (
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
        status, answer = state.idempotent(
            key, hash_json(items), lambda now: state.create_batch(auth.product_id, items, key, now)
        )
        return _ok(auth, answer, status)
    data, issues = validate_post(body)
    if issues:
        raise validation_error(issues)
    key = read_key(request.headers.get("idempotency-key"))
    status, answer = state.idempotent(
        key, hash_json(data), lambda now: (201, {"post": state.create_post(auth.product_id, data, key, now).to_json()})
    )
    return _ok(auth, answer, status)


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
    status, body = state.publish(auth.product_id, post_id, lambda: read_key(request.headers.get("idempotency-key")))
    return _ok(auth, body, status)


@router.get("/job-runs/{run_id}")
async def get_job_run(request: Request, run_id: str) -> Response:
    state = _state(request)
    auth = authenticate(request, state, "job_runs.read", JOB_RUN)
    with state.transaction():
        run = state.visible_run(auth.product_id, run_id).to_json()
    return _ok(auth, {"run": run})
