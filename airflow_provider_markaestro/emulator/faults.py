"""Fault injection for the next N matching requests (admin `POST /_emulator/faults`).

Request-level actions (`error_before_commit`, `error_after_commit`, `drop_after_commit`, `delay`)
run in the outermost ASGI layer because dropping a connection needs to bypass Starlette's error
middleware, which would otherwise turn it into a 500.

Reservation-level actions fire inside the four idempotency-honouring routes (§5), right after the
Idempotency-Key was reserved and before the operation runs (without a key: at that same point):

* `delay_after_reserve` holds the operation `delay_seconds` (real seconds) with the key reserved,
  so a concurrent identical request really gets 409 IDEMPOTENCY_REQUEST_IN_PROGRESS;
* `error_after_reserve` answers `status` (INTERNAL_ERROR body) instead of running the operation,
  storing no success: the reservation stays until its lease lapses, like an operation that threw.

They are consumed only by requests that reach that point; earlier failures (auth, schema, publish
preconditions, media type/size) leave them pending.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import JsonResponse, internal
from .paths import ADMIN_PREFIX

# uvicorn closes the transport without answering when an ASGI app returns a non-None value.
DROPPED = "markaestro-emulator: connection dropped by an injected fault"


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str = "*"
    path_regex: str
    action: Literal[
        "error_after_commit", "error_before_commit", "drop_after_commit", "delay", "delay_after_reserve", "error_after_reserve"
    ]
    status: Literal[500, 502, 503, 504] = 500
    count: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0.0, ge=0)

    @field_validator("path_regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:  # not a ValueError, so pydantic would not report it
            raise ValueError(f"invalid path_regex: {exc}") from None
        return value


# Actions that fire at the idempotency reservation point inside the routes, not in the middleware.
RESERVATION_ACTIONS = frozenset({"delay_after_reserve", "error_after_reserve"})


@dataclass
class _Fault:
    spec: FaultSpec
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return self.spec.method in ("*", method.upper()) and re.search(self.spec.path_regex, path) is not None


class FaultBook:
    """Pending faults; each matching request consumes one unit of the first matching fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(self, spec: FaultSpec) -> None:
        with self._lock:
            self._faults.append(_Fault(spec.model_copy(update={"method": spec.method.upper()}), spec.count))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**f.spec.model_dump(), "remaining": f.remaining} for f in self._faults]

    def take(self, method: str, path: str, *, at_reservation: bool = False) -> FaultSpec | None:
        """Consume the first matching fault of the stage asked for (request layer or reservation point)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path) and (fault.spec.action in RESERVATION_ACTIONS) == at_reservation:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault.spec
        return None


class FaultMiddleware:
    def __init__(self, app: ASGIApp, book: FaultBook) -> None:
        self.app = app
        self.book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            return await self.app(scope, receive, send)
        spec = self.book.take(scope["method"], scope["path"])
        if spec is None:
            return await self.app(scope, receive, send)
        if spec.action == "delay":
            await asyncio.sleep(spec.delay_seconds)
            return await self.app(scope, receive, send)
        if spec.action == "error_before_commit":
            await _error(spec.status)(scope, receive, send)
            return None
        await self.app(scope, receive, _discard)  # the operation happens; its answer is lost
        if spec.action == "error_after_commit":
            await _error(spec.status)(scope, receive, send)
            return None
        return DROPPED


def _error(status: int) -> JsonResponse:
    return JsonResponse(internal().body, status_code=status)


async def _discard(message: Message) -> None:
    """Swallow the real response of a committed request."""
