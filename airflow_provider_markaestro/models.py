"""Typed views of Markaestro API payloads (pydantic v2).

The models are *read* models: every field the contract documents is typed, unknown fields are kept
(``extra="allow"``) so a newer server never breaks an older provider, and ``to_json()`` gives back
plain JSON (camelCase, as on the wire) because model instances do not survive Airflow XCom.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Channel(StrEnum):
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    TIKTOK = "tiktok"
    THREADS = "threads"
    PINTEREST = "pinterest"
    LINKEDIN = "linkedin"


class DeliveryMode(StrEnum):
    DIRECT_PUBLISH = "direct_publish"
    PLATFORM_INBOX = "platform_inbox"
    MANUAL_REMINDER = "manual_reminder"


class PostStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    PLATFORM_ACTION_REQUIRED = "platform_action_required"
    FAILED = "failed"
    PARTIAL_FAILED = "partial_failed"
    EXPORTED_FOR_REVIEW = "exported_for_review"

    @classmethod
    def settled(cls) -> frozenset[PostStatus]:
        """Statuses a publish can end in: nothing more happens without a human or a new publish."""
        return frozenset({cls.PUBLISHED, cls.PLATFORM_ACTION_REQUIRED, cls.FAILED, cls.PARTIAL_FAILED})


class JobRunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (JobRunStatus.SUCCEEDED, JobRunStatus.FAILED)


class WireModel(BaseModel):
    """Base: camelCase on the wire, snake_case in Python, unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON with the wire's field names: safe for XCom, logs and trigger events."""
        return self.model_dump(mode="json", by_alias=True)


class Product(WireModel):
    id: str
    name: str = ""
    status: str = "active"
    categories: list[str] = Field(default_factory=list)
    available_channels: list[str] = Field(default_factory=list)
    destinations_count: int = 0


class Destination(WireModel):
    id: str
    provider: str
    channel: str
    status: str = "ready"
    display_name: str = ""
    account_id: str = ""
    delivery_mode: str = DeliveryMode.DIRECT_PUBLISH
    will_also_publish_to: list[str] = Field(default_factory=list)
    page_id: str | None = None
    ig_account_id: str | None = None
    username: str | None = None


class MediaAsset(WireModel):
    """An uploaded asset. ``url`` (multipart) and ``download_url`` (upload session) name the same thing."""

    id: str
    type: str
    mime_type: str = ""
    size_bytes: int = 0
    width: int | None = None
    height: int | None = None
    url: str | None = None
    download_url: str | None = None
    storage_path: str | None = None
    original_file_name: str | None = None
    created_at: str | None = None

    @property
    def hosted_url(self) -> str | None:
        return self.url or self.download_url


class PublishResult(WireModel):
    channel: str
    success: bool = False
    pending: bool | None = None
    action_required: bool | None = None
    external_id: str | None = None
    external_url: str | None = None
    next_action: str | None = None
    error: str | None = None


class Post(WireModel):
    id: str
    channel: str
    status: str
    caption: str = ""
    product_id: str = ""
    destination_id: str = ""
    destination_provider: str = ""
    delivery_mode: str = ""
    settings: dict[str, Any] | None = None
    media_asset_ids: list[str] = Field(default_factory=list)
    media_urls: list[str] = Field(default_factory=list)
    scheduled_at: str | None = None
    external_id: str = ""
    external_url: str = ""
    publish_results: list[PublishResult] = Field(default_factory=list)
    next_action: str = ""
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def failure_reason(self) -> str:
        """The platform's reason for a failed publish: only publishResults carry it on the post."""
        reasons = [r.error for r in self.publish_results if r.error]
        return "; ".join(reasons)


class JobRun(WireModel):
    id: str
    type: str = "publish_post"
    status: str
    message: str = ""
    resource_type: str = "post"
    resource_id: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in (JobRunStatus.SUCCEEDED, JobRunStatus.FAILED)


class BatchItemResult(WireModel):
    ok: bool
    post: Post | None = None
    error: str | None = None


class BatchCreateResult(WireModel):
    results: list[BatchItemResult]
    created: int
    total: int


class PostPage(WireModel):
    posts: list[Post]
    count: int
    next_cursor: str | None = None


class UploadSession(WireModel):
    id: str
    asset_id: str
    upload_url: str = Field(repr=False)  # signed: the token is a credential
    upload_method: str = "PUT"
    upload_headers: dict[str, str] = Field(default_factory=dict)
    expires_at: str | None = None


class WebhookEndpoint(WireModel):
    id: str
    url: str
    events: list[str]
    status: str
    secret: str | None = Field(default=None, repr=False)
    created_at: str | None = None
    updated_at: str | None = None


class WebhookEvent(WireModel):
    """A webhook delivery's envelope (§9): ``{"id","type","createdAt","workspaceId","data"}``.

    Duplicates happen (lease-based delivery): de-duplicate on ``id``.
    """

    id: str
    type: str
    created_at: str
    workspace_id: str = ""
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def post_id(self) -> str | None:
        value = self.data.get("postId")
        return str(value) if value is not None else None


# --- Connect API (flat, snake_case on the wire) -------------------------------------------------


class ConnectModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class SocialAccount(ConnectModel):
    id: str
    product_id: str
    product: str = ""
    platform: str
    username: str = ""

    @property
    def destination_id(self) -> str:
        return self.id.split("#", 1)[1] if "#" in self.id else self.id


class ConnectProduct(ConnectModel):
    id: str
    name: str = ""
    channels: list[str] = Field(default_factory=list)
    accounts: list[SocialAccount] = Field(default_factory=list)


class ConnectUploadUrl(ConnectModel):
    media_id: str
    upload_url: str = Field(repr=False)


class ConnectUploadedMedia(ConnectModel):
    media_id: str
    url: str = ""


class ConnectCreatedPost(ConnectModel):
    id: str
    channel: str
    status: str


class ConnectPostError(ConnectModel):
    account: str
    error: str


class ConnectCreateResult(ConnectModel):
    id: str
    created: list[ConnectCreatedPost] = Field(default_factory=list)
    errors: list[ConnectPostError] = Field(default_factory=list)


class ConnectPost(ConnectModel):
    id: str
    caption: str = ""
    status: str
    scheduled_at: str | None = None
    media_urls: list[str] = Field(default_factory=list)
    is_draft: bool = False


class ConnectPostPage(ConnectModel):
    data: list[ConnectPost]
    next_cursor: str | None = None
