"""Minimal dashboard pages (`/app/...`) so links to posts and runs open something useful."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from .state import EmulatorState

router = APIRouter(prefix="/app")


def _page(title: str, rows: list[tuple[str, str]]) -> HTMLResponse:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1><table>{body}</table></body></html>"
    )


def _missing(what: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><body><h1>{escape(what)} not found</h1></body></html>", status_code=404)


@router.get("/posts/{post_id}")
async def post_page(request: Request, post_id: str) -> HTMLResponse:
    state: EmulatorState = request.app.state.emulator
    with state.transaction():
        post = state.posts.get(post_id)
        if post is None:
            return _missing("Post")
        run = state.runs.get(post.run_id) if post.run_id else None
        rows = [
            ("ID", post.id),
            ("Status", post.status),
            ("Channel", post.channel),
            ("Destination", post.destination_id or "(none)"),
            ("Caption", post.caption),
            ("Run message", run.message if run else ""),
            ("External URL", post.external_url),
        ]
    return _page(f"Post {post_id}", rows)


@router.get("/job-runs/{run_id}")
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    state: EmulatorState = request.app.state.emulator
    with state.transaction():
        run = state.runs.get(run_id)
        if run is None:
            return _missing("Job run")
        post = state.posts.get(run.post_id)
        rows = [
            ("ID", run.id),
            ("Status", run.status),
            ("Message", run.message),
            ("Post", run.post_id),
            ("Channel", post.channel if post else ""),
            ("Destination", post.destination_id if post else ""),
            ("Caption", post.caption if post else ""),
        ]
    return _page(f"Job run {run_id}", rows)
