"""Receiving Markaestro webhooks: signature verification and event parsing (contract §9).

A delivery is ``POST <your url>`` with a compact JSON envelope and three headers::

    X-Markaestro-Event:     post.published
    X-Markaestro-Timestamp: 2026-08-21T15:02:13.907Z          (ISO-8601 time of this attempt)
    X-Markaestro-Signature: <lowercase hex HMAC-SHA256>

The signature key is the whole endpoint secret *including* its ``whsec_`` prefix (UTF-8); the signed
message is ``<timestamp header> + "." + <raw body bytes>``. Verify against the raw bytes you
received — never against re-serialised JSON. Deliveries may repeat (and the timestamp and signature
change per attempt): de-duplicate on the event ``id``.

Usage::

    verify_signature(secret, headers["X-Markaestro-Timestamp"], raw_body, headers["X-Markaestro-Signature"])
    event = parse_event(raw_body)

Exceptions never contain the secret or the expected signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from airflow_provider_markaestro.exceptions import MarkaestroError
from airflow_provider_markaestro.models import WebhookEvent

EVENT_HEADER = "X-Markaestro-Event"
TIMESTAMP_HEADER = "X-Markaestro-Timestamp"
SIGNATURE_HEADER = "X-Markaestro-Signature"
DEFAULT_TOLERANCE = timedelta(minutes=5)
EVENT_TYPES = frozenset({"post.publish.queued", "post.published", "post.action_required", "post.failed"})


class WebhookVerificationError(MarkaestroError):
    """A webhook delivery could not be authenticated or parsed."""


class WebhookSignatureMismatch(WebhookVerificationError):
    """The signature header does not match the body and timestamp (wrong secret or tampering)."""


class WebhookTimestampError(WebhookVerificationError):
    """The timestamp header is missing, not ISO-8601, or outside the accepted tolerance (replay)."""


class WebhookPayloadError(WebhookVerificationError):
    """The body is not a Markaestro event envelope."""


def _as_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def parse_timestamp(value: str | None) -> datetime:
    """The ``X-Markaestro-Timestamp`` header as an aware UTC datetime (ISO-8601, ``Z`` or offset)."""
    if not value or not value.strip():
        raise WebhookTimestampError("missing X-Markaestro-Timestamp header")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise WebhookTimestampError("X-Markaestro-Timestamp is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def compute_signature(secret: str, timestamp_header: str, body: bytes | str) -> str:
    """Lowercase hex HMAC-SHA256 of ``timestamp + "." + body`` keyed with the full ``whsec_…`` secret."""
    message = timestamp_header.encode("utf-8") + b"." + _as_bytes(body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp_header: str | None,
    body_bytes: bytes | bytearray | memoryview | str,
    signature_header: str | None,
    tolerance: timedelta | None = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> datetime:
    """Authenticate one delivery; returns the parsed timestamp, raises on any problem.

    :param secret: the endpoint secret as returned by ``create_webhook_endpoint`` (``whsec_…``).
    :param timestamp_header: ``X-Markaestro-Timestamp`` exactly as received.
    :param body_bytes: the raw request body exactly as received.
    :param signature_header: ``X-Markaestro-Signature`` (hex; surrounding whitespace and case ignored).
    :param tolerance: how far the timestamp may be from ``now`` either way (default 5 minutes);
        ``None`` disables the check (e.g. when replaying stored deliveries).
    :param now: the current time (aware datetime; default: now, UTC), for tests.
    :raises WebhookSignatureMismatch: wrong secret, altered body/timestamp, or malformed signature.
    :raises WebhookTimestampError: missing/unparseable timestamp, or outside the tolerance.
    """
    if not secret:
        raise WebhookVerificationError("no webhook secret configured")
    if not signature_header or not signature_header.strip():
        raise WebhookSignatureMismatch("missing X-Markaestro-Signature header")
    stamp = parse_timestamp(timestamp_header)
    expected = compute_signature(secret, str(timestamp_header), body_bytes)
    received = signature_header.strip().lower()
    # compare_digest on ASCII bytes: constant time, and no exception for non-ASCII input
    if not hmac.compare_digest(expected.encode("ascii"), received.encode("utf-8", "replace")):
        raise WebhookSignatureMismatch("X-Markaestro-Signature does not match the body and timestamp")
    if tolerance is not None:
        current = now or datetime.now(UTC)
        if current.tzinfo is None:
            current = current.replace(tzinfo=UTC)
        skew = abs(current - stamp)
        if skew > tolerance:
            raise WebhookTimestampError(
                f"X-Markaestro-Timestamp {timestamp_header!s} is {skew.total_seconds():.0f}s away from now "
                f"(tolerance {tolerance.total_seconds():.0f}s): possible replay"
            )
    return stamp


def parse_event(body: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> WebhookEvent:
    """The event envelope as a :class:`~airflow_provider_markaestro.models.WebhookEvent`.

    Unknown event types are accepted (newer servers may add some); check ``event.type``.
    """
    if isinstance(body, Mapping):
        payload: Any = dict(body)
    else:
        try:
            payload = json.loads(_as_bytes(body))
        except (ValueError, UnicodeDecodeError):
            raise WebhookPayloadError("webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookPayloadError("webhook body is not a JSON object")
    try:
        return WebhookEvent.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise WebhookPayloadError(f"webhook body is not a Markaestro event envelope (bad fields: {fields})") from None


def verify_and_parse(
    secret: str,
    headers: Mapping[str, str],
    body_bytes: bytes | str,
    tolerance: timedelta | None = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> WebhookEvent:
    """Verify a delivery from its headers (any case) and body, then parse it.

    Also checks that ``X-Markaestro-Event`` (when present) names the envelope's ``type``.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    verify_signature(
        secret,
        lowered.get(TIMESTAMP_HEADER.lower()),
        body_bytes,
        lowered.get(SIGNATURE_HEADER.lower()),
        tolerance=tolerance,
        now=now,
    )
    event = parse_event(body_bytes)
    declared = lowered.get(EVENT_HEADER.lower())
    if declared and declared != event.type:
        raise WebhookPayloadError(f"X-Markaestro-Event {declared!r} does not match the body's type {event.type!r}")
    return event
