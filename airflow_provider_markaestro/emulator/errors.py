"""Error bodies of §4 and the JSON response type used everywhere.

Shapes: A `{"error","requestId"}` (mapped codes), B `VALIDATION_ERROR` with issues, C route-built
(no requestId, optional message, usually with rate-limit headers), D `INTERNAL_ERROR`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .ids import request_id

_MAPPED_STATUS = {
    "UNAUTHENTICATED": 401,
    "QUOTA_EXCEEDED_STORAGE": 402,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "WEBHOOK_ENDPOINT_LIMIT_REACHED": 409,
}


class JsonResponse(JSONResponse):
    """Compact JSON like `JSON.stringify`; lone surrogates fall back to `\\u` escapes instead of crashing."""

    def render(self, content: Any) -> bytes:
        try:
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()


class ApiError(Exception):
    """An error answer. `rate_headers` marks bodies that also carry X-RateLimit-* (§3.2)."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        *,
        rate_headers: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body
        self.rate_headers = rate_headers
        self.headers = dict(headers or {})

    @property
    def code(self) -> str:
        return str(self.body["error"])


def mapped(code: str) -> ApiError:
    """Shape A: a code passed through the central mapper (status from §4.3, fresh requestId)."""
    status = 400 if code.startswith("VALIDATION_") else _MAPPED_STATUS.get(code)
    if status is None:
        return internal()
    return ApiError(status, {"error": code, "requestId": request_id()})


def validation_error(issues: Sequence[Mapping[str, str]]) -> ApiError:
    """Shape B: zod failures, every issue at once."""
    return ApiError(400, {"error": "VALIDATION_ERROR", "issues": list(issues), "requestId": request_id()})


def route_built(
    status: int,
    code: str,
    message: str | None = None,
    *,
    rate_headers: bool = True,
    headers: Mapping[str, str] | None = None,
) -> ApiError:
    """Shape C: bodies a route builds itself; never a requestId."""
    body: dict[str, Any] = {"error": code}
    if message is not None:
        body["message"] = message
    return ApiError(status, body, rate_headers=rate_headers, headers=headers)


def internal(status: int = 500) -> ApiError:
    """Shape D: anything unrecognised, including malformed JSON bodies."""
    return ApiError(status, {"error": "INTERNAL_ERROR", "requestId": request_id()})


def not_found() -> ApiError:
    return mapped("NOT_FOUND")


def error_response(request: Request, exc: Exception) -> Response:
    """Exception handler: adds the request's rate-limit headers only to bodies that carry them."""
    assert isinstance(exc, ApiError)
    headers = dict(exc.headers)
    if exc.rate_headers:
        headers.update(getattr(request.state, "rate_headers", {}))
    return JsonResponse(exc.body, status_code=exc.status, headers=headers)


def unexpected_error_response(request: Request, exc: Exception) -> Response:
    """An emulator bug still answers shape D, as the real mapper would."""
    return JsonResponse(internal().body, status_code=500)
