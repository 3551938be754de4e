"""Request log for tests (admin `GET /_emulator/requests`).

Records only method, path (no query string: signed URLs and tokens live there), status, time and
whether an Idempotency-Key header was sent; never the Authorization header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .clock import iso
from .paths import ADMIN_PREFIX

if TYPE_CHECKING:
    from .state import EmulatorState


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            return await self.app(scope, receive, send)
        started = self.state.clock.now()
        status: int | None = None

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            return await self.app(scope, receive, capture)
        finally:
            self.state.log_request(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,  # None: the connection was dropped
                    "time": iso(started),
                    "idempotencyKey": any(name == b"idempotency-key" for name, _ in scope["headers"]),
                }
            )
