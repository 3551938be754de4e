"""Webhook endpoints (§7.6) and signed deliveries with retries (§9).

The book only keeps records; the ticker thread sends due deliveries outside the state lock, so a
slow receiver never blocks API requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from .clock import iso
from .errors import mapped, not_found
from .ids import auto_id

EVENTS = ("post.publish.queued", "post.published", "post.action_required", "post.failed")
MAX_ATTEMPTS = 5
RETRY_DELAYS_SECONDS = (60.0, 300.0, 900.0, 3600.0)  # after failed attempt 1..4 (scaled)
SEND_TIMEOUT_SECONDS = 10.0

_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_SPECIAL_SCHEMES = ("http", "https", "ftp", "ws", "wss", "file")


def new_secret() -> str:
    """`whsec_` + 24 random bytes as unpadded base64url (32 characters)."""
    return "whsec_" + base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 keyed by the full secret (prefix included) over `<timestamp>.<body>`."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def is_url(value: str) -> bool:
    """Roughly WHATWG `new URL()`: any scheme; special schemes need a host without spaces."""
    match = _SCHEME_RE.match(value)
    if match is None or any(ch in value for ch in " \t\n"):
        return False
    scheme = match.group(0)[:-1].lower()
    if scheme not in _SPECIAL_SCHEMES or scheme == "file":
        return True
    rest = value[match.end() :].lstrip("/\\")
    host = re.split(r"[/?#\\]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    return bool(host) and not host.startswith(":")


@dataclass
class WebhookEndpoint:
    id: str
    url: str
    events: list[str]
    secret: str
    created_at: float
    updated_at: float
    status: str = "active"

    def to_json(self) -> dict[str, Any]:
        """List shape: never the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "status": self.status,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }

    def created_json(self) -> dict[str, Any]:
        """The one answer that reveals the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "status": self.status,
            "secret": self.secret,
            "createdAt": iso(self.created_at),
        }


@dataclass
class Attempt:
    at: float
    response_code: int | None
    error: str | None


@dataclass
class Delivery:
    id: str
    event_id: str
    event_type: str
    endpoint_id: str
    body: bytes
    next_attempt_at: float | None
    status: str = "pending"  # pending | sending | succeeded | failed
    attempts: list[Attempt] = field(default_factory=list)

    def to_json(self, url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "eventId": self.event_id,
            "type": self.event_type,
            "endpointId": self.endpoint_id,
            "url": url,
            "status": self.status,
            "attemptCount": len(self.attempts),
            "attempts": [
                {"attemptedAt": iso(a.at), "responseCode": a.response_code, "error": a.error} for a in self.attempts
            ],
            "nextAttemptAt": iso(self.next_attempt_at) if self.next_attempt_at is not None and self.status == "pending" else None,
            "event": json.loads(self.body),
        }


@dataclass(frozen=True)
class Job:
    """One attempt to send, handed to the ticker (the secret never leaves the emulator otherwise)."""

    delivery_id: str
    url: str
    secret: str
    event_type: str
    body: bytes
    generation: int


class WebhookBook:
    """Endpoints and deliveries of the (single) workspace; callers hold the state lock."""

    def __init__(self, *, workspace_id: str, max_active: int, scale: float, generation: int) -> None:
        self.workspace_id = workspace_id
        self.max_active = max_active
        self.scale = scale
        self.generation = generation
        self.endpoints: dict[str, WebhookEndpoint] = {}
        self.deliveries: dict[str, Delivery] = {}

    def create(
        self, url: str, events: list[str], now: float, *, secret: str | None = None, status: str = "active", seeded: bool = False
    ) -> WebhookEndpoint:
        """A seeded endpoint is never refused; the cap applies to API calls."""
        if not seeded and status == "active" and sum(1 for e in self.endpoints.values() if e.status == "active") >= self.max_active:
            raise mapped("WEBHOOK_ENDPOINT_LIMIT_REACHED")
        endpoint = WebhookEndpoint(auto_id(), url, list(events), secret or new_secret(), now, now, status)
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    def listing(self) -> list[dict[str, Any]]:
        """Storage order = document id order; active and disabled alike."""
        return [self.endpoints[key].to_json() for key in sorted(self.endpoints)]

    def disable(self, endpoint_id: str, now: float) -> None:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None:
            raise not_found()
        if endpoint.status != "disabled":
            endpoint.status, endpoint.updated_at = "disabled", now

    def emit(self, event_type: str, data: dict[str, Any], at: float) -> None:
        """One event id per occurrence, fanned out to every active endpoint subscribed to the type."""
        targets = [e for e in self.endpoints.values() if e.status == "active" and event_type in e.events]
        if not targets:
            return
        envelope = {
            "id": f"evt_{uuid.uuid4()}",
            "type": event_type,
            "createdAt": iso(at),
            "workspaceId": self.workspace_id,
            "data": data,
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        for endpoint in targets:
            delivery = Delivery(uuid.uuid4().hex, envelope["id"], event_type, endpoint.id, body, next_attempt_at=at)
            self.deliveries[delivery.id] = delivery

    def due(self, now: float) -> list[Job]:
        """Claim due deliveries for sending; those whose endpoint is gone or disabled fail unsent."""
        jobs: list[Job] = []
        for delivery in self.deliveries.values():
            if delivery.status != "pending" or delivery.next_attempt_at is None or delivery.next_attempt_at > now:
                continue
            endpoint = self.endpoints.get(delivery.endpoint_id)
            if endpoint is None or endpoint.status != "active":
                delivery.status, delivery.next_attempt_at = "failed", None
                continue
            delivery.status = "sending"
            jobs.append(Job(delivery.id, endpoint.url, endpoint.secret, delivery.event_type, delivery.body, self.generation))
        return jobs

    def record(self, job: Job, at: float, response_code: int | None, error: str | None) -> None:
        """Apply an attempt's outcome: 2xx succeeds; otherwise retry on the schedule until attempt 5."""
        delivery = self.deliveries.get(job.delivery_id)
        if delivery is None or job.generation != self.generation:
            return
        delivery.attempts.append(Attempt(at, response_code, error))
        if response_code is not None and 200 <= response_code < 300:
            delivery.status, delivery.next_attempt_at = "succeeded", None
        elif len(delivery.attempts) >= MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.status = "pending"
            delivery.next_attempt_at = at + RETRY_DELAYS_SECONDS[len(delivery.attempts) - 1] * self.scale

    def overview(self) -> list[dict[str, Any]]:
        return [d.to_json(self.endpoints[d.endpoint_id].url) for d in self.deliveries.values() if d.endpoint_id in self.endpoints]


def send(client: httpx.Client, job: Job, timestamp: str) -> tuple[int | None, str | None]:
    """POST one attempt; returns (status code, None) or (None, error text)."""
    headers = {
        "Content-Type": "application/json",
        "X-Markaestro-Event": job.event_type,
        "X-Markaestro-Timestamp": timestamp,
        "X-Markaestro-Signature": sign(job.secret, timestamp, job.body),
    }
    try:
        response = client.post(job.url, content=job.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    except ValueError as exc:  # e.g. a scheme httpx cannot send (ftp://): the attempt fails
        return None, f"{type(exc).__name__}: {exc}"[:500]
    return response.status_code, None
