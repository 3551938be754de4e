"""CORS and preflight for /api/public/v1 (§11): exact allow-listed origins only; Connect has none."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .paths import PUBLIC_PREFIX

_ALLOWED = {
    "Access-Control-Allow-Credentials": "false",
    "Access-Control-Allow-Methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
    "Access-Control-Allow-Headers": "Authorization,Content-Type,Idempotency-Key",
    "Access-Control-Max-Age": "86400",
}


class CorsMiddleware:
    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    def _headers(self, scope: Scope) -> dict[str, str]:
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None or origin not in self.origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", **_ALLOWED}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http" or not scope["path"].startswith(PUBLIC_PREFIX + "/"):
            return await self.app(scope, receive, send)
        extra = self._headers(scope)
        if scope["method"] == "OPTIONS":  # any path under the prefix, known or not
            await Response(status_code=204, headers=extra)(scope, receive, send)
            return None
        if not extra:
            return await self.app(scope, receive, send)

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        return await self.app(scope, receive, with_cors)
