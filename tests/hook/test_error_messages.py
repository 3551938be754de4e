"""What an error tells a user: a one-line next step for the idempotency traps, and, for a request that
got no answer, where it went (origin, method, path) — never a key, header or signed-URL token."""

from __future__ import annotations

import asyncio
import pickle
import socket
import ssl
import httpx
import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro.exceptions import (
    MarkaestroAPIError,
    MarkaestroConflict,
    MarkaestroTransportError,
    MarkaestroValidationError,
)
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.transport import RateLimitPacer, RequestSpec, RetryPolicy, SyncTransport

from .conftest import SAMPLE_IMAGE, inject, requests_log, wait_for_requests


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.01)


def _assert_nothing_secret(text: str, api_key: str) -> None:
    assert api_key not in text and api_key.rsplit(".", 1)[1] not in text
    assert "Bearer" not in text and "Authorization" not in text
    assert "\n" not in text  # one line


# --- idempotency hints --------------------------------------------------------------------------


def test_a_key_reused_with_another_body_says_to_mint_a_new_key(hook, demo_seed):
    hook.create_post(api.post_body("threads", "first body"), idempotency_key="hint-reused")
    with pytest.raises(MarkaestroValidationError) as exc:
        hook.create_post(api.post_body("threads", "second body"), idempotency_key="hint-reused")
    assert exc.value.error_code == "VALIDATION_IDEMPOTENCY_KEY_REUSED"
    assert str(exc.value).endswith(
        "; this Idempotency-Key was already used with a different body: use a new key for new content"
    )
    _assert_nothing_secret(str(exc.value), demo_seed.api_keys[0].key)


def test_a_key_still_in_progress_explains_the_reservation(markaestro, demo_seed):
    body = api.post_body("tiktok", "no media: fails after the key is reserved")
    with MarkaestroHook(max_retries=1) as hook:
        with pytest.raises(MarkaestroValidationError):
            hook.create_post(body, idempotency_key="hint-in-progress", check=False)
        with pytest.raises(MarkaestroConflict) as exc:
            hook.create_post(body, idempotency_key="hint-in-progress", check=False)
    text = str(exc.value)
    assert exc.value.error_code == "IDEMPOTENCY_REQUEST_IN_PROGRESS"
    assert "holds the key for up to 10 minutes" in text and "use a new key" in text
    _assert_nothing_secret(text, demo_seed.api_keys[0].key)


@pytest.mark.parametrize("status", ["published", "publishing"])
def test_publishing_a_post_that_moved_on_says_to_follow_it(hook, markaestro, demo_seed, status):
    post = hook.create_post(api.post_body("threads", "already out"))
    httpx.post(f"{markaestro.url}/_emulator/posts/{post.id}/stored-status", json={"status": status}).raise_for_status()
    with pytest.raises(MarkaestroConflict) as exc:
        hook.publish_post(post.id, idempotency_key="hint-moved-on")
    assert exc.value.status_code == 409 and exc.value.error_code == "VALIDATION_POST_ALREADY_PUBLISHING"
    assert str(exc.value).endswith("; the post already moved on: follow it with get_post")
    assert f"/posts/{post.id}/publish" in str(exc.value)  # the path names the post to follow
    _assert_nothing_secret(str(exc.value), demo_seed.api_keys[0].key)


def test_hints_survive_pickling_and_other_codes_get_none():
    err = MarkaestroConflict(status_code=409, error_code="IDEMPOTENCY_REQUEST_IN_PROGRESS", method="POST",
                             path="/api/public/v1/posts", after_lost_answer=True)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.after_lost_answer is True
    plain = MarkaestroAPIError(status_code=400, error_code="VALIDATION_ERROR", method="POST", path="/p")
    assert str(plain) == "Markaestro POST /p answered HTTP 400 VALIDATION_ERROR"


# --- no answer: name where the request went ------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_refused_connection_names_the_origin_method_and_path(set_conn, demo_seed, mode):
    port = _closed_port()
    key = demo_seed.api_keys[0].key
    set_conn("mk_closed", f"http://user:hunter2@127.0.0.1:{port}/api/public/v1?debug=1", key, max_retries=2)
    hook = MarkaestroHook("mk_closed")
    body = api.post_body("threads", "nowhere")
    with pytest.raises(MarkaestroTransportError) as exc:
        if mode == "sync":
            with hook:
                hook.create_post(body, idempotency_key="closed-port")
        else:
            asyncio.run(hook.acreate_post(body, idempotency_key="closed-port"))
    text = str(exc.value)
    assert text.startswith(
        f"Markaestro: cannot reach http://127.0.0.1:{port} (POST /api/public/v1/posts): Connection refused"
    ), text
    assert "2 attempts" in text and "ConnectError" in text
    assert "hunter2" not in text and "user" not in text and "debug" not in text and "?" not in text
    _assert_nothing_secret(text, key)


def test_an_unreachable_keyless_post_says_it_was_not_retried(set_conn, demo_seed):
    set_conn("mk_closed", f"http://127.0.0.1:{_closed_port()}", demo_seed.api_keys[0].key)
    with MarkaestroHook("mk_closed") as hook, pytest.raises(MarkaestroTransportError) as exc:
        hook.create_post(api.post_body("threads", "nowhere"))
    assert "Connection refused [ConnectError after 1 attempt; not retried" in str(exc.value)


def _failing(exc: Exception, url: str = "https://api.example.com:8443") -> SyncTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return SyncTransport(url, "mk_live_a.cli_b.secretpart", timeout=7, policy=RetryPolicy(max_attempts=1),
                         pacer=RateLimitPacer(enabled=False), http_transport=httpx.MockTransport(handler))


def _caused(outer: Exception, inner: BaseException) -> Exception:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_caused(httpx.ConnectError("[Errno -2] Name or service not known"),
                 socket.gaierror(-2, "Name or service not known")),
         "cannot reach https://api.example.com:8443 (GET /api/public/v1/products): Name or service not known"),
        (_caused(httpx.ConnectError("All connection attempts failed"),
                 _caused(OSError("All connection attempts failed"), ConnectionRefusedError(111, "Connect call failed"))),
         "cannot reach https://api.example.com:8443 (GET /api/public/v1/products): Connection refused"),
        (httpx.ConnectTimeout("timed out"),
         "cannot reach https://api.example.com:8443 (GET /api/public/v1/products): connect timeout after 7s"),
        (httpx.ReadTimeout("timed out"),
         "no answer from https://api.example.com:8443 (GET /api/public/v1/products): read timeout after 7s"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."),
         "lost the connection to https://api.example.com:8443 (GET /api/public/v1/products): Server disconnected"),
        (_caused(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed (_ssl.c:1000)"),
                 ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")),
         "cannot reach https://api.example.com:8443 (GET /api/public/v1/products): [SSL: CERTIFICATE_VERIFY_FAILED]"),
    ],
    ids=["dns", "async-refused", "connect-timeout", "read-timeout", "disconnected", "tls"],
)
def test_every_network_failure_names_where_the_request_went(exc, expected):
    transport = _failing(exc)
    with pytest.raises(MarkaestroTransportError) as err:
        transport.send(RequestSpec("GET", "/products"))
    assert str(err.value).startswith("Markaestro: " + expected), str(err.value)
    assert "secretpart" not in str(err.value)


def test_a_signed_upload_url_is_named_without_its_token():
    transport = _failing(httpx.ConnectError("[Errno 111] Connection refused"))
    spec = RequestSpec("PUT", "", absolute_url="https://u:p@storage.example/bucket/a.mp4?X-Goog-Signature=deadbeef",
                       authenticated=False)
    with pytest.raises(MarkaestroTransportError) as err:
        transport.send(spec)
    text = str(err.value)
    assert text.startswith("Markaestro: cannot reach https://storage.example (PUT /bucket/a.mp4): Connection refused")
    assert "deadbeef" not in text and "u:p" not in text


def test_a_timeout_after_retries_names_the_emulator(markaestro):
    inject(markaestro, method="GET", path_regex="/products$", action="delay", delay_seconds=0.6, count=2)
    with MarkaestroHook(timeout=0.2, max_retries=2) as hook, pytest.raises(MarkaestroTransportError) as exc:
        hook.list_products()
    assert len(wait_for_requests(markaestro, "GET", "/api/public/v1/products", 2)) == 2
    assert str(exc.value).startswith(
        f"Markaestro: no answer from {markaestro.url} (GET /api/public/v1/products): read timeout after 0.2s"
    )
    assert "ReadTimeout after 2 attempts]" in str(exc.value)


def test_content_markaestro_would_refuse_is_named_before_anything_is_sent(markaestro):
    """The hook counts a caption the way the platform does (UTF-16 units after trim) and names the
    field, the size given and the limit; no request leaves the machine (sync and async). Bodies the
    create route takes (publish-time shapes, integral floats, tuples) are sent; batches answer per item."""
    from airflow_provider_markaestro.rules import MarkaestroContentError

    too_long = "é" * 499 + "🚀"  # 501 UTF-16 units: Threads allows 500
    with MarkaestroHook() as hook:
        with pytest.raises(MarkaestroContentError) as sync_err:
            hook.create_post(api.post_body("threads", too_long, destination_id="threads:threads:1"))
        with pytest.raises(MarkaestroContentError) as async_err:
            asyncio.run(hook.acreate_post(api.post_body("threads", too_long)))
        assert hook.create_post(api.post_body("threads", "é" * 499 + "a")).status == "draft"  # 500: allowed
        asset = hook.upload_media(SAMPLE_IMAGE).id
        story = api.post_body("instagram", "two", (asset, asset), settings={"__type": "instagram", "postType": "story"})
        assert hook.create_post(story).status == "draft"  # refused at publish time, not at create
        cover = {"__type": "tiktok", "photoCoverIndex": 1.0}
        assert hook.create_post(api.post_body("tiktok", "c", [asset, asset], settings=cover)).status == "draft"
        batch = hook.create_posts([api.post_body("linkedin", "fine"), api.post_body("instagram", "no media")])
        assert (batch.created, batch.results[1].error) == (1, "VALIDATION_INSTAGRAM_REQUIRES_MEDIA")
    text = str(sync_err.value)
    assert "threads:threads:1 caption" in text and "501" in text and "500" in text
    assert "500" in str(async_err.value)
    posts = [r for r in requests_log(markaestro) if r["method"] == "POST" and r["path"] == "/api/public/v1/posts"]
    assert len(posts) == 4  # the refused ones never left: 500-unit, story, cover, batch
