"""Minimal dashboard pages (`/app/...`) so links to posts and runs open something useful, and an index
at `/` that says what this server is and links the recent posts (no keys, secrets or signed URLs)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from .clock import iso
from .paths import ADMIN_PREFIX, CONNECT_PREFIX, PUBLIC_PREFIX
from .state import EmulatorState

# No prefix: the index lives at `/`, the dashboard pages under APP.
router = APIRouter()
APP = "/app"
RECENT_POSTS = 20
CAPTION_PREVIEW = 60


def _page(title: str, rows: list[tuple[str, str]]) -> HTMLResponse:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1><table>{body}</table></body></html>"
    )


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= CAPTION_PREVIEW else flat[: CAPTION_PREVIEW - 1] + "…"


@router.get("/")
async def index_page(request: Request) -> HTMLResponse:
    """What this server is, where its surfaces are, and the most recent posts of every product."""
    state: EmulatorState = request.app.state.emulator
    with state.transaction():
        recent = sorted(state.posts.values(), key=lambda p: (p.created_at, p.id), reverse=True)[:RECENT_POSTS]
        total = len(state.posts)
        rows = [
            (p.id, p.channel, p.status, p.destination_id or "(none)", iso(p.created_at), _preview(p.caption))
            for p in recent
        ]
    health = f"{ADMIN_PREFIX}/health"
    table = "".join(
        f"<tr><td><a href='{APP}/posts/{escape(pid, quote=True)}'>{escape(pid)}</a></td>"
        + "".join(f"<td>{escape(cell)}</td>" for cell in cells)
        + "</tr>"
        for pid, *cells in rows
    )
    posts = (
        f"<p>{len(rows)} most recent of {total} post(s).</p><table><tr><th>Post</th><th>Channel</th>"
        f"<th>Status</th><th>Destination</th><th>Created</th><th>Caption</th></tr>{table}</table>"
        if rows
        else "<p>No posts yet: create one through the API and it shows up here.</p>"
    )
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'><title>Markaestro emulator</title></head><body>"
        "<h1>Markaestro emulator</h1>"
        "<p>This is the local Markaestro emulator (a sandbox for the Airflow provider), not markaestro.com. "
        "State lives in memory and is lost when the process stops.</p>"
        f"<ul><li>Health: <a href='{health}'>{health}</a></li>"
        f"<li>Public API: <code>{PUBLIC_PREFIX}</code> (needs <code>Authorization: Bearer &lt;API key&gt;</code>; "
        "the demo keys are under <code>api_keys</code> in the seed)</li>"
        f"<li>Connect API: <code>{CONNECT_PREFIX}</code> (same bearer key)</li>"
        f"<li>Test helpers: <code>{ADMIN_PREFIX}/</code> (request log, faults, clock)</li></ul>"
        f"<h2>Recent posts</h2>{posts}</body></html>"
    )


def _missing(what: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><body><h1>{escape(what)} not found</h1></body></html>", status_code=404)


@router.get(APP + "/posts/{post_id}")
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


@router.get(APP + "/job-runs/{run_id}")
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
