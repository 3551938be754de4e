"""The API key, signed upload URLs and webhook secrets never reach logs (httpx/httpcore included),
reprs or exceptions."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro.exceptions import MarkaestroAPIError
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.transport import RetryPolicy, redact_url

from .conftest import inject

IMAGE = Path(__file__).resolve().parents[2] / "dags" / "campaigns" / "spring_launch" / "coffee.jpg"


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "airflow_provider_markaestro"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_nothing_secret_is_logged_at_debug(markaestro, demo_seed, debug_logs, monkeypatch):
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.01)
    api_secret = demo_seed.api_keys[0].key.rsplit(".", 1)[1]
    with MarkaestroHook() as hook:
        session = hook.create_upload_session(IMAGE.name, "image/jpeg", IMAGE.stat().st_size)
        inject(markaestro, method="PUT", path_regex="^/storage/", action="error_before_commit", status=503)
        hook.put_upload_session(session, IMAGE)  # retried: the retry is logged
        hook.finalize_upload_session(session.id)
        grant = hook.connect_create_upload_url("image/jpeg", IMAGE.stat().st_size)
        inject(markaestro, method="PUT", path_regex="/api/connect/v1/media/upload$", action="drop_after_commit")
        hook.connect_upload_image(IMAGE)  # a fresh grant, lost answer, recovery path logged
        hook.connect_put_upload(grant, IMAGE)
        with pytest.raises(MarkaestroAPIError) as reused:
            hook.connect_put_upload(grant, IMAGE)
        endpoint = hook.create_webhook_endpoint("https://hooks.example.com/x", ["post.published"])
        hook.create_post(api.post_body("threads", "logged?"), idempotency_key="secrets-1")
    text = debug_logs.text
    assert "HTTP Request: PUT" in text and "?<redacted>" in text  # httpx did log the signed URLs...
    assert "retry 1/" in text
    secrets = [api_secret, session.upload_url, grant.upload_url, endpoint.secret]
    secrets += [u.split("?", 1)[1] for u in (session.upload_url, grant.upload_url)]
    for secret in secrets:
        assert secret not in text  # ...but never their query strings
        assert secret not in str(reused.value) and secret not in repr(reused.value)
    for obj in (session, grant, endpoint, hook, hook.transport, hook.settings,
                api.put_upload(session.upload_url, lambda: IMAGE.open("rb"), "image/jpeg", 1).spec):
        for secret in secrets:
            assert secret not in repr(obj)


def test_transport_errors_do_not_carry_query_strings(set_conn, demo_seed):
    set_conn("mk_down", "http://127.0.0.1:9", demo_seed.api_keys[0].key, max_retries=1)
    with MarkaestroHook("mk_down") as hook:
        session_url = "http://127.0.0.1:9/upload/x.jpg?X-Goog-Signature=deadbeef"
        from airflow_provider_markaestro import models as m

        session = m.UploadSession(id="ast_x", asset_id="ast_x", upload_url=session_url,
                                  upload_headers={"Content-Type": "image/jpeg"})
        with pytest.raises(Exception) as exc:
            hook.put_upload_session(session, IMAGE)
    assert "deadbeef" not in str(exc.value) and "/upload/x.jpg" in str(exc.value)


def test_redact_url():
    assert redact_url("PUT https://s.example/o/a.mp4?sig=abc&x=1 done") == "PUT https://s.example/o/a.mp4?<redacted> done"
    assert redact_url("https://markaestro.com/api/public/v1/posts") == "https://markaestro.com/api/public/v1/posts"


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "  "])
def test_a_key_with_surrounding_whitespace_works_and_is_masked(markaestro, demo_seed, set_conn, suffix):
    key = demo_seed.api_keys[0].key
    set_conn("padded", markaestro.url, " " + key + suffix)
    with MarkaestroHook("padded") as hook:
        assert hook.get_bound_product().id == demo_seed.api_keys[0].product_id


@pytest.mark.parametrize("inside", [" ", "\n", "é"], ids=["space", "newline", "non-ascii"])
def test_a_key_a_header_cannot_carry_is_refused_before_sending_without_echoing_it(markaestro, demo_seed, set_conn,
                                                                                   inside):
    key = demo_seed.api_keys[0].key
    broken = key[:20] + inside + key[20:]
    set_conn("broken", markaestro.url, broken)
    before = len(httpx.get(f"{markaestro.url}/_emulator/requests").json()["requests"])
    with MarkaestroHook("broken") as hook, pytest.raises(ValueError, match=r"'broken'.*position 21 of") as err:
        hook.get_bound_product()
    assert key[21:] not in str(err.value) and key[:20] not in str(err.value)
    assert len(httpx.get(f"{markaestro.url}/_emulator/requests").json()["requests"]) == before


def test_a_bad_number_in_the_extras_names_the_connection_and_the_extra(markaestro, demo_seed, set_conn):
    set_conn("slow", markaestro.url, demo_seed.api_keys[0].key, timeout="abc")
    with MarkaestroHook("slow") as hook, pytest.raises(ValueError, match=r"'slow': extra 'timeout' must be a number, got 'abc'"):
        hook.get_bound_product()
