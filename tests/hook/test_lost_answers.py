"""Requests whose answer was lost: a DELETE's replay that finds its target gone is done; a POST
without an Idempotency-Key is never sent again once it may have reached the server.

Faults are injected into the emulator and every request travels over real HTTP; the few cases the
emulator cannot produce (a 429 or a refused connection before a 404) use an httpx mock transport.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro.exceptions import (
    MarkaestroAPIError,
    MarkaestroNotFound,
    MarkaestroTransportError,
    MarkaestroValidationError,
)
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.transport import RequestSpec, RetryPolicy

from .conftest import SAMPLE_IMAGE, emulator_posts, inject, requests_log, wait_for_requests


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.01 * attempt)


@pytest.fixture(params=["sync", "async"])
def run(request, hook):
    """``run("delete_post", id)``: the sync method, or its async twin on a fresh event loop."""

    def _run(name: str, *args: Any, **kwargs: Any) -> Any:
        if request.param == "sync":
            return getattr(hook, name)(*args, **kwargs)

        async def go():
            try:
                return await getattr(hook, "a" + name)(*args, **kwargs)
            finally:
                await hook.aclose()

        return asyncio.run(go())

    return _run


def _statuses(emulator, method: str, path: str) -> list[int | None]:
    return [r["status"] for r in requests_log(emulator) if r["method"] == method and r["path"] == path]


# --- DELETE: a 404 to the replay after a lost answer means the lost attempt deleted it ---------------


@pytest.mark.parametrize("action", ["drop_after_commit", "error_after_commit"])
def test_a_post_deleted_by_the_lost_attempt_is_done(run, hook, markaestro, caplog, action):
    post = hook.create_post(api.post_body("threads", "delete me once"))
    inject(markaestro, method="DELETE", path_regex="^/api/public/v1/posts/", action=action, status=502)
    caplog.set_level(logging.INFO, logger="airflow_provider_markaestro")
    assert run("delete_post", post.id) == {"deleted": True, "id": post.id}
    path = f"/api/public/v1/posts/{post.id}"
    first = None if action == "drop_after_commit" else 502
    assert _statuses(markaestro, "DELETE", path) == [first, 404]  # the retry found it gone
    assert post.id not in {p["id"] for p in emulator_posts(markaestro)}
    assert "already gone" in caplog.text and path in caplog.text
    assert any(r.levelno == logging.INFO for r in caplog.records if "already gone" in r.getMessage())


def test_a_media_asset_deleted_by_the_lost_attempt_is_done(run, hook, markaestro, caplog):
    asset = hook.upload_media(SAMPLE_IMAGE)
    inject(markaestro, method="DELETE", path_regex="^/api/public/v1/media/", action="drop_after_commit")
    caplog.set_level(logging.INFO, logger="airflow_provider_markaestro")
    assert run("delete_media", asset.id) == {"deleted": True, "id": asset.id}
    assert _statuses(markaestro, "DELETE", f"/api/public/v1/media/{asset.id}") == [None, 404]
    assert "already gone" in caplog.text


def test_a_webhook_endpoint_disabled_by_the_lost_attempt_is_done(run, hook, markaestro):
    endpoint = hook.create_webhook_endpoint("https://hooks.example.com/lost", ["post.published"])
    inject(markaestro, method="DELETE", path_regex="^/api/public/v1/webhook-endpoints/", action="drop_after_commit")
    assert run("disable_webhook_endpoint", endpoint.id) is None
    # soft-disable: the replay answers 204 (§7.6), never a 404, and the endpoint is disabled
    assert _statuses(markaestro, "DELETE", f"/api/public/v1/webhook-endpoints/{endpoint.id}") == [None, 204]
    assert hook.list_webhook_endpoints()[0].status == "disabled"


def test_a_404_on_the_first_attempt_stays_an_error(run, hook, markaestro):
    post = hook.create_post(api.post_body("threads", "deleted twice"))
    hook.delete_post(post.id)
    with pytest.raises(MarkaestroNotFound) as exc:
        run("delete_post", post.id)
    assert exc.value.after_lost_answer is False
    asset = hook.upload_media(SAMPLE_IMAGE)
    hook.delete_media(asset.id)
    with pytest.raises(MarkaestroNotFound):
        run("delete_media", asset.id)
    with pytest.raises(MarkaestroNotFound):
        run("disable_webhook_endpoint", "whe_does_not_exist")


def test_a_get_that_404s_after_a_lost_answer_is_still_an_error(hook, markaestro):
    """Only DELETEs read a 404 as done: a lost GET cannot have removed anything."""
    inject(markaestro, method="GET", path_regex="^/api/public/v1/posts/", action="drop_after_commit")
    with pytest.raises(MarkaestroNotFound) as exc:
        hook.get_post("A" * 20)
    assert exc.value.after_lost_answer is True


def test_a_delete_that_is_refused_while_publishing_stays_an_error(hook, markaestro):
    post = hook.create_post(api.post_body("threads", "busy"))
    httpx.post(f"{markaestro.url}/_emulator/posts/{post.id}/stored-status", json={"status": "publishing"})
    inject(markaestro, method="DELETE", path_regex="^/api/public/v1/posts/", action="error_before_commit", status=503)
    with pytest.raises(MarkaestroValidationError) as exc:
        hook.delete_post(post.id)  # the 503 is retried; the 400 that follows is the answer
    assert exc.value.error_code == "VALIDATION_POST_IS_PUBLISHING" and exc.value.after_lost_answer


def _mock_hook(set_conn, responses: list[Any]) -> tuple[MarkaestroHook, list[str]]:
    """A hook whose sync and async transports answer (or raise) ``responses`` in turn (factories are
    called, so a parametrized answer is fresh for each test)."""
    set_conn("mk_mock", "http://mk.test", "mk_live_x.cli_y.z", pace_requests=False)
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        item = responses[len(sent) - 1]
        item = item() if callable(item) else item
        if isinstance(item, Exception):
            raise item
        return item

    async def aanswer(request: httpx.Request) -> httpx.Response:
        return answer(request)

    hook = MarkaestroHook("mk_mock", http_transport=httpx.MockTransport(answer),
                          async_http_transport=httpx.MockTransport(aanswer))
    return hook, sent


NOT_FOUND = {"error": "NOT_FOUND", "requestId": "r"}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    "first",
    [
        lambda: httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "RATE_LIMITED", "retryAfter": 0}),
        lambda: httpx.ConnectError("[Errno 111] Connection refused"),
    ],
    ids=["429", "connection-refused"],
)
def test_a_404_after_an_attempt_that_never_reached_the_server_is_an_error(set_conn, first, mode):
    """A 429 was refused untouched and a refused connection sent nothing: the 404 is the real answer."""
    hook, sent = _mock_hook(set_conn, [first, httpx.Response(404, json=NOT_FOUND)])
    with pytest.raises(MarkaestroNotFound) as exc:
        if mode == "sync":
            hook.delete_post("p1")
        else:
            asyncio.run(hook.adelete_post("p1"))
    assert sent == ["DELETE", "DELETE"] and exc.value.after_lost_answer is False


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_404_after_a_5xx_then_a_429_is_done(set_conn, mode):
    """Once an attempt may have committed, a later 404 can be its doing, whatever came in between."""
    hook, sent = _mock_hook(set_conn, [
        httpx.Response(503, json={"error": "INTERNAL_ERROR"}),
        httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "RATE_LIMITED"}),
        httpx.Response(404, json=NOT_FOUND),
    ])
    result = hook.delete_post("p1") if mode == "sync" else asyncio.run(hook.adelete_post("p1"))
    assert result == {"deleted": True, "id": "p1"} and len(sent) == 3


# --- POST without an Idempotency-Key: never sent twice once it may have reached the server ---------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_post_without_a_key_is_not_resent_after_a_read_timeout(markaestro, mode):
    inject(markaestro, method="POST", path_regex="/posts$", action="delay", delay_seconds=1.0)
    body = api.post_body("threads", "slow create")
    with MarkaestroHook(timeout=0.3) as hook, pytest.raises(MarkaestroTransportError) as exc:
        if mode == "sync":
            hook.create_post(body)
        else:
            asyncio.run(hook.acreate_post(body))
    # A resend would go out ~0.3 s in and be logged at once; the delayed attempt is logged at ~1 s.
    wait_for_requests(markaestro, "POST", "/api/public/v1/posts", 2, timeout=1.5)
    assert len(wait_for_requests(markaestro, "POST", "/api/public/v1/posts", 1)) == 1
    text = str(exc.value)
    assert f"no answer from {markaestro.url} (POST /api/public/v1/posts): read timeout" in text
    assert "after 1 attempt;" in text and "not retried" in text


def test_a_post_with_a_key_is_resent_after_a_read_timeout_and_creates_once(markaestro):
    inject(markaestro, method="POST", path_regex="/posts$", action="delay", delay_seconds=1.0)
    with MarkaestroHook(timeout=0.3) as hook:
        post = hook.create_post(api.post_body("threads", "slow but keyed"), idempotency_key="lost-timeout-key")
    sent = wait_for_requests(markaestro, "POST", "/api/public/v1/posts", 2)
    assert len(sent) == 2 and all(r["idempotencyKey"] for r in sent)
    assert [p["id"] for p in emulator_posts(markaestro)] == [post.id]


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_blank_idempotency_key_counts_as_none(hook, markaestro, blank):
    """The server trims the key and ignores an empty one: a blank key must not make a replay look safe."""
    assert RequestSpec("POST", "/posts", idempotency_key=blank).retry_safe is False
    inject(markaestro, method="POST", path_regex="/posts$", action="drop_after_commit")
    with pytest.raises(MarkaestroTransportError, match="not retried"):
        hook.create_post(api.post_body("threads", "blank key"), idempotency_key=blank)
    sent = [r for r in requests_log(markaestro) if r["path"] == "/api/public/v1/posts"]
    assert len(sent) == 1 and not sent[0]["idempotencyKey"]
    assert len(emulator_posts(markaestro)) == 1  # it was created: a resend would have made two


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    "failure",
    [
        lambda: httpx.ReadError("[Errno 104] Connection reset by peer"),
        lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
        lambda: httpx.ReadTimeout("timed out"),
        lambda: httpx.WriteTimeout("timed out"),
        lambda: httpx.Response(502, json={"error": "INTERNAL_ERROR"}),
    ],
    ids=["reset", "disconnected", "read-timeout", "write-timeout", "502"],
)
def test_a_post_without_a_key_is_not_resent_after_any_unknown_outcome(set_conn, failure, mode):
    """Every kind of unknown outcome, not only the emulator's drop: a keyless POST goes out once."""
    hook, sent = _mock_hook(set_conn, [failure, httpx.Response(201, json={})])
    with pytest.raises((MarkaestroTransportError, MarkaestroAPIError)):
        if mode == "sync":
            hook.create_post(api.post_body("threads", "once"))
        else:
            asyncio.run(hook.acreate_post(api.post_body("threads", "once")))
    assert sent == ["POST"]
