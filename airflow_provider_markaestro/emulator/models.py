"""In-memory records of the emulated workspace and their wire serializations."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clock import iso

PROVIDER_CHANNEL: dict[str, str] = {
    "meta": "facebook",
    "instagram": "instagram",
    "tiktok": "tiktok",
    "threads": "threads",
    "linkedin": "linkedin",
}
# Emission order of destinations (§7.1) and the provider-specific keys each one carries, in order.
PROVIDER_ORDER = tuple(PROVIDER_CHANNEL)
# Connect shows flat statuses; everything not listed (platform_action_required, partial_failed...) is draft.
CONNECT_STATUS: dict[str, str] = {"published": "posted", "publishing": "processing", "scheduled": "scheduled", "failed": "failed"}
PROVIDER_EXTRAS: dict[str, tuple[str, ...]] = {
    "meta": ("pageId",),
    "instagram": ("igAccountId", "username"),
    "tiktok": ("username",),
    "threads": ("username",),
    "linkedin": ("username", "pageId"),
}


@dataclass(frozen=True)
class Behaviour:
    """Seeded per-destination publish behaviour (durations already scaled)."""

    fail_reason: str | None = None
    publish_seconds: float | None = None
    media_processing_seconds: float = 0.0
    fail_retryable: bool = False
    fail_attempts: int | None = None

    def fails(self, attempt: int) -> bool:
        """Whether the post's `attempt`-th platform attempt (1-based) on this destination fails."""
        return self.fail_reason is not None and (self.fail_attempts is None or attempt <= self.fail_attempts)


@dataclass(frozen=True)
class Destination:
    provider: str
    display_name: str
    account_id: str
    extras: dict[str, str | None]
    behaviour: Behaviour

    @property
    def channel(self) -> str:
        return PROVIDER_CHANNEL[self.provider]

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.channel}:{self.account_id}"

    @property
    def delivery_mode(self) -> str:
        return "platform_inbox" if self.provider == "tiktok" else "direct_publish"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "channel": self.channel,
            "status": "ready",
            "displayName": self.display_name,
            "accountId": self.account_id,
            **{key: self.extras.get(key) for key in PROVIDER_EXTRAS[self.provider]},
            "deliveryMode": self.delivery_mode,
            "willAlsoPublishTo": [],
        }


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    status: str
    categories: tuple[str, ...]
    destinations: tuple[Destination, ...]  # already in emission order

    def summary_json(self) -> dict[str, Any]:
        channels = list(dict.fromkeys(d.channel for d in self.destinations))
        return {
            "id": self.id,
            "name": self.name or self.id,
            "status": self.status,
            "categories": list(self.categories),
            "availableChannels": channels,
            "destinationsCount": len(self.destinations),
        }

    def destination(self, destination_id: str) -> Destination | None:
        return next((d for d in self.destinations if d.id == destination_id), None)


@dataclass(frozen=True)
class KeyRecord:
    workspace_id: str
    client_id: str
    secret_sha256: str
    product_id: str | None
    scopes: frozenset[str]
    status: str
    expires_at: str | None
    owner_is_member: bool


@dataclass
class MediaAsset:
    id: str
    type: str
    mime_type: str
    size_bytes: int
    width: int | None
    height: int | None
    url: str
    storage_path: str
    file_path: Path
    file_name: str
    download_token: str
    created_at: float
    created_by_id: str = ""

    def to_json(self) -> dict[str, Any]:
        """The `POST /media` shape (finalize uses a different, fuller record)."""
        return {
            "id": self.id,
            "type": self.type,
            "mimeType": self.mime_type,
            "sizeBytes": self.size_bytes,
            "width": self.width,
            "height": self.height,
            "url": self.url,
            "createdAt": iso(self.created_at),
        }

    def record_json(self) -> dict[str, Any]:
        """The finalize shape: the full stored record (`url` is called `downloadUrl` here)."""
        return {
            "id": self.id,
            "type": self.type,
            "storagePath": self.storage_path,
            "downloadUrl": self.url,
            "mimeType": self.mime_type,
            "sizeBytes": self.size_bytes,
            "width": self.width,
            "height": self.height,
            "originalFileName": self.file_name,
            "createdByType": "api_client",
            "createdById": self.created_by_id,
            "createdAt": iso(self.created_at),
        }


@dataclass
class FollowUp:
    """A post transition that happens after its run finished (TikTok inbox / TikTok processing)."""

    due_at: float
    kind: str  # "tiktok_inbox" | "tiktok_published"


@dataclass
class Post:
    id: str
    product_id: str
    channel: str
    caption: str
    destination_id: str
    destination_provider: str
    delivery_mode: str
    settings: dict[str, Any] | None
    media_asset_ids: list[str]
    media_urls: list[str]
    created_at: float
    updated_at: float
    idempotency_key: str | None
    status: str = "draft"
    scheduled_at: str | None = None
    scheduled_ts: float | None = None  # parsed scheduled_at; the scheduler publishes when it is due
    api_created: bool = True  # seeded (dashboard) posts only get webhooks from API publish runs
    external_id: str = ""
    external_url: str = ""
    publish_results: list[dict[str, Any]] = field(default_factory=list)
    next_action: str = ""
    run_id: str | None = None
    published_via: str | None = None
    follow_up: FollowUp | None = None
    platform_attempts: int = 0  # platform publishes tried for this post (seeded `fail_attempts` counts these)
    schedule_retries: int = 0  # automatic scheduler retries used so far (§8.9)

    def connect_json(self) -> dict[str, Any]:
        """Connect `GET /posts` item (§10.7) with the flat status of §8.6."""
        flat = CONNECT_STATUS.get(self.status, "draft")
        return {
            "id": self.id,
            "caption": self.caption,
            "status": flat,
            "scheduled_at": self.scheduled_at,
            "media": [{"object": {"url": url}} for url in self.media_urls],
            "media_urls": list(self.media_urls),
            "social_accounts": [],
            "is_draft": flat == "draft",
        }

    def to_json(self) -> dict[str, Any]:
        """Exact keys and order of §8.1."""
        return {
            "id": self.id,
            "channel": self.channel,
            "status": self.status,
            "caption": self.caption,
            "productId": self.product_id,
            "destinationId": self.destination_id,
            "destinationProvider": self.destination_provider,
            "deliveryMode": self.delivery_mode,
            "settings": copy.deepcopy(self.settings),
            "mediaAssetIds": list(self.media_asset_ids),
            "mediaUrls": list(self.media_urls),
            "scheduledAt": self.scheduled_at,
            "externalId": self.external_id,
            "externalUrl": self.external_url,
            "publishResults": copy.deepcopy(self.publish_results),
            "nextAction": self.next_action,
            "sourceType": "",
            "slideshowId": "",
            "slideshowTitle": "",
            "slideshowSlideCount": None,
            "slideshowCoverIndex": None,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass
class JobRun:
    id: str
    post_id: str
    created_at: float
    start_at: float  # when the emulated worker claims it
    finish_at: float  # when the platform call completes
    idempotency_key: str | None
    duration: float = 0.0  # length of the running phase, re-applied when a deferred run is claimed again
    scheduler: bool = False  # a due scheduled post being published: no job run is visible on the API
    destination_id: str = ""
    status: str = "queued"
    message: str = "Publish queued"
    details: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def summary_json(self) -> dict[str, Any]:
        """The 202 body of `POST /posts/:id/publish`."""
        return {
            "id": self.id,
            "type": "publish_post",
            "status": self.status,
            "resourceType": "post",
            "resourceId": self.post_id,
            "createdAt": iso(self.created_at),
        }

    def to_json(self) -> dict[str, Any]:
        """The `GET /job-runs/:id` body (§7.5)."""
        return {
            "id": self.id,
            "type": "publish_post",
            "status": self.status,
            "message": self.message,
            "resourceType": "post",
            "resourceId": self.post_id,
            "startedAt": iso(self.started_at) if self.started_at is not None else None,
            "finishedAt": iso(self.finished_at) if self.finished_at is not None else None,
            "details": copy.deepcopy(self.details),
            "createdAt": iso(self.created_at),
        }
