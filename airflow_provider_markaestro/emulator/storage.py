"""The emulated storage hosts: Firebase-style download URLs and the signed PUT of upload sessions."""

from __future__ import annotations

from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from .errors import JsonResponse
from .signing import STORAGE_PREFIX, check_upload_url
from .state import EmulatorState
from .uploads import MAX_STAGING_BYTES, spool_body

router = APIRouter()


def _gcs_error(status: int, code: str, message: str) -> Response:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    return Response(body, status_code=status, media_type="application/xml")


@router.get("/v0/b/{bucket}/o/{object_path:path}")
async def download(request: Request, bucket: str, object_path: str) -> Response:
    """Token-gated like Firebase download URLs; the token is checked, never logged."""
    state: EmulatorState = request.app.state.emulator
    asset = state.asset_by_path(object_path) if bucket == state.seed.workspace.bucket else None
    if asset is None or request.query_params.get("token") != asset.download_token:
        return JsonResponse({"error": {"code": 404, "message": "Not Found."}}, status_code=404)
    return FileResponse(asset.file_path, media_type=asset.mime_type)


@router.put(STORAGE_PREFIX + "/{bucket}/{object_path:path}")
async def signed_put(request: Request, bucket: str, object_path: str) -> Response:
    """Like a GCS V4 signed URL: no API key, the signed Content-Type exactly, re-usable until expiry."""
    state: EmulatorState = request.app.state.emulator
    content_type = request.headers.get("content-type", "")
    problem = check_upload_url(
        state.signing_key, f"{bucket}/{object_path}", dict(request.query_params), content_type, state.clock.now()
    )
    if problem is not None:
        text = "Request has expired" if problem == "ExpiredToken" else "The request signature we calculated does not match the signature you provided."
        return _gcs_error(403, problem, text)
    spooled = await spool_body(request, state.spool_dir, MAX_STAGING_BYTES)
    if spooled.path is None:
        return _gcs_error(400, "EntityTooLarge", "Your proposed upload is larger than the maximum object size specified in your Policy Document.")
    try:
        state.store_staged(object_path, spooled.path, content_type, spooled.size)
    finally:
        spooled.discard()  # no-op once moved into place
    return Response(status_code=200)
