"""Emulator-only test routes under /_emulator (not part of the contract, no auth)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from .errors import JsonResponse
from .faults import FaultSpec
from .paths import ADMIN_PREFIX
from .state import EmulatorState

router = APIRouter(prefix=ADMIN_PREFIX)
_M = TypeVar("_M", bound=BaseModel)


class _MarkPosted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    externalUrl: str | None = None  # noqa: N815 (wire name of the dashboard route)


class _StoredStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(min_length=1)


class _Advance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0)


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def _parse(request: Request, model: type[_M]) -> _M | Response:
    """Admin payloads get plain 400s; they are test tooling, not contract."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        return JsonResponse({"error": "BAD_REQUEST", "detail": exc.errors(include_url=False, include_input=False, include_context=False)}, status_code=400)


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    state = _state(request)
    return {
        "status": "ok",
        "workspaceId": state.workspace_id,
        "now": state.now_iso(),
        "publishesInRaceWindow": state.waiting["race_window"],
        "pausedAfterReserve": state.waiting["paused_after_reserve"],
        # Finalizes holding their lease: a concurrent finalize now gets 409 (tests poll this, no sleeps).
        "finalizesInProgress": state.finalizes_in_progress(),
    }


@router.get("/posts")
async def posts(request: Request) -> dict[str, Any]:
    return {"posts": _state(request).overview_posts()}


@router.get("/job-runs")
async def job_runs(request: Request) -> dict[str, Any]:
    return {"runs": _state(request).overview_runs()}


@router.get("/webhook-deliveries")
async def webhook_deliveries(request: Request) -> dict[str, Any]:
    """Every delivery with its attempts, status and response codes; never an endpoint secret."""
    return {"deliveries": _state(request).overview_deliveries()}


@router.get("/requests")
async def requests(request: Request) -> dict[str, Any]:
    return {"requests": _state(request).snapshot_requests()}


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    _state(request).reset()
    return {"reset": True}


@router.post("/posts/{post_id}/mark-posted")
async def mark_posted(request: Request, post_id: str) -> Response:
    payload = await _parse(request, _MarkPosted)
    if isinstance(payload, Response):
        return payload
    post = _state(request).mark_posted(post_id, payload.externalUrl)
    if post is None:
        return JsonResponse({"error": "NOT_AWAITING_CONFIRMATION"}, status_code=409)
    return JsonResponse({"post": post.to_json(), "publishedVia": post.published_via})


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    return {"faults": _state(request).faults.pending()}


@router.post("/faults")
async def add_fault(request: Request) -> Response:
    spec = await _parse(request, FaultSpec)
    if isinstance(spec, Response):
        return spec
    state = _state(request)
    state.faults.add(spec)
    return JsonResponse({"faults": state.faults.pending()}, status_code=201)


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    _state(request).faults.clear()
    return {"faults": []}


@router.post("/clock/advance")
async def advance_clock(request: Request) -> Response:
    """Move emulator time forward so tests cross run timers, leases and rate windows without sleeping."""
    payload = await _parse(request, _Advance)
    if isinstance(payload, Response):
        return payload
    state = _state(request)
    state.clock.advance(payload.seconds)
    return JsonResponse({"now": state.now_iso()})


@router.post("/clock/next-window")
async def next_rate_window(request: Request) -> Response:
    """Move time to the start of the next rate-limit window, so a test counting X-RateLimit-Remaining
    never straddles an epoch-aligned boundary (windows are fixed, §3.1)."""
    state = _state(request)
    now = state.clock.now()
    state.clock.advance(state.rate_limiter.next_window_start(now) - now)
    return JsonResponse({"now": state.now_iso(), "unix": state.clock.now()})


@router.post("/posts/{post_id}/stored-status")
async def set_stored_status(request: Request, post_id: str) -> Response:
    """Overwrite a post's stored status, as a dashboard edit or a legacy migration would."""
    payload = await _parse(request, _StoredStatus)
    if isinstance(payload, Response):
        return payload
    post = _state(request).set_stored_status(post_id, payload.status)
    if post is None:
        return JsonResponse({"error": "NOT_FOUND"}, status_code=404)
    return JsonResponse({"post": post.to_json()})
