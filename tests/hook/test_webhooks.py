"""Webhook signature verification (contract §9, test vector §15.7) and a real signed delivery."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro.webhooks import (
    WebhookPayloadError,
    WebhookSignatureMismatch,
    WebhookTimestampError,
    WebhookVerificationError,
    compute_signature,
    parse_event,
    verify_and_parse,
    verify_signature,
)

SECRET = "whsec_J3q9Xv2LpR8tWm5Kz1Ny7Bc4Hd6Fg0Sa"
TIMESTAMP = "2026-08-21T15:02:13.907Z"
SIGNATURE = "e8988a09263f7af6c9e148bcbe10f9c6f4fe04114c34d4c33f9af784ad03d134"
BODY = (
    b'{"id":"evt_0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f","type":"post.published","createdAt":"2026-08-21T15:02:11.482Z",'
    b'"workspaceId":"Xq3LmN8pR2tV6wYz1aBc","data":{"postId":"9fJ2kL7qW3xR8tY5uP1m","channel":"linkedin",'
    b'"status":"published","externalId":"urn:li:share:7234567890123456789",'
    b'"externalUrl":"https://www.linkedin.com/feed/update/urn:li:share:7234567890123456789"}}'
)
NOW = datetime(2026, 8, 21, 15, 4, tzinfo=UTC)


def test_contract_test_vector_verifies():
    assert compute_signature(SECRET, TIMESTAMP, BODY) == SIGNATURE
    stamp = verify_signature(SECRET, TIMESTAMP, BODY, SIGNATURE, now=NOW)
    assert stamp == datetime(2026, 8, 21, 15, 2, 13, 907000, tzinfo=UTC)
    assert verify_signature(SECRET, TIMESTAMP, BODY, " " + SIGNATURE.upper() + "\n", now=NOW)  # case/space
    event = parse_event(BODY)
    assert (event.id, event.type, event.workspace_id, event.post_id) == (
        "evt_0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f", "post.published", "Xq3LmN8pR2tV6wYz1aBc", "9fJ2kL7qW3xR8tY5uP1m")
    assert event.data["externalId"] == "urn:li:share:7234567890123456789"


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature"),
    [
        ("whsec_wrong", TIMESTAMP, BODY, SIGNATURE),
        (SECRET.removeprefix("whsec_"), TIMESTAMP, BODY, SIGNATURE),  # the prefix is part of the key
        (SECRET, TIMESTAMP, BODY.replace(b"published", b"failed", 1), SIGNATURE),
        (SECRET, "2026-08-21T15:02:14.907Z", BODY, SIGNATURE),
        (SECRET, TIMESTAMP, BODY + b"\n", SIGNATURE),
        (SECRET, TIMESTAMP, BODY, "sha256=" + SIGNATURE),
        (SECRET, TIMESTAMP, BODY, SIGNATURE[:-1] + "é"),
        (SECRET, TIMESTAMP, BODY, ""),
    ],
)
def test_any_alteration_is_rejected_without_leaking_the_secret(secret, timestamp, body, signature):
    with pytest.raises(WebhookSignatureMismatch) as exc:
        verify_signature(secret, timestamp, body, signature, now=NOW)
    assert SECRET not in str(exc.value) and SIGNATURE not in str(exc.value)


def test_timestamp_tolerance_and_parsing():
    with pytest.raises(WebhookTimestampError, match="possible replay"):
        verify_signature(SECRET, TIMESTAMP, BODY, SIGNATURE, now=NOW + timedelta(minutes=10))
    with pytest.raises(WebhookTimestampError):  # from the future, too
        verify_signature(SECRET, TIMESTAMP, BODY, SIGNATURE, now=NOW - timedelta(minutes=10))
    verify_signature(SECRET, TIMESTAMP, BODY, SIGNATURE, now=NOW + timedelta(minutes=10), tolerance=timedelta(hours=1))
    verify_signature(SECRET, TIMESTAMP, BODY, SIGNATURE, tolerance=None)  # stored delivery, checked later
    for bad in (None, "", "yesterday", "1787324533"):
        with pytest.raises(WebhookTimestampError):
            verify_signature(SECRET, bad, BODY, SIGNATURE, now=NOW)
    offset = "2026-08-21T17:02:13.907+02:00"
    signature = compute_signature(SECRET, offset, BODY)
    assert verify_signature(SECRET, offset, BODY, signature, now=NOW) == datetime(2026, 8, 21, 15, 2, 13, 907000,
                                                                                  tzinfo=UTC)
    with pytest.raises(WebhookVerificationError):
        verify_signature("", TIMESTAMP, BODY, SIGNATURE, now=NOW)


def test_parse_event_errors_and_header_helper():
    for bad in (b"not json", b"[1, 2]", b'{"id": "evt_1"}'):
        with pytest.raises(WebhookPayloadError):
            parse_event(bad)
    headers = {"x-markaestro-timestamp": TIMESTAMP, "X-MARKAESTRO-SIGNATURE": SIGNATURE,
               "X-Markaestro-Event": "post.published"}
    assert verify_and_parse(SECRET, headers, BODY, now=NOW).type == "post.published"
    with pytest.raises(WebhookPayloadError):
        verify_and_parse(SECRET, {**headers, "X-Markaestro-Event": "post.failed"}, BODY, now=NOW)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_real_delivery_from_the_emulator_verifies(hook, markaestro):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = hook.create_webhook_endpoint(
            f"http://127.0.0.1:{server.server_port}/hook", ["post.publish.queued", "post.published"]
        )
        post = hook.create_post(api.post_body("threads", "webhook me"))
        run = hook.publish_post(post.id)
        deadline = time.monotonic() + 10
        while len(_Receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    events = [verify_and_parse(endpoint.secret, headers, body) for headers, body in _Receiver.received]
    assert {e.type for e in events} == {"post.publish.queued", "post.published"}
    queued = next(e for e in events if e.type == "post.publish.queued")
    assert queued.data["runId"] == run.id and queued.post_id == post.id
    headers, body = _Receiver.received[0]
    with pytest.raises(WebhookSignatureMismatch):
        verify_signature("whsec_" + "x" * 32, headers["X-Markaestro-Timestamp"], body,
                         headers["X-Markaestro-Signature"])
    assert json.loads(body)["id"].startswith("evt_")
