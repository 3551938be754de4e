"""ASGI application factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from . import admin, connect, pages, public_api, storage
from .clock import Clock
from .cors import CorsMiddleware
from .errors import ApiError, error_response, unexpected_error_response
from .faults import FaultMiddleware
from .requestlog import RequestLogMiddleware
from .seed import Seed, load_seed
from .state import EmulatorState


def _framework_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer like Next.js: not the JSON error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    text = "404: This page could not be found." if status == 404 else "Method Not Allowed" if status == 405 else "Error"
    return PlainTextResponse(text, status_code=status)


class EmulatorApp:
    """The emulator's ASGI callable: request log and fault injection wrapped around the FastAPI app.

    The wrappers sit outside FastAPI because a dropped connection has to escape Starlette's
    error middleware (see faults.py).
    """

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.seed = state.seed
        api = FastAPI(title="Markaestro emulator", openapi_url=None, docs_url=None, redoc_url=None)
        api.state.emulator = state
        api.add_exception_handler(ApiError, error_response)
        api.add_exception_handler(HTTPException, _framework_error)
        api.add_exception_handler(Exception, unexpected_error_response)
        for module in (public_api, connect, admin, pages, storage):
            api.include_router(module.router)
        self.api = api
        self._asgi = RequestLogMiddleware(FaultMiddleware(CorsMiddleware(api, list(state.seed.cors_origins)), state.faults), state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        return await self._asgi(scope, receive, send)


def create_app(
    seed: Seed | Mapping[str, Any] | str | Path | None = None,
    *,
    scale: float | None = None,
    clock: Clock | None = None,
) -> EmulatorApp:
    """Build an emulator for `seed` (default: the packaged demo seed); `scale` overrides the seed's."""
    return EmulatorApp(EmulatorState(load_seed(seed).with_scale(scale), clock))
