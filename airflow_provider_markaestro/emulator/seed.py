"""Seed file schema and loader: the workspace, products, destinations, keys and timings to emulate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from .keys import ALL_SCOPES, CLIENT_ID_RE, SECRET_RE, parse_key
from .models import PROVIDER_CHANNEL, PROVIDER_EXTRAS
from .ratelimit import ROUTE_BASE_LIMITS
from .throttle import BUSY_RETRY_SECONDS, DEFAULT_LIMITS
from .webhooks import EVENTS

DEMO_SEED_PATH = Path(__file__).with_name("seeds") / "demo.yaml"

Scope = Literal["products.read", "media.write", "posts.read", "posts.write", "posts.publish", "job_runs.read", "webhooks.manage"]
_EXTRA_FIELDS = {"pageId": "page_id", "igAccountId": "ig_account_id", "username": "username"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class BehaviourSeed(_Model):
    """How the emulated platform treats publishes to one destination (seconds are scaled)."""

    fail_reason: str | None = None
    # §8.9: the scheduler retries a retryable failure (+2/+5/+15/+30 min); API runs never retry.
    fail_retryable: bool = False
    fail_attempts: int | None = Field(default=None, ge=1)  # only each post's first N attempts fail (None: all)
    publish_seconds: float | None = Field(default=None, ge=0)
    media_processing_seconds: float = Field(default=0.0, ge=0)


class DestinationSeed(_Model):
    provider: Literal["meta", "instagram", "tiktok", "threads", "linkedin"]
    channel: str | None = None
    account_id: str = Field(alias="accountId", min_length=1)
    display_name: str = Field(alias="displayName")
    page_id: str | None = Field(default=None, alias="pageId")
    ig_account_id: str | None = Field(default=None, alias="igAccountId")
    username: str | None = None
    behaviour: BehaviourSeed = BehaviourSeed()

    @model_validator(mode="before")
    @classmethod
    def _only_provider_keys(cls, data: Any) -> Any:
        """Reject extras the provider never emits, so a seed cannot produce an off-contract destination."""
        if isinstance(data, Mapping):
            allowed = PROVIDER_EXTRAS.get(str(data.get("provider")), ())
            for wire_name, attr in _EXTRA_FIELDS.items():
                if (wire_name in data or attr in data) and wire_name not in allowed:
                    raise ValueError(f"{wire_name!r} is not a key of provider {data.get('provider')!r}")
        return data

    @model_validator(mode="after")
    def _channel_matches(self) -> DestinationSeed:
        if self.channel is not None and self.channel != PROVIDER_CHANNEL[self.provider]:
            raise ValueError(f"provider {self.provider!r} serves channel {PROVIDER_CHANNEL[self.provider]!r}")
        return self

    def extras(self) -> dict[str, str | None]:
        """Provider-specific keys; Facebook pageId and Instagram igAccountId default to accountId."""
        values = {"pageId": self.page_id, "igAccountId": self.ig_account_id, "username": self.username}
        if self.provider == "meta" and values["pageId"] is None:
            values["pageId"] = self.account_id
        if self.provider == "instagram" and values["igAccountId"] is None:
            values["igAccountId"] = self.account_id
        return {key: values[key] for key in PROVIDER_EXTRAS[self.provider]}


class ProductSeed(_Model):
    id: str = Field(min_length=1, pattern=r"^[^/#]+$")
    name: str
    status: str = "active"
    categories: list[str] = []
    destinations: list[DestinationSeed] = []
    deleted: bool = False  # keys may stay bound to it, but the product document is gone (404s)


class ApiKeySeed(_Model):
    key: str
    name: str | None = None
    product_id: str | None  # None = a legacy unbound key (refused with API_KEY_NOT_BOUND_TO_PRODUCT)
    scopes: list[Scope] = list(ALL_SCOPES)
    status: Literal["active", "revoked"] = "active"
    expires_at: str | None = None  # ISO-8601; an unparseable value makes the key unusable, as in production
    owner_is_member: bool = True


class ClockSeed(_Model):
    """Durations in seconds; `scale` multiplies every duration (including the rate-limit window)."""

    run_queued_seconds: float = Field(default=1.0, ge=0)
    run_running_seconds: float = Field(default=2.0, ge=0)
    tiktok_inbox_seconds: float = Field(default=5.0, ge=0)
    rate_limit_window_seconds: PositiveFloat = 60.0
    scale: PositiveFloat = 1.0
    tick_seconds: PositiveFloat = 0.05  # real seconds between background ticks (not scaled)
    # Real seconds (scaled) between the publish route's precondition read and its transaction.
    # Above 0 it opens the window in which §4.4's race-only publish errors happen for real.
    publish_race_window_seconds: float = Field(default=0.0, ge=0)


class ThrottleSeed(_Model):
    """Per-destination publish throttles (§7.4): claims per window, deferral when over or busy."""

    enabled: bool = True
    limits: dict[Literal["facebook", "instagram", "tiktok", "threads", "pinterest", "linkedin"], int] = dict(DEFAULT_LIMITS)
    window_seconds: PositiveFloat = 60.0  # scaled
    destination_lock: bool = True
    busy_retry_seconds: PositiveFloat = BUSY_RETRY_SECONDS  # scaled


class WebhookEndpointSeed(_Model):
    url: str = Field(min_length=1)
    events: list[Literal["post.publish.queued", "post.published", "post.action_required", "post.failed"]] = Field(
        default=list(EVENTS), min_length=1
    )
    secret: str | None = Field(default=None, pattern=r"^whsec_[A-Za-z0-9_-]{32}$")  # default: minted at load
    status: Literal["active", "disabled"] = "active"


class WebhooksSeed(_Model):
    max_active_endpoints: int = Field(default=25, ge=0)
    endpoints: list[WebhookEndpointSeed] = []


class UploadsSeed(_Model):
    finalize_delay_seconds: float = Field(default=0.0, ge=0)  # real seconds a finalize holds its lease


class PostSeed(_Model):
    """A post that already exists (e.g. made in the dashboard), in any stored status."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,64}$")
    product_id: str
    channel: Literal["facebook", "instagram", "tiktok", "threads", "pinterest", "linkedin"]
    status: str = "draft"  # free string, like the stored field
    caption: str = ""
    destination_id: str = ""
    delivery_mode: str = ""
    settings: dict[str, Any] | None = None
    scheduled_at: str | None = None
    created_at: str | None = None  # default: load time (later entries are newer)
    external_id: str = ""
    external_url: str = ""
    next_action: str = ""
    api_created: bool = False  # dashboard posts get webhooks only from API publish runs


class RateLimitSeed(_Model):
    global_base: int = Field(default=240, ge=1)
    routes: dict[str, int] = {}

    @model_validator(mode="after")
    def _known_routes(self) -> RateLimitSeed:
        unknown = sorted(set(self.routes) - set(ROUTE_BASE_LIMITS))
        if unknown:
            raise ValueError(f"unknown rate-limit routes {unknown}; known: {sorted(ROUTE_BASE_LIMITS)}")
        return self


class WorkspaceSeed(_Model):
    id: str = Field(min_length=1, pattern=r"^[^.]+$")
    plan: Literal["starter", "pro", "business"] = "starter"
    subscription_active: bool = True
    storage_limit_bytes: int | None = Field(default=None, ge=0)  # None = the plan's cap
    bucket: str = "markaestro-emulator.firebasestorage.app"


class Seed(_Model):
    workspace: WorkspaceSeed
    clock: ClockSeed = ClockSeed()
    rate_limits: RateLimitSeed = RateLimitSeed()
    publish_throttles: ThrottleSeed = ThrottleSeed()
    webhooks: WebhooksSeed = WebhooksSeed()
    uploads: UploadsSeed = UploadsSeed()
    cors_origins: list[str] = []  # PUBLIC_API_CORS_ORIGINS: exact origins allowed on /api/public/v1
    products: list[ProductSeed] = []
    api_keys: list[ApiKeySeed] = []
    posts: list[PostSeed] = []

    @model_validator(mode="after")
    def _consistent(self) -> Seed:
        product_ids = [p.id for p in self.products]
        if len(set(product_ids)) != len(product_ids):
            raise ValueError("duplicate product ids")
        post_ids = [p.id for p in self.posts if p.id is not None]
        if len(set(post_ids)) != len(post_ids):
            raise ValueError("duplicate post ids")
        for post in self.posts:
            if post.product_id not in product_ids:
                raise ValueError(f"post bound to unknown product {post.product_id!r}")
        for product in self.products:
            dest_ids = [(d.provider, d.account_id) for d in product.destinations]
            if len(set(dest_ids)) != len(dest_ids):
                raise ValueError(f"duplicate destinations in product {product.id}")
        client_ids: set[str] = set()
        for api_key in self.api_keys:
            parsed = parse_key(api_key.key)
            if parsed is None or not CLIENT_ID_RE.match(parsed.client_id) or not SECRET_RE.match(parsed.secret):
                raise ValueError("api key must look like mk_live_<workspaceId>.cli_<uuid4>.<32 base64url chars>")
            if parsed.workspace_id != self.workspace.id:
                raise ValueError(f"api key for workspace {parsed.workspace_id!r}, seed workspace is {self.workspace.id!r}")
            if parsed.client_id in client_ids:
                raise ValueError(f"duplicate api client {parsed.client_id}")
            client_ids.add(parsed.client_id)
            if api_key.product_id is not None and api_key.product_id not in product_ids:
                raise ValueError(f"api key bound to unknown product {api_key.product_id!r}")
        return self

    def with_scale(self, scale: float | None) -> Seed:
        """Copy with the clock scale overridden (CLI `--scale`, EmulatorServer(scale=...))."""
        if scale is None:
            return self
        return self.model_copy(update={"clock": self.clock.model_copy(update={"scale": scale})})


def load_seed(source: Seed | Mapping[str, Any] | str | Path | None = None) -> Seed:
    """Load a seed from a model, a dict, or a YAML/JSON file; None means the packaged demo seed."""
    if isinstance(source, Seed):
        return source
    if isinstance(source, Mapping):
        return Seed.model_validate(dict(source))
    path = Path(source) if source is not None else DEMO_SEED_PATH
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    return Seed.model_validate(data)
