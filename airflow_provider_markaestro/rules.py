"""Per-channel content rules of the Markaestro Public API, checked on the client side.

One table, two users: the operators validate a post body before calling ``POST /posts``, and
:mod:`airflow_provider_markaestro.campaign` validates a whole campaign folder before the first
upload. The numbers come from the API contract (``markaestro-api.md``):

* §7.2 — media types and sizes (image ≤ 10 MiB, video ≤ 250 MiB, the allowed MIME types and the
  stored file extensions);
* §8.4 — per-channel rules enforced by ``POST /posts`` (caption max, media count, media required,
  text-only rules, video rules);
* §8.5 — the ``settings`` objects (``__type`` = ``tiktok`` | ``instagram``);
* §8.2 — which ``deliveryMode`` values a channel accepts.

Checks that the server only runs at publish time (Instagram story = one item, reel = one video)
are checked here too: they never succeed, and failing before anything is uploaded is cheaper.

This module is pure Python (no Airflow import) so that it is cheap to import at DAG parse time.
Nothing here ever changes a caption: captions are sent byte for byte; the checks only *measure*.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALL_CHANNELS",
    "CAMPAIGN_CHANNELS",
    "CHANNEL_RULES",
    "DELIVERY_MODES",
    "EXTENSION_MIME_TYPES",
    "IMAGE_MIME_TYPES",
    "INSTAGRAM_POST_TYPES",
    "MAX_IMAGE_BYTES",
    "MAX_VIDEO_BYTES",
    "SERVER_CAPTION_MAX",
    "SERVER_MAX_MEDIA_ITEMS",
    "TIKTOK_PRIVACY_LEVELS",
    "VIDEO_MIME_TYPES",
    "ChannelRule",
    "ContentProblem",
    "MarkaestroContentError",
    "caption_length",
    "check_media_file",
    "check_post",
    "default_delivery_mode",
    "js_trim",
    "max_bytes_for_kind",
    "media_kind",
    "mime_type_for",
]

# --------------------------------------------------------------------------------------------
# Media (§7.2)
# --------------------------------------------------------------------------------------------

#: 10 MiB — ``media.ts`` image cap.
MAX_IMAGE_BYTES = 10 * 1024 * 1024
#: 250 MiB — ``media.ts`` video cap.
MAX_VIDEO_BYTES = 250 * 1024 * 1024

IMAGE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
VIDEO_MIME_TYPES = frozenset(
    {"video/mp4", "video/quicktime", "video/webm", "video/x-msvideo", "video/x-matroska"}
)

#: File extension (lower case, no dot) → the MIME type the upload must declare.
EXTENSION_MIME_TYPES: Mapping[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
    "mkv": "video/x-matroska",
}


def mime_type_for(filename: str) -> str | None:
    """MIME type for a file name from its extension (case-insensitive), ``None`` if not allowed."""
    ext = posixpath.splitext(filename)[1].lower().lstrip(".")
    return EXTENSION_MIME_TYPES.get(ext)


def media_kind(mime_or_filename: str) -> str | None:
    """``"image"`` / ``"video"`` for an allowed MIME type or file name, else ``None``."""
    value = mime_or_filename.lower()
    mime = value if value in IMAGE_MIME_TYPES or value in VIDEO_MIME_TYPES else mime_type_for(value)
    if mime in IMAGE_MIME_TYPES:
        return "image"
    if mime in VIDEO_MIME_TYPES:
        return "video"
    return None


def max_bytes_for_kind(kind: str) -> int:
    """Size cap in bytes for ``"image"`` or ``"video"``."""
    return MAX_VIDEO_BYTES if kind == "video" else MAX_IMAGE_BYTES


def _human_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n:,} bytes ({n / (1024 * 1024):.1f} MiB)"
    return f"{n:,} bytes"


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentProblem:
    """One reason why Markaestro would refuse (or fail to publish) a post or a media file.

    ``where`` says which thing is wrong (a destination id, ``"campaign.yaml posts[2]
    (key=launch)"``, a file name …), ``field`` which field (``caption``, ``mediaAssetIds``,
    ``settings.collaborators`` …), ``given`` the size or value that was given and ``limit`` the
    limit that applies (both ``None`` when not meaningful). ``code`` is the server error code the
    same input would get, when there is one.
    """

    where: str
    field: str
    message: str
    given: Any = None
    limit: Any = None
    code: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.where} " if self.where else ""
        return f"{prefix}{self.field}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "field": self.field,
            "message": self.message,
            "given": self.given,
            "limit": self.limit,
            "code": self.code,
        }


class MarkaestroContentError(ValueError):
    """Content that Markaestro would refuse; ``problems`` lists every reason, not just the first."""

    def __init__(self, problems: Sequence[ContentProblem], title: str | None = None):
        self.problems: list[ContentProblem] = list(problems)
        self.title = title or f"{len(self.problems)} content problem(s)"
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [f"{self.title}:"]
        lines.extend(f"  - {p}" for p in self.problems)
        return "\n".join(lines)

    def __reduce__(self):  # keep problems when pickled (e.g. across processes)
        return (type(self), (self.problems, self.title))


# --------------------------------------------------------------------------------------------
# Caption measuring
# --------------------------------------------------------------------------------------------

# ECMAScript WhiteSpace + LineTerminator (what String.prototype.trim() removes). Python's
# str.strip() differs: it also strips U+001C..U+001F and U+0085 but keeps U+FEFF.
_JS_WHITESPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def js_trim(text: str) -> str:
    """Return ``text`` trimmed exactly like JavaScript ``String.prototype.trim()``.

    Only used to *measure* a caption the way the server's ``z.string().trim()`` sees it; the
    caption that is sent is never modified.
    """
    start, end = 0, len(text)
    while start < end and text[start] in _JS_WHITESPACE:
        start += 1
    while end > start and text[end - 1] in _JS_WHITESPACE:
        end -= 1
    return text[start:end]


def caption_length(text: str) -> int:
    """Length of ``text`` as the Markaestro server counts it: UTF-16 code units.

    The server checks captions with zod's ``.max(n)`` on a JavaScript string, and a JavaScript
    string's ``length`` is its number of UTF-16 code units. So a character outside the Basic
    Multilingual Plane (most emoji, e.g. "🚀" U+1F680) counts **2**, a combining mark (e.g. the
    U+0301 in "e\\u0301") counts **1** on its own, and a flag or a ZWJ emoji sequence counts
    the sum of its parts. Python's ``len()`` counts code points instead, so a caption of 2,200
    emoji would be 2,200 here but 4,400 on the server: counting code points would let a caption
    pass this check and then fail with ``VALIDATION_<CHANNEL>_CAPTION_TOO_LONG`` there.

    No normalisation (NFC/NFD) is applied: the server measures the string it receives.
    """
    if not text:
        return 0
    # 'surrogatepass' keeps lone surrogates countable (1 unit each, as in JS) instead of failing.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# --------------------------------------------------------------------------------------------
# Channel rules (§8.4)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRule:
    channel: str
    caption_max: int
    max_media: int
    media_required: bool
    #: Facebook: a caption or at least one media item.
    caption_or_media_required: bool = False
    #: LinkedIn: a non-blank caption, always.
    caption_required: bool = False
    #: Pinterest/LinkedIn: a video must be the only item.
    video_must_be_alone: bool = False
    #: TikTok: at most this many videos (None = no limit).
    max_videos: int | None = None
    #: TikTok: a video cannot be combined with images.
    no_video_image_mix: bool = False
    #: ``settings.__type`` accepted for this channel (None = no settings object).
    settings_type: str | None = None


#: Server-wide caps (zod schema of ``POST /posts``) that apply before the channel rules.
SERVER_CAPTION_MAX = 4000
SERVER_MAX_MEDIA_ITEMS = 35

CHANNEL_RULES: Mapping[str, ChannelRule] = {
    # caption max 4000 is the zod cap; the channel catalog says 63206 but never gets to see more.
    "facebook": ChannelRule("facebook", 4000, 10, False, caption_or_media_required=True),
    "instagram": ChannelRule("instagram", 2200, 10, True, settings_type="instagram"),
    "tiktok": ChannelRule(
        "tiktok", 2200, 35, True, max_videos=1, no_video_image_mix=True, settings_type="tiktok"
    ),
    "threads": ChannelRule("threads", 500, 10, False),
    "pinterest": ChannelRule("pinterest", 500, 5, True, video_must_be_alone=True),
    "linkedin": ChannelRule("linkedin", 3000, 20, False, caption_required=True, video_must_be_alone=True),
}

#: Every ``channel`` value the API accepts.
ALL_CHANNELS: tuple[str, ...] = tuple(CHANNEL_RULES)
#: Channels that can have a destination (Pinterest never has one, §8.10) — "all" in a campaign.
CAMPAIGN_CHANNELS: tuple[str, ...] = ("facebook", "instagram", "tiktok", "threads", "linkedin")

DELIVERY_MODES = ("direct_publish", "platform_inbox", "manual_reminder")

INSTAGRAM_POST_TYPES = ("feed", "reel", "story")
INSTAGRAM_MAX_COLLABORATORS = 3
INSTAGRAM_COLLABORATOR_MAX_CHARS = 60
INSTAGRAM_MAX_ALT_TEXTS = 10
INSTAGRAM_ALT_TEXT_MAX_CHARS = 1000

TIKTOK_POST_MODES = ("inbox", "direct_post")
TIKTOK_PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
TIKTOK_BOOL_FIELDS = (
    "disableComment",
    "disableDuet",
    "disableStitch",
    "commercialContentDisclosure",
    "brandOrganicToggle",
    "brandContentToggle",
)
TIKTOK_PHOTO_COVER_INDEX_MAX = 9


def default_delivery_mode(channel: str, requested: str | None = None) -> str:
    """Delivery mode to *send* for ``channel`` when the caller wants ``requested``.

    The provider never relies on the server default (which is ``manual_reminder`` for
    Facebook/Instagram/TikTok, §8.2): without a request it sends ``direct_publish`` — except for
    TikTok, whose API path is always the creator inbox (``platform_inbox``; a TikTok Direct Post
    is chosen with ``settings.postMode = "direct_post"``). ``manual_reminder`` is kept as asked.
    """
    if requested == "manual_reminder":
        return "manual_reminder"
    if channel == "tiktok":
        return "platform_inbox"
    return requested or "direct_publish"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _describe_media(kinds: Sequence[str]) -> str:
    images = sum(1 for k in kinds if k == "image")
    videos = sum(1 for k in kinds if k == "video")
    parts = []
    if images:
        parts.append(_plural(images, "image"))
    if videos:
        parts.append(_plural(videos, "video"))
    others = len(kinds) - images - videos
    if others:
        parts.append(f"{others} of unknown kind")
    return " + ".join(parts) if parts else "no media"


def check_media_file(name: str, size: int | None, where: str = "", *, field: str = "file") -> list[ContentProblem]:
    """Check one media file by name (extension → MIME) and size in bytes (§7.2 check order)."""
    where = where or name
    mime = mime_type_for(name)
    if mime is None:
        ext = posixpath.splitext(name)[1] or "(none)"
        allowed = ", ".join(sorted(set(EXTENSION_MIME_TYPES)))
        return [
            ContentProblem(
                where,
                field,
                f"{name}: file type {ext} is not allowed (allowed extensions: {allowed})",
                given=ext,
                limit=allowed,
                code="VALIDATION_INVALID_FILE_TYPE",
            )
        ]
    if size is None:
        return []
    kind = media_kind(mime)
    limit = max_bytes_for_kind(kind or "image")
    if size <= 0:
        return [ContentProblem(where, field, f"{name}: file is empty (0 bytes)", given=size, limit=1, code="VALIDATION_FILE_EMPTY")]
    if size > limit:
        return [
            ContentProblem(
                where,
                field,
                f"{name}: {kind} of {_human_bytes(size)} given, at most {_human_bytes(limit)} allowed",
                given=size,
                limit=limit,
                code=f"VALIDATION_FILE_TOO_LARGE_{(kind or 'image').upper()}",
            )
        ]
    return []


def _check_settings(
    channel: str,
    rule: ChannelRule,
    settings: Any,
    n_media: int,
    kinds: Sequence[str],
    where: str,
    field: str,
) -> list[ContentProblem]:
    problems: list[ContentProblem] = []
    if settings is None:
        return problems
    if not isinstance(settings, Mapping):
        return [ContentProblem(where, field, f"must be an object, got {type(settings).__name__}", given=type(settings).__name__)]
    declared = settings.get("__type")
    if declared is not None and declared not in ("tiktok", "instagram"):
        problems.append(
            ContentProblem(where, f"{field}.__type", f"{declared!r} given, must be 'tiktok' or 'instagram'", given=declared, limit="tiktok|instagram", code="VALIDATION_ERROR")
        )
        return problems
    body = {k: v for k, v in settings.items() if k != "__type"}
    if rule.settings_type is None:
        if declared is not None or body:
            problems.append(
                ContentProblem(
                    where,
                    field,
                    f"{channel} takes no settings object (only tiktok and instagram do)",
                    given=declared or sorted(body),
                    limit=None,
                    code="VALIDATION_SETTINGS_CHANNEL_MISMATCH",
                )
            )
        return problems
    if declared is not None and declared != rule.settings_type:
        problems.append(
            ContentProblem(
                where,
                f"{field}.__type",
                f"{declared!r} given for a {channel} post, must be {rule.settings_type!r}",
                given=declared,
                limit=rule.settings_type,
                code="VALIDATION_SETTINGS_CHANNEL_MISMATCH",
            )
        )
        return problems

    if rule.settings_type == "instagram":
        post_type = body.get("postType")
        if post_type is not None and post_type not in INSTAGRAM_POST_TYPES:
            problems.append(
                ContentProblem(where, f"{field}.postType", f"{post_type!r} given, must be one of {', '.join(INSTAGRAM_POST_TYPES)}", given=post_type, limit=INSTAGRAM_POST_TYPES, code="VALIDATION_ERROR")
            )
        elif post_type == "story" and n_media > 1:
            problems.append(
                ContentProblem(where, f"{field}.postType", f"story with {n_media} media items given, an Instagram story takes exactly 1", given=n_media, limit=1)
            )
        elif post_type == "reel" and (n_media != 1 or (kinds and kinds[0] == "image")):
            problems.append(
                ContentProblem(
                    where,
                    f"{field}.postType",
                    f"reel with {_describe_media(kinds) if kinds else _plural(n_media, 'item')} given, an Instagram reel takes exactly 1 video",
                    given=n_media,
                    limit=1,
                )
            )
        for name, max_items, max_chars, min_chars in (
            ("collaborators", INSTAGRAM_MAX_COLLABORATORS, INSTAGRAM_COLLABORATOR_MAX_CHARS, 1),
            ("altText", INSTAGRAM_MAX_ALT_TEXTS, INSTAGRAM_ALT_TEXT_MAX_CHARS, 0),
        ):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                problems.append(ContentProblem(where, f"{field}.{name}", "must be a list of strings", given=type(value).__name__, code="VALIDATION_ERROR"))
                continue
            if len(value) > max_items:
                problems.append(
                    ContentProblem(where, f"{field}.{name}", f"{len(value)} items given, at most {max_items} allowed for instagram", given=len(value), limit=max_items, code="VALIDATION_ERROR")
                )
            for i, item in enumerate(value):
                n = caption_length(js_trim(item))
                if n > max_chars:
                    problems.append(
                        ContentProblem(where, f"{field}.{name}[{i}]", f"{n} characters given, at most {max_chars} allowed", given=n, limit=max_chars, code="VALIDATION_ERROR")
                    )
                elif n < min_chars:
                    problems.append(
                        ContentProblem(where, f"{field}.{name}[{i}]", "blank entry given, at least 1 character required", given=n, limit=min_chars, code="VALIDATION_ERROR")
                    )
        alt = body.get("altText")
        if isinstance(alt, (list, tuple)) and n_media and len(alt) > n_media and len(alt) <= INSTAGRAM_MAX_ALT_TEXTS:
            problems.append(
                ContentProblem(where, f"{field}.altText", f"{len(alt)} alt texts given for {_plural(n_media, 'media item')} (alt texts are positional)", given=len(alt), limit=n_media)
            )
    else:  # tiktok
        mode = body.get("postMode")
        if mode is not None and mode not in TIKTOK_POST_MODES:
            problems.append(ContentProblem(where, f"{field}.postMode", f"{mode!r} given, must be one of {', '.join(TIKTOK_POST_MODES)}", given=mode, limit=TIKTOK_POST_MODES, code="VALIDATION_ERROR"))
        privacy = body.get("privacyLevel")
        if privacy is not None and privacy not in TIKTOK_PRIVACY_LEVELS:
            problems.append(
                ContentProblem(where, f"{field}.privacyLevel", f"{privacy!r} given, must be one of {', '.join(TIKTOK_PRIVACY_LEVELS)}", given=privacy, limit=TIKTOK_PRIVACY_LEVELS, code="VALIDATION_ERROR")
            )
        for name in TIKTOK_BOOL_FIELDS:
            if name in body and body[name] is not None and not isinstance(body[name], bool):
                problems.append(ContentProblem(where, f"{field}.{name}", f"{body[name]!r} given, must be true or false", given=body[name], code="VALIDATION_ERROR"))
        idx = body.get("photoCoverIndex")
        if isinstance(idx, float) and idx.is_integer():  # JSON 1.0 is the number 1 to the server
            idx = int(idx)
        if idx is not None:
            if isinstance(idx, bool) or not isinstance(idx, int):
                problems.append(ContentProblem(where, f"{field}.photoCoverIndex", f"{idx!r} given, must be an integer 0–{TIKTOK_PHOTO_COVER_INDEX_MAX}", given=idx, code="VALIDATION_ERROR"))
            elif not 0 <= idx <= TIKTOK_PHOTO_COVER_INDEX_MAX:
                problems.append(
                    ContentProblem(where, f"{field}.photoCoverIndex", f"{idx} given, must be between 0 and {TIKTOK_PHOTO_COVER_INDEX_MAX}", given=idx, limit=TIKTOK_PHOTO_COVER_INDEX_MAX, code="VALIDATION_ERROR")
                )
    return problems


def check_post(
    channel: str,
    caption: str | None,
    media_kinds: Sequence[str],
    settings: Mapping[str, Any] | None,
    where: str,
    *,
    delivery_mode: str | None = None,
    field_names: Mapping[str, str] | None = None,
) -> list[ContentProblem]:
    """Return **all** problems Markaestro would find in one post for ``channel`` (empty = OK).

    :param channel: ``facebook``, ``instagram``, ``tiktok``, ``threads``, ``pinterest``, ``linkedin``.
    :param caption: the caption as it will be sent (never modified here). It is measured the way
        the server measures it: trimmed like JavaScript ``trim()`` (zod ``.trim()`` runs before
        ``.max()``), then counted in UTF-16 code units (:func:`caption_length`).
    :param media_kinds: ``"image"`` / ``"video"`` per media item, in order; any other value (e.g.
        ``"unknown"``) counts as an item but matches no video rule.
    :param settings: the ``settings`` object (``__type`` optional: when missing it is taken to be
        the channel's own type), or ``None``.
    :param where: label of the thing checked (destination id, manifest location …); every message
        starts with it.
    :param delivery_mode: if given, also check that the channel accepts it (§8.2).
    :param field_names: rename API field names in messages, e.g. ``{"mediaAssetIds": "media"}``.
    """
    names = {"caption": "caption", "mediaAssetIds": "mediaAssetIds", "settings": "settings", "channel": "channel", "deliveryMode": "deliveryMode"}
    names.update(field_names or {})
    problems: list[ContentProblem] = []
    rule = CHANNEL_RULES.get(channel)
    if rule is None:
        return [
            ContentProblem(
                where,
                names["channel"],
                f"unknown channel {channel!r} (known: {', '.join(ALL_CHANNELS)})",
                given=channel,
                limit=ALL_CHANNELS,
                code="VALIDATION_ERROR",
            )
        ]

    if caption is None:
        caption = ""
    if not isinstance(caption, str):
        problems.append(ContentProblem(where, names["caption"], f"must be a string, got {type(caption).__name__}", given=type(caption).__name__, code="VALIDATION_ERROR"))
        caption = ""
    kinds = list(media_kinds)
    n = len(kinds)
    media_field = names["mediaAssetIds"]

    # 1. media count (server cap 35, then channel cap)
    limit = min(rule.max_media, SERVER_MAX_MEDIA_ITEMS)
    if n > limit:
        problems.append(
            ContentProblem(
                where,
                media_field,
                f"{n} items given ({_describe_media(kinds)}), at most {limit} allowed for {channel}",
                given=n,
                limit=limit,
                code="VALIDATION_TOO_MANY_MEDIA_ASSETS",
            )
        )
    # 2. media required
    if rule.media_required and n == 0:
        problems.append(
            ContentProblem(where, media_field, f"0 items given, {channel} requires at least 1 media item", given=0, limit=1, code=f"VALIDATION_{channel.upper()}_REQUIRES_MEDIA")
        )
    # 3. caption length (zod trims, then counts UTF-16 code units)
    measured = caption_length(js_trim(caption))
    cap = min(rule.caption_max, SERVER_CAPTION_MAX)
    if measured > cap:
        problems.append(
            ContentProblem(
                where,
                names["caption"],
                f"{measured} characters given (UTF-16 code units, as the server counts), at most {cap} allowed for {channel}",
                given=measured,
                limit=cap,
                code=f"VALIDATION_{channel.upper()}_CAPTION_TOO_LONG",
            )
        )
    # 4. text rules
    if rule.caption_or_media_required and measured == 0 and n == 0:
        problems.append(
            ContentProblem(where, f"{names['caption']}/{media_field}", f"empty caption and 0 media items given, {channel} needs a caption or at least 1 media item", given=0, limit=1, code="VALIDATION_FACEBOOK_POST_REQUIRES_CONTENT_OR_MEDIA")
        )
    if rule.caption_required and measured == 0:
        problems.append(
            ContentProblem(where, names["caption"], f"blank caption given, {channel} requires a non-blank caption", given=0, limit=1, code=f"VALIDATION_{channel.upper()}_POST_REQUIRES_CONTENT")
        )
    # 5. settings
    problems.extend(_check_settings(channel, rule, settings, n, kinds, where, names["settings"]))
    # 8. media kinds
    # Items of any other kind (e.g. "unknown" when the caller does not know the asset types)
    # count towards the limits above but match no video rule.
    videos = sum(1 for k in kinds if k == "video")
    images = sum(1 for k in kinds if k == "image")
    if rule.video_must_be_alone and videos and n > 1:
        problems.append(
            ContentProblem(where, media_field, f"{n} items given ({_describe_media(kinds)}), a video must be the only item on {channel}", given=n, limit=1, code="VALIDATION_ERROR")
        )
    if rule.max_videos is not None and videos > rule.max_videos:
        problems.append(
            ContentProblem(where, media_field, f"{videos} videos given, at most {rule.max_videos} allowed for {channel}", given=videos, limit=rule.max_videos, code="VALIDATION_ERROR")
        )
    if rule.no_video_image_mix and videos and images:
        problems.append(
            ContentProblem(where, media_field, f"{_describe_media(kinds)} given, {channel} cannot combine a video with images", given=n, limit=1, code="VALIDATION_ERROR")
        )
    # 9. delivery mode
    if delivery_mode is not None:
        if delivery_mode not in DELIVERY_MODES:
            problems.append(
                ContentProblem(where, names["deliveryMode"], f"{delivery_mode!r} given, must be one of {', '.join(DELIVERY_MODES)}", given=delivery_mode, limit=DELIVERY_MODES, code="VALIDATION_ERROR")
            )
        elif delivery_mode == "platform_inbox" and channel != "tiktok":
            problems.append(
                ContentProblem(where, names["deliveryMode"], f"platform_inbox given, {channel} only supports direct_publish or manual_reminder", given=delivery_mode, limit="direct_publish|manual_reminder", code="VALIDATION_DELIVERY_MODE_NOT_SUPPORTED_FOR_CHANNEL")
            )
    return problems
