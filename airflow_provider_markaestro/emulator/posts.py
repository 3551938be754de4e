"""Post creation business rules (§7.3.1 steps 1-10, §8.2-§8.4), applied after schema validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, mapped, not_found
from .ids import auto_id
from .jsstr import js_length, js_trim
from .models import Destination, MediaAsset, Post, Product


@dataclass(frozen=True)
class ChannelRules:
    max_media: int
    requires_media: bool
    caption_max: int


CHANNEL_RULES: dict[str, ChannelRules] = {
    "facebook": ChannelRules(10, False, 4000),
    "instagram": ChannelRules(10, True, 2200),
    "tiktok": ChannelRules(35, True, 2200),
    "threads": ChannelRules(10, False, 500),
    "pinterest": ChannelRules(5, True, 500),
    "linkedin": ChannelRules(20, False, 3000),
}
# Delivery mode when the request omits it (§8.2): manual-first for Meta channels and TikTok.
DEFAULT_DELIVERY_MODE: dict[str, str] = {
    "facebook": "manual_reminder",
    "instagram": "manual_reminder",
    "tiktok": "manual_reminder",
    "threads": "direct_publish",
    "linkedin": "direct_publish",
    "pinterest": "direct_publish",
}
SINGLE_VIDEO_CHANNELS = ("pinterest", "linkedin")


def check_content(data: Mapping[str, Any]) -> None:
    """Steps 1-5: media count, required media, caption length (UTF-16), text rules, settings type.

    Only reads the caption: what is stored is the caption exactly as the route passed it.
    """
    channel = data["channel"]
    rules = CHANNEL_RULES[channel]
    media_ids: list[str] = data["mediaAssetIds"]
    caption: str = data["caption"]
    if len(media_ids) > rules.max_media:
        raise mapped("VALIDATION_TOO_MANY_MEDIA_ASSETS")
    if rules.requires_media and not media_ids:
        raise mapped(f"VALIDATION_{channel.upper()}_REQUIRES_MEDIA")
    if js_length(caption) > rules.caption_max:
        raise mapped(f"VALIDATION_{channel.upper()}_CAPTION_TOO_LONG")
    if channel == "facebook" and not caption and not media_ids:
        raise mapped("VALIDATION_FACEBOOK_POST_REQUIRES_CONTENT_OR_MEDIA")
    # Blank, not just empty: Connect does not trim captions, so "   " reaches this check verbatim.
    if channel == "linkedin" and not js_trim(caption):
        raise mapped("VALIDATION_LINKEDIN_POST_REQUIRES_CONTENT")
    settings = data.get("settings")
    if settings is not None and settings["__type"] != channel:
        raise mapped("VALIDATION_SETTINGS_CHANNEL_MISMATCH")


def check_product_scope(data: Mapping[str, Any], key_product_id: str) -> str:
    """Step 6: a named product must be the key's own; returns the product to use."""
    named = data.get("productId")
    if named and named != key_product_id:
        raise mapped("VALIDATION_PRODUCT_SCOPE_MISMATCH")
    return key_product_id


def resolve_media(media_ids: list[str], assets: Mapping[str, MediaAsset]) -> list[MediaAsset]:
    """Step 7: every id must exist in the workspace (media is not brand-scoped)."""
    missing = [media_id for media_id in media_ids if media_id not in assets]
    if missing:
        raise not_found()
    return [assets[media_id] for media_id in media_ids]


def check_media_kinds(channel: str, media: list[MediaAsset]) -> None:
    """Step 8: video placement rules per channel."""
    videos = sum(1 for asset in media if asset.type == "video")
    if channel in SINGLE_VIDEO_CHANNELS and videos and len(media) > 1:
        raise mapped(f"VALIDATION_{channel.upper()}_VIDEO_MUST_BE_SINGLE_MEDIA")
    if channel == "tiktok":
        if videos > 1:
            raise mapped("VALIDATION_TIKTOK_MAX_ONE_VIDEO")
        if videos and len(media) > videos:
            raise mapped("VALIDATION_TIKTOK_VIDEO_CANNOT_BE_COMBINED")


def is_manual(channel: str, requested: str | None) -> bool:
    """Step 9: resolve the requested mode; platform_inbox exists only for TikTok."""
    mode = requested or DEFAULT_DELIVERY_MODE[channel]
    if mode == "platform_inbox" and channel != "tiktok":
        raise mapped("VALIDATION_DELIVERY_MODE_NOT_SUPPORTED_FOR_CHANNEL")
    return mode == "manual_reminder"


def resolve_destination(product: Product, channel: str, destination_id: str | None, manual: bool) -> Destination | None:
    """Step 10 (§8.3): strict for platform delivery; manual posts swallow the failure and keep no destination."""
    candidates = [d for d in product.destinations if d.channel == channel]
    try:
        if destination_id:
            match = next((d for d in candidates if d.id == destination_id), None)
            if match is None:
                raise mapped("VALIDATION_DESTINATION_NOT_CONFIGURED_FOR_PRODUCT")
            return match
        if len(candidates) > 1:
            raise mapped("VALIDATION_DESTINATION_ID_REQUIRED_FOR_CHANNEL")
        if not candidates:
            raise mapped("VALIDATION_DESTINATION_NOT_CONFIGURED_FOR_PRODUCT")
        return candidates[0]
    except ApiError:
        if manual:
            return None
        raise


def build_post(
    data: Mapping[str, Any],
    *,
    key_product_id: str,
    products: Mapping[str, Product],
    assets: Mapping[str, MediaAsset],
    now: float,
    idempotency_key: str | None,
) -> Post:
    """Run steps 1-10 in the server's order and return the new draft (step 11 stores it)."""
    channel = data["channel"]
    check_content(data)
    product_id = check_product_scope(data, key_product_id)
    media = resolve_media(data["mediaAssetIds"], assets)
    check_media_kinds(channel, media)
    manual = is_manual(channel, data.get("deliveryMode"))
    product = products.get(product_id)
    if product is None:
        raise not_found()
    destination = resolve_destination(product, channel, data.get("destinationId"), manual)
    return Post(
        id=auto_id(),
        product_id=product_id,
        channel=channel,
        caption=data["caption"],
        destination_id=destination.id if destination else "",
        destination_provider=destination.provider if destination else "",
        delivery_mode="manual_reminder" if manual or destination is None else destination.delivery_mode,
        settings=data.get("settings"),
        media_asset_ids=list(data["mediaAssetIds"]),
        media_urls=[asset.url for asset in media],
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key,
    )
