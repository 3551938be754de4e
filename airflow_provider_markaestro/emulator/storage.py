"""Hosted media downloads: the Firebase-style URLs that assets and post `mediaUrls` point to."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from .errors import JsonResponse
from .state import EmulatorState

router = APIRouter()


@router.get("/v0/b/{bucket}/o/{object_path:path}")
async def download(request: Request, bucket: str, object_path: str) -> Response:
    """Token-gated like Firebase download URLs; the token is checked, never logged."""
    state: EmulatorState = request.app.state.emulator
    asset = state.asset_by_path(object_path) if bucket == state.seed.workspace.bucket else None
    if asset is None or request.query_params.get("token") != asset.download_token:
        return JsonResponse({"error": {"code": 404, "message": "Not Found."}}, status_code=404)
    return FileResponse(asset.file_path, media_type=asset.mime_type)
