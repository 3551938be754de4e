"""Campaign folders: manifest, validation, media listing, fan-out plan and incremental ledger.

A *campaign* is a folder (local, ``file://`` or ``s3://bucket/prefix``; anything
:class:`airflow.sdk.ObjectStoragePath` can read) holding media files and one manifest.

Manifest (``campaign.yaml``, ``campaign.yml`` or ``campaign.json``; JSON schema:
``campaign_schema.json`` next to this module)::

    name: spring-launch                 # optional, defaults to the folder name
    products:                           # alias -> Airflow connection of that product's API key
      northwind: {conn_id: markaestro_default}
    defaults:
      delivery_mode: direct_publish     # default; TikTok always goes to platform_inbox
      channels: all                     # default channels of a post
      settings:                         # default settings per channel
        tiktok: {privacyLevel: SELF_ONLY}
    calendar: campaign.csv              # optional: more posts from a CSV content calendar
    posts:
      - key: launch-carousel            # stable slug, unique; the ledger is keyed on it
        caption: "Lift-off! 🚀"
        media: [rocket.jpg, astronaut.png]   # file names in the folder, order kept
        channels: [instagram, facebook]      # or "all"
        product: northwind              # optional
        delivery_mode: direct_publish   # optional
        overrides:
          instagram:
            caption: "Lift-off! 🚀 #space"
            settings: {postType: carousel}   # carousel = feed with 2..10 items
            delivery_mode: manual_reminder

CSV content calendar (``campaign.csv``, alone or referenced by ``calendar:``): one row per post,
UTF-8 (a BOM is accepted), header row required. Columns: ``post_key`` (or ``key``), ``caption``,
``media`` (``|``-separated), ``channels`` (``|``-separated or ``all``), ``product``,
``delivery_mode``, and per channel ``caption.<channel>``, ``delivery_mode.<channel>``,
``settings.<channel>.<field>`` (e.g. ``settings.tiktok.privacyLevel``,
``settings.instagram.postType``; list fields such as ``collaborators`` are ``|``-separated,
booleans are ``true``/``false``, also ``yes``/``no``, ``y``/``n``, ``on``/``off``, ``1``/``0``, in
any case). Empty cells mean "not set"; fully empty rows are skipped. Rows are numbered like a
spreadsheet (header = row 1). Captions are taken verbatim (never stripped).
A CSV without a YAML/JSON manifest gets the folder name as campaign name and the single product
``default`` → connection ``markaestro_default``.

Rules worth knowing:

* **Products.** API keys are bound to one product, so each product alias names its own Airflow
  connection. A post *without* ``product`` is sent through **every** product of the campaign; a
  post with ``product`` only through that one. No ``products`` section means one product
  ``default`` using the connection ``markaestro_default``.
* **Channels.** ``all`` = facebook, instagram, tiktok, threads, linkedin (Pinterest has no API
  destination, §8.10 of the contract, so campaigns cannot target it). The post is validated for
  each of its channels.
* **Delivery mode.** Default ``direct_publish`` (so Facebook/Instagram publish directly instead
  of the server default ``manual_reminder``); TikTok always uses ``platform_inbox`` (the stored
  mode of every API TikTok post; choose a TikTok Direct Post with ``settings.postMode:
  direct_post``) unless ``manual_reminder`` is asked for.
* **Media listing.** Only direct children of the folder with a media extension (png, jpg/jpeg,
  webp, gif, mp4, mov, webm, avi, mkv) count; folder markers (``prefix/`` objects), hidden files
  (``.name``) and sub-folders (including ``_markaestro/``, where the ledger lives) are ignored.
  Sizes come from the listing; files are never read during validation.

Nothing here touches the network or an Airflow connection at import time; ``airflow.sdk`` and
``yaml`` are imported on first use so that DAG files can import this module cheaply.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import posixpath
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from airflow_provider_markaestro import rules
from airflow_provider_markaestro.rules import ContentProblem, MarkaestroContentError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = [
    "DEFAULT_CONN_ID",
    "DEFAULT_PRODUCT_ALIAS",
    "LEDGER_PATH",
    "MANIFEST_NAMES",
    "SENT_STATUSES",
    "Campaign",
    "CampaignManifest",
    "CampaignPost",
    "CampaignValidationError",
    "MediaFile",
    "export_json_schema",
    "is_sent",
    "ledger_key",
    "list_media",
    "load_campaign",
    "open_media",
    "plan_posts",
    "read_ledger",
    "record_results",
]

log = logging.getLogger(__name__)

MANIFEST_NAMES = ("campaign.yaml", "campaign.yml", "campaign.json")
CSV_MANIFEST_NAME = "campaign.csv"
DEFAULT_PRODUCT_ALIAS = "default"
DEFAULT_CONN_ID = "markaestro_default"
LEDGER_DIR = "_markaestro"
LEDGER_FILE = "ledger.json"
CREATED_DIR = "created"  # per-post notes written at create time, folded into the ledger
LEDGER_PATH = f"{LEDGER_DIR}/{LEDGER_FILE}"

#: Ledger statuses that mean "already sent, do not send again". ``failed`` (and anything else,
#: e.g. ``draft`` when a create worked but the publish call did not) is retried by a later run.
SENT_STATUSES = frozenset({"published", "platform_action_required"})
# A post an earlier run created that has not gone out yet: publish it again instead of a new post
# (Markaestro publishes draft, scheduled, failed and partial_failed posts; a publishing one is followed).
REUSABLE_STATUSES = frozenset({"draft", "scheduled", "publishing", "failed", "partial_failed"})

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_CAROUSEL = "carousel"

SETTINGS_FIELDS: Mapping[str, tuple[str, ...]] = {
    "instagram": ("postType", "collaborators", "altText"),
    "tiktok": ("postMode", "privacyLevel", *rules.TIKTOK_BOOL_FIELDS, "photoCoverIndex"),
}
_LIST_SETTINGS = frozenset({"collaborators", "altText"})

# ---------------------------------------------------------------------------------------------
# JSON-schema fragments for editors (hand-written from the rules so no model is built at import)
# ---------------------------------------------------------------------------------------------

_STR_LIST = {"type": "array", "items": {"type": "string"}}
_INSTAGRAM_SETTINGS_SCHEMA = {
    "type": "object",
    "title": "InstagramSettings",
    "additionalProperties": False,
    "properties": {
        "postType": {
            "enum": [*rules.INSTAGRAM_POST_TYPES, _CAROUSEL],
            "description": "feed, reel (one video), story (one item) or carousel (= feed with 2..10 items)",
        },
        "collaborators": {**_STR_LIST, "maxItems": rules.INSTAGRAM_MAX_COLLABORATORS},
        "altText": {**_STR_LIST, "maxItems": rules.INSTAGRAM_MAX_ALT_TEXTS, "description": "positional with media"},
    },
}
_TIKTOK_SETTINGS_SCHEMA = {
    "type": "object",
    "title": "TikTokSettings",
    "additionalProperties": False,
    "properties": {
        "postMode": {"enum": list(rules.TIKTOK_POST_MODES)},
        "privacyLevel": {"enum": list(rules.TIKTOK_PRIVACY_LEVELS)},
        **{name: {"type": "boolean"} for name in rules.TIKTOK_BOOL_FIELDS},
        "photoCoverIndex": {"type": "integer", "minimum": 0, "maximum": rules.TIKTOK_PHOTO_COVER_INDEX_MAX},
    },
}
_SETTINGS_BY_CHANNEL_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"instagram": _INSTAGRAM_SETTINGS_SCHEMA, "tiktok": _TIKTOK_SETTINGS_SCHEMA},
}
_CHANNEL_SCHEMA = {"enum": list(rules.CAMPAIGN_CHANNELS)}
_CHANNELS_SCHEMA = {
    "anyOf": [{"const": "all"}, {"type": "array", "items": _CHANNEL_SCHEMA, "uniqueItems": True}],
    "description": "'all' (facebook, instagram, tiktok, threads, linkedin) or a list of channels",
}
_DELIVERY_MODE_SCHEMA = {"enum": list(rules.DELIVERY_MODES)}


def _override_schema(channel: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "caption": {"type": "string"},
        "delivery_mode": _DELIVERY_MODE_SCHEMA,
        "deliveryMode": _DELIVERY_MODE_SCHEMA,
    }
    if channel == "instagram":
        props["settings"] = _INSTAGRAM_SETTINGS_SCHEMA
    elif channel == "tiktok":
        props["settings"] = _TIKTOK_SETTINGS_SCHEMA
    return {"type": "object", "additionalProperties": False, "properties": props}


_OVERRIDES_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {ch: _override_schema(ch) for ch in rules.CAMPAIGN_CHANNELS},
    "description": "per-channel caption, settings and delivery mode",
}

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

_DeliveryMode = Annotated[str, WithJsonSchema(_DELIVERY_MODE_SCHEMA)]
_Channels = Annotated[list[str] | str, WithJsonSchema(_CHANNELS_SCHEMA)]


class ProductRef(BaseModel):
    """A Markaestro product of the campaign: the Airflow connection holding its API key."""

    model_config = ConfigDict(extra="forbid")
    conn_id: str = Field(min_length=1)


class ChannelOverride(BaseModel):
    """What differs for one channel of a post."""

    model_config = ConfigDict(extra="forbid")
    caption: str | None = None
    settings: dict[str, Any] | None = None
    delivery_mode: _DeliveryMode | None = Field(
        default=None, validation_alias=AliasChoices("delivery_mode", "deliveryMode")
    )


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivery_mode: _DeliveryMode = Field(
        default="direct_publish", validation_alias=AliasChoices("delivery_mode", "deliveryMode")
    )
    channels: _Channels = "all"
    settings: Annotated[dict[str, dict[str, Any]], WithJsonSchema(_SETTINGS_BY_CHANNEL_SCHEMA)] = Field(
        default_factory=dict
    )


class PostSpec(BaseModel):
    """One post as written in the manifest (before defaults are applied)."""

    model_config = ConfigDict(extra="forbid")
    key: Annotated[str, WithJsonSchema({"type": "string", "pattern": _SLUG_RE.pattern})]
    caption: str = ""
    media: list[str] = Field(default_factory=list)
    channels: _Channels | None = None
    product: str | None = None
    delivery_mode: _DeliveryMode | None = Field(
        default=None, validation_alias=AliasChoices("delivery_mode", "deliveryMode")
    )
    overrides: Annotated[dict[str, ChannelOverride], WithJsonSchema(_OVERRIDES_SCHEMA)] = Field(
        default_factory=dict
    )


class CampaignManifest(BaseModel):
    """``campaign.yaml`` / ``campaign.json``."""

    model_config = ConfigDict(extra="forbid", title="Markaestro campaign manifest")
    name: str | None = Field(default=None, description="defaults to the folder name")
    description: str | None = None
    products: dict[str, ProductRef] = Field(
        default_factory=dict,
        description="product alias -> Airflow connection; empty = {default: {conn_id: markaestro_default}}",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    calendar: str | None = Field(default=None, description="CSV content calendar in the folder with more posts")
    posts: list[Any] = Field(default_factory=list)  # validated one by one as PostSpec

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        schema = cls.model_json_schema()
        schema["properties"]["posts"] = {"type": "array", "items": {"$ref": "#/$defs/PostSpec"}}
        post_schema = PostSpec.model_json_schema()
        defs = schema.setdefault("$defs", {})
        defs.update(post_schema.pop("$defs", {}))
        defs["PostSpec"] = post_schema
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


class MediaFile(BaseModel):
    """A media file of the campaign folder (from the listing, never read)."""

    path: str
    size: int
    mime_type: str
    kind: str
    version: str = ""  # the content identity (local SHA-256, S3 ETag, GCS md5Hash): keys stable uploads


class CampaignPost(BaseModel):
    """A validated post with defaults applied."""

    key: str
    caption: str
    media: list[str]
    channels: list[str]
    product: str | None = None
    delivery_mode: str
    overrides: dict[str, ChannelOverride] = Field(default_factory=dict)
    source: str = ""

    def caption_for(self, channel: str) -> str:
        o = self.overrides.get(channel)
        return o.caption if o is not None and o.caption is not None else self.caption

    def requested_delivery_mode(self, channel: str) -> str:
        o = self.overrides.get(channel)
        return o.delivery_mode if o is not None and o.delivery_mode else self.delivery_mode

    def delivery_mode_for(self, channel: str) -> str:
        return rules.default_delivery_mode(channel, self.requested_delivery_mode(channel))


class Campaign(BaseModel):
    """A loaded and fully validated campaign; JSON-serializable so it can travel through XCom."""

    name: str
    location: str
    conn_id: str | None = None
    manifest: str
    products: dict[str, ProductRef]
    defaults: Defaults
    posts: list[CampaignPost]
    files: dict[str, MediaFile] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Campaign:
        if isinstance(data, Mapping):
            return cls.model_validate(dict(data))
        return cls.model_validate_json(data)

    def media_files(self) -> list[str]:
        """Distinct media paths used by the posts, in order of first use."""
        seen: dict[str, None] = {}
        for post in self.posts:
            for rel in post.media:
                seen.setdefault(rel, None)
        return list(seen)

    def posts_for_product(self, product_alias: str) -> list[CampaignPost]:
        """Posts sent through ``product_alias``: its own and those without ``product``."""
        return [p for p in self.posts if p.product is None or p.product == product_alias]

    def settings_for(self, post: CampaignPost, channel: str) -> dict[str, Any] | None:
        """API ``settings`` object for ``post`` on ``channel`` (with ``__type``) or ``None``."""
        merged = _merged_settings(self.defaults, post.overrides.get(channel), channel)
        return _api_settings(channel, merged)

    def media_identity(self, post: CampaignPost) -> list[list[str]]:
        """``post``'s media by path and by the store's content identity: a file replaced under its
        name is new content."""
        return [[rel, self.files[rel].version if rel in self.files else ""] for rel in post.media]

    def content_for(self, post: CampaignPost, channel: str) -> str:
        """:func:`content_hash` of what ``post`` sends on ``channel`` as the manifest says it now."""
        return content_hash(post.caption_for(channel), self.media_identity(post), post.delivery_mode_for(channel),
                            self.settings_for(post, channel))

    def folder(self) -> ObjectStoragePath:
        return _folder(self.location, self.conn_id)


class CampaignValidationError(MarkaestroContentError):
    """The campaign cannot be sent; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[ContentProblem], title: str | None = None):
        super().__init__(problems, title or f"campaign is invalid, {len(problems)} problem(s)")


# ---------------------------------------------------------------------------------------------
# Storage helpers
# ---------------------------------------------------------------------------------------------


def _folder(location: Any, conn_id: str | None = None) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath

    if isinstance(location, Campaign):
        return _folder(location.location, conn_id or location.conn_id)
    if isinstance(location, ObjectStoragePath):
        if (conn_id and conn_id != location.conn_id) or location.path.endswith("/"):
            return ObjectStoragePath(_location_str(location), conn_id=conn_id or location.conn_id)
        return location
    text = str(location)
    if "://" not in text:
        text = Path(text).expanduser().resolve().as_uri()
    elif len(text.split("://", 1)[1]) > 1:
        text = text.rstrip("/")
    return ObjectStoragePath(text, conn_id=conn_id)


def _location_str(folder: ObjectStoragePath) -> str:
    protocol = folder.protocol or "file"
    path = folder.path.rstrip("/") or "/"
    if protocol in ("file", "local"):
        return "file://" + (path if path.startswith("/") else "/" + path)
    return f"{protocol}://{path}"


def _fresh_fs(folder: ObjectStoragePath):
    fs = folder.fs
    try:
        fs.invalidate_cache(folder.path)
    except Exception:  # pragma: no cover - every fsspec fs has it, be lenient anyway
        pass
    return fs


def _list_files(folder: ObjectStoragePath, versions: dict[str, str] | None = None) -> dict[str, int]:
    """Direct, regular, non-hidden files of ``folder`` → size in bytes (sorted by name).

    Ignores folder markers (``prefix/`` objects), hidden files and sub-folders. ``versions``, when
    given, is filled with what the store says identifies each file's content (see :func:`_version`).
    """
    fs = _fresh_fs(folder)
    base = folder.path.rstrip("/")
    out: dict[str, int] = {}
    for entry in fs.ls(folder.path, detail=True):
        raw = str(entry.get("name", ""))
        if raw.endswith("/") or entry.get("type") != "file":
            continue
        name = raw.rstrip("/")
        if name == base:
            continue
        rel = name[len(base) + 1 :] if name.startswith(base + "/") else posixpath.basename(name)
        if not rel or "/" in rel or rel.startswith("."):
            continue
        out[rel] = int(entry.get("size") or 0)
        if versions is not None:
            local = _is_local(fs) and rules.mime_type_for(rel) is not None
            versions[rel] = _local_digest(fs, name) if local else _version(entry)
    return dict(sorted(out.items()))


def _version(entry: Mapping[str, Any]) -> str:
    """The listing's content identity of a file: S3 ETag, GCS md5Hash / generation (else a date)."""
    # md5Hash first: a GCS listing also has an etag, which changes when only metadata does
    for field in ("md5Hash", "ETag", "etag", "generation", "mtime", "LastModified", "updated"):
        if entry.get(field) not in (None, ""):
            return f"{field}={entry[field]}"
    return ""


def _is_local(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return bool({"file", "local"} & set(protocols))


def _local_digest(fs: Any, path: str) -> str:
    """SHA-256 of a local media file: its mtime changes on every ``cp -r`` / checkout / re-sync,
    which would make the same bytes look like new content (a second post after a lost ledger)."""
    with fs.open(path, "rb") as fh:
        return "sha256=" + hashlib.file_digest(fh, "sha256").hexdigest()


def list_media(location: str | ObjectStoragePath, conn_id: str | None = None) -> dict[str, MediaFile]:
    """Media files of a campaign folder (allowed extensions only), sorted by name."""
    return _media_from_listing(_list_files(_folder(location, conn_id)))


def _media_from_listing(listing: Mapping[str, int], versions: Mapping[str, str] | None = None) -> dict[str, MediaFile]:
    media: dict[str, MediaFile] = {}
    for rel, size in listing.items():
        mime = rules.mime_type_for(rel)
        if mime is None:
            continue
        media[rel] = MediaFile(path=rel, size=size, mime_type=mime, kind=rules.media_kind(mime) or "image",
                               version=(versions or {}).get(rel, ""))
    return media


def open_media(campaign_location: str | ObjectStoragePath | Campaign, rel_path: str, conn_id: str | None = None) -> BinaryIO:
    """Open a campaign media file for streaming (binary, not read into memory)."""
    problem = _bad_rel_path(rel_path)
    if problem:
        raise ValueError(f"media path {rel_path!r}: {problem}")
    return (_folder(campaign_location, conn_id) / rel_path).open("rb")


def _bad_rel_path(rel: str) -> str | None:
    if not isinstance(rel, str) or not rel:
        return "empty file name"
    if "/" in rel or "\\" in rel:
        return "must be a file directly in the campaign folder (sub-folders are not read)"
    if rel.startswith("."):
        return "hidden files are not read"
    return None


def _read_text(path: ObjectStoragePath) -> str:
    with path.open("rb") as fh:
        return fh.read().decode("utf-8-sig")


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loc_str(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def _pydantic_problems(exc: ValidationError, where: str, prefix: str = "") -> list[ContentProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        field = _loc_str(err.get("loc", ()))
        if prefix:
            field = f"{prefix}.{field}" if field != "(root)" else prefix
        ctx = err.get("ctx") or {}
        limit = next((ctx[k] for k in ("max_length", "min_length", "le", "ge", "expected") if k in ctx), None)
        given = err.get("input")
        msg = err.get("msg", "invalid")
        if err.get("type") not in ("missing",):
            msg = f"{msg} (given {_short(given)})"
        problems.append(ContentProblem(where, field, msg, given=given if isinstance(given, (str, int, float, bool)) or given is None else type(given).__name__, limit=limit))
    return problems


def _parse_structured(text: str, name: str) -> tuple[Any, list[ContentProblem]]:
    if name.endswith(".json"):
        try:
            return json.loads(text), []
        except json.JSONDecodeError as exc:
            return None, [ContentProblem(name, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}")]
    import yaml

    try:
        return yaml.safe_load(text), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [ContentProblem(name, where, f"invalid YAML: {problem}")]


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _csv_cell_setting(channel: str, field: str, cell: str) -> Any:
    value = cell.strip()
    if field in _LIST_SETTINGS:
        return [v for v in (p.strip() for p in cell.split("|")) if v]
    if channel == "tiktok" and field in rules.TIKTOK_BOOL_FIELDS:
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        return value  # reported by the rules ("must be true or false")
    if field == "photoCoverIndex":
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _split_list(cell: str) -> list[str]:
    return [p for p in (x.strip() for x in cell.split("|")) if p]


def _parse_csv(text: str, name: str) -> tuple[list[tuple[str, dict[str, Any]]], list[ContentProblem]]:
    """CSV content calendar → [(where, raw post dict)], problems."""
    problems: list[ContentProblem] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [ContentProblem(name, "header", "empty file, a header row is required")]
    except csv.Error as exc:
        return [], [ContentProblem(f"{name} row 1", "header", f"unreadable CSV: {exc}")]
    columns = [h.strip() for h in header]
    known_plain = {"post_key", "key", "caption", "media", "channels", "product", "delivery_mode", "deliveryMode"}
    col_ok: list[bool] = []
    for col in columns:
        ok = col in known_plain or col == ""
        parts = col.split(".")
        if not ok and len(parts) == 2 and parts[0] in ("caption", "delivery_mode", "deliveryMode"):
            ok = parts[1] in rules.CAMPAIGN_CHANNELS
        if not ok and len(parts) == 3 and parts[0] == "settings":
            ok = parts[1] in SETTINGS_FIELDS and parts[2] in SETTINGS_FIELDS[parts[1]]
        if not ok:
            problems.append(
                ContentProblem(
                    f"{name} row 1",
                    f"column {col!r}",
                    "unknown column (known: post_key, caption, media, channels, product, delivery_mode, "
                    "caption.<channel>, delivery_mode.<channel>, settings.<tiktok|instagram>.<field>)",
                    given=col,
                )
            )
        col_ok.append(ok)
    if "post_key" not in columns and "key" not in columns:
        problems.append(ContentProblem(f"{name} row 1", "header", "a post_key column is required", given=columns))
    posts: list[tuple[str, dict[str, Any]]] = []
    row_no = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(ContentProblem(f"{name} row {row_no + 1}", "row", f"unreadable CSV: {exc}"))
            break
        row_no += 1
        if not any(c.strip() for c in cells):
            continue
        where_base = f"{name} row {row_no}"
        if len(cells) > len(columns):
            problems.append(ContentProblem(where_base, "row", f"{len(cells)} cells given, the header has {len(columns)} columns", given=len(cells), limit=len(columns)))
        raw: dict[str, Any] = {}
        overrides: dict[str, dict[str, Any]] = {}
        for col, ok, cell in zip(columns, col_ok, cells):
            if not ok or col == "" or cell == "":
                continue
            parts = col.split(".")
            if col in ("post_key", "key"):
                raw["key"] = cell.strip()
            elif col == "caption":
                raw["caption"] = cell  # verbatim
            elif col == "media":
                raw["media"] = _split_list(cell)
            elif col == "channels":
                value = cell.strip()
                raw["channels"] = "all" if value.lower() == "all" else _split_list(value)
            elif col == "product":
                raw["product"] = cell.strip()
            elif col in ("delivery_mode", "deliveryMode"):
                raw["delivery_mode"] = cell.strip()
            elif parts[0] == "caption":
                overrides.setdefault(parts[1], {})["caption"] = cell  # verbatim
            elif parts[0] in ("delivery_mode", "deliveryMode"):
                overrides.setdefault(parts[1], {})["delivery_mode"] = cell.strip()
            elif parts[0] == "settings":
                if cell.strip() == "":
                    continue
                settings = overrides.setdefault(parts[1], {}).setdefault("settings", {})
                settings[parts[2]] = _csv_cell_setting(parts[1], parts[2], cell)
        if overrides:
            raw["overrides"] = overrides
        posts.append((where_base, raw))
    return posts, problems


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _merged_settings(defaults: Defaults, override: ChannelOverride | None, channel: str) -> dict[str, Any]:
    merged: dict[str, Any] = dict(defaults.settings.get(channel) or {})
    if override is not None and override.settings:
        merged.update(override.settings)
    return merged


def _api_settings(channel: str, merged: Mapping[str, Any]) -> dict[str, Any] | None:
    """Settings as sent to the API: ``__type`` added, Instagram ``carousel`` sent as ``feed``."""
    body = {k: v for k, v in merged.items() if k != "__type"}
    if channel == "instagram" and body.get("postType") == _CAROUSEL:
        body["postType"] = "feed"
    if not body and "__type" not in merged:
        return None
    if channel in SETTINGS_FIELDS:
        return {"__type": channel, **body}
    return dict(merged)


def _resolve_channels(value: Any) -> tuple[list[str], list[str]]:
    """(channels, unknown) from "all" / a list / a single name."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return list(rules.CAMPAIGN_CHANNELS), []
    items = [value] if isinstance(value, str) else list(value)
    if "all" in items:
        return list(rules.CAMPAIGN_CHANNELS), [i for i in items if i != "all" and i not in rules.CAMPAIGN_CHANNELS]
    channels: list[str] = []
    unknown: list[str] = []
    for item in items:
        if item in rules.CAMPAIGN_CHANNELS:
            if item not in channels:
                channels.append(item)
        else:
            unknown.append(item)
    return channels, unknown


def _channel_problem(where: str, field: str, name: Any) -> ContentProblem:
    if name == "pinterest":
        msg = "pinterest has no API destination (only manual reminders without a destination), campaigns cannot target it"
    else:
        msg = f"unknown channel {name!r} (known: {', '.join(rules.CAMPAIGN_CHANNELS)} or 'all')"
    return ContentProblem(where, field, msg, given=name, limit=rules.CAMPAIGN_CHANNELS)


def _salvage_post(raw: Mapping[str, Any], exc: ValidationError) -> tuple[PostSpec | None, set[str]]:
    """The post without what failed its type checks, and the fields that did (to ignore their
    follow-on problems). ``None`` if the rest is not a post either.

    A bad ``channels`` becomes ``[]`` (dropping it would default to every channel and report rules
    of channels the user never chose); a bad override drops only that channel's override."""
    salvage = dict(raw)
    overrides = dict(raw["overrides"]) if isinstance(raw.get("overrides"), Mapping) else None
    bad: set[str] = set()
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        if not loc:
            continue
        if loc[0] == "overrides" and len(loc) > 1 and overrides is not None:
            override = overrides.get(loc[1])
            if len(loc) > 2 and isinstance(override, Mapping):  # drop the bad field only
                overrides[loc[1]] = {k: v for k, v in override.items() if k != loc[2]}
                bad.add(f"overrides.{loc[1]}.{loc[2]}")
            else:
                overrides.pop(loc[1], None)
                bad.add(f"overrides.{loc[1]}")
            continue
        bad.add(loc[0])
        if loc[0] == "channels":
            salvage["channels"] = []
        else:
            salvage.pop(loc[0], None)
    if overrides is not None and "overrides" not in bad:
        salvage["overrides"] = overrides
    try:
        return PostSpec.model_validate(salvage), bad
    except ValidationError:
        return None, bad


def _follows_from(field: str, bad: set[str]) -> bool:
    """A problem on ``field`` that a type error on one of ``bad`` already explains."""
    top = re.split(r"[./\[]", field, maxsplit=1)[0]
    parts = field.split(".")
    in_bad_override = ".".join(parts[:2]) in bad or ".".join(parts[:3]) in bad
    either = any(part in bad for part in field.split("/")) if "/" in field else False  # "caption/media"
    return top in bad or in_bad_override or either


def _validate_post(
    spec: PostSpec,
    where: str,
    manifest: CampaignManifest,
    products: Mapping[str, ProductRef],
    listing: Mapping[str, int],
) -> tuple[CampaignPost, list[ContentProblem]]:
    problems: list[ContentProblem] = []
    defaults = manifest.defaults

    if not _SLUG_RE.match(spec.key):
        problems.append(
            ContentProblem(where, "key", f"{spec.key!r} is not a slug (lower-case letters, digits, '-' or '_', at most 100 characters)", given=spec.key, limit=_SLUG_RE.pattern)
        )
    if spec.product is not None and spec.product not in products:
        problems.append(
            ContentProblem(where, "product", f"unknown product alias {spec.product!r} (campaign products: {', '.join(products)})", given=spec.product, limit=list(products))
        )

    channels_value = spec.channels if spec.channels is not None else defaults.channels
    channels, unknown = _resolve_channels(channels_value)
    for name in unknown:
        problems.append(_channel_problem(where, "channels", name))
    for name in spec.overrides:
        if name not in rules.CAMPAIGN_CHANNELS:
            problems.append(_channel_problem(where, f"overrides.{name}", name))
        elif not unknown and name not in channels:  # an override that would silently never apply
            problems.append(ContentProblem(
                where, f"overrides.{name}",
                f"the post does not target {name} (its channels: {', '.join(channels) or 'none'}); "
                f"add {name} to channels or remove the override", given=name, limit=list(channels),
            ))

    # media: path shape, presence, type, size
    kinds: list[str] = []
    for i, rel in enumerate(spec.media):
        field = f"media[{i}]"
        bad = _bad_rel_path(rel)
        if bad:
            problems.append(ContentProblem(where, field, f"{rel!r}: {bad}", given=rel))
            continue
        kind = rules.media_kind(rel)
        if rel not in listing:
            problems.append(ContentProblem(where, field, f"{rel}: not found in the campaign folder", given=rel))
            if kind is None:
                problems.extend(rules.check_media_file(rel, None, where, field=field))
        else:
            problems.extend(rules.check_media_file(rel, listing[rel], where, field=field))
        if kind is not None:
            kinds.append(kind)

    mode_field_default = "delivery_mode" if spec.delivery_mode is not None else "defaults.delivery_mode"
    post_mode = spec.delivery_mode or defaults.delivery_mode
    for channel in channels:
        override = spec.overrides.get(channel)
        caption = override.caption if override is not None and override.caption is not None else spec.caption
        requested_mode = override.delivery_mode if override is not None and override.delivery_mode else post_mode
        mode_field = f"overrides.{channel}.delivery_mode" if override is not None and override.delivery_mode else mode_field_default
        if override is not None and override.settings:
            settings_field = f"overrides.{channel}.settings"
        else:
            settings_field = f"defaults.settings.{channel}"
        merged = _merged_settings(defaults, override, channel)
        # unknown settings keys (the server would silently drop them: most likely a typo)
        known = SETTINGS_FIELDS.get(channel, ())
        for name in merged:
            if name == "__type" or (known and name in known):
                continue
            if known:
                problems.append(
                    ContentProblem(where, f"{settings_field}.{name}", f"unknown {channel} setting {name!r} (known: {', '.join(known)})", given=name, limit=list(known))
                )
        # Instagram carousel = feed with at least 2 items
        if channel == "instagram" and merged.get("postType") == _CAROUSEL and len(spec.media) < 2:
            n = len(spec.media)
            noun = {0: "no media", 1: "one image" if kinds[:1] == ["image"] else "one item"}.get(n, f"{n} items")
            problems.append(
                ContentProblem(where, "media", f"{noun} given where an Instagram carousel needs at least two (postType carousel = feed with 2–10 items)", given=n, limit=2)
            )
        # settings of channels without a settings object are passed through: the rules report them
        settings_for_check = _api_settings(channel, {k: v for k, v in merged.items() if not known or k in known or k == "__type"})
        if requested_mode not in rules.DELIVERY_MODES:
            mode_for_check = requested_mode
        elif channel == "tiktok":
            mode_for_check = rules.default_delivery_mode(channel, requested_mode)
        else:
            mode_for_check = requested_mode
        caption_field = f"overrides.{channel}.caption" if override is not None and override.caption is not None else "caption"
        problems.extend(
            rules.check_post(
                channel,
                caption,
                kinds,
                settings_for_check,
                where,
                delivery_mode=mode_for_check,
                field_names={
                    "mediaAssetIds": "media",
                    "caption": caption_field,
                    "settings": settings_field,
                    "deliveryMode": mode_field,
                    "channel": "channels",
                },
            )
        )

    post = CampaignPost(
        key=spec.key,
        caption=spec.caption,
        media=list(spec.media),
        channels=channels,
        product=spec.product,
        delivery_mode=post_mode,
        overrides=spec.overrides,
        source=where,
    )
    return post, problems


_CSV_FIELD_RE = re.compile(r"^overrides\.([a-z]+)\.(caption|delivery_mode|settings)(?:\.(.+))?$")


def _csv_field(field: str) -> str:
    """Name a problem field after the CSV column it came from (``settings.tiktok.privacyLevel``)."""
    m = _CSV_FIELD_RE.match(field)
    if not m:
        return field
    channel, what, rest = m.groups()
    if what == "settings":
        return f"settings.{channel}.{rest}" if rest else f"settings.{channel}.*"
    return f"{what}.{channel}"


def _post_where(base: str, key: Any) -> str:
    return f"{base} (key={key})" if isinstance(key, str) and key else base


def load_campaign(location: str | ObjectStoragePath, conn_id: str | None = None) -> Campaign:
    """Read and validate a campaign folder; raise :class:`CampaignValidationError` listing every problem.

    :param location: folder URL (``file:///…``, ``s3://bucket/prefix``), a local path, or an
        :class:`~airflow.sdk.ObjectStoragePath`.
    :param conn_id: Airflow connection used to read the folder (e.g. an ``aws`` connection for
        ``s3://``); not a Markaestro connection.
    """
    folder = _folder(location, conn_id)
    storage_conn_id = conn_id or folder.conn_id
    loc = _location_str(folder)
    problems: list[ContentProblem] = []

    try:
        versions: dict[str, str] = {}
        listing = _list_files(folder, versions)
    except FileNotFoundError:
        raise CampaignValidationError([ContentProblem(loc, "folder", "campaign folder not found")]) from None

    manifests = [n for n in MANIFEST_NAMES if n in listing]
    if len(manifests) > 1:
        problems.append(ContentProblem(loc, "manifest", f"several manifests found ({', '.join(manifests)}), keep one", given=manifests, limit=1))
    manifest_name: str
    raw_posts: list[tuple[str, Any, bool]] = []  # (where, raw post, came from a CSV row)
    folder_name = posixpath.basename(folder.path.rstrip("/")) or "campaign"
    if manifests:
        manifest_name = manifests[0]
        data, errs = _parse_structured(_read_text(folder / manifest_name), manifest_name)
        problems.extend(errs)
        if data is None and not errs:
            data = {}
        if data is not None and not isinstance(data, dict):
            problems.append(ContentProblem(manifest_name, "(root)", f"must be a mapping, got {type(data).__name__}"))
            data = None
        try:
            manifest = CampaignManifest.model_validate(data) if data is not None else CampaignManifest()
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, manifest_name))
            # keep every top-level field that is valid on its own so posts are still checked
            salvage: dict[str, Any] = {}
            for k, v in (data or {}).items():
                try:
                    CampaignManifest.model_validate({k: v})
                except ValidationError:
                    continue
                salvage[k] = v
            manifest = CampaignManifest.model_validate(salvage)
        for i, raw in enumerate(manifest.posts):
            base = f"{manifest_name} posts[{i}]"
            raw_posts.append((_post_where(base, raw.get("key") if isinstance(raw, dict) else None), raw, False))
        calendar = manifest.calendar
        if CSV_MANIFEST_NAME in listing and calendar != CSV_MANIFEST_NAME:
            problems.append(
                ContentProblem(manifest_name, "calendar", f"{CSV_MANIFEST_NAME} is in the folder but not used (calendar: {calendar or 'not set'}); set 'calendar: {CSV_MANIFEST_NAME}' or remove it", given=CSV_MANIFEST_NAME)
            )
        if calendar is not None:
            bad = _bad_rel_path(calendar)
            if bad or calendar not in listing:
                problems.append(ContentProblem(manifest_name, "calendar", f"{calendar!r}: {bad or 'not found in the campaign folder'}", given=calendar))
            else:
                rows, errs = _parse_csv(_read_text(folder / calendar), calendar)
                problems.extend(errs)
                raw_posts.extend((_post_where(w, r.get("key")), r, True) for w, r in rows)
    elif CSV_MANIFEST_NAME in listing:
        manifest_name = CSV_MANIFEST_NAME
        manifest = CampaignManifest()
        rows, errs = _parse_csv(_read_text(folder / CSV_MANIFEST_NAME), CSV_MANIFEST_NAME)
        problems.extend(errs)
        raw_posts.extend((_post_where(w, r.get("key")), r, True) for w, r in rows)
    else:
        raise CampaignValidationError(
            [ContentProblem(loc, "manifest", f"no manifest found (expected one of {', '.join((*MANIFEST_NAMES, CSV_MANIFEST_NAME))})")]
        )

    products = dict(manifest.products) or {DEFAULT_PRODUCT_ALIAS: ProductRef(conn_id=DEFAULT_CONN_ID)}
    defaults = manifest.defaults
    # campaign-level checks of defaults
    for name in defaults.settings:
        if name not in SETTINGS_FIELDS:
            if name in rules.CAMPAIGN_CHANNELS or name == "pinterest":
                problems.append(ContentProblem(manifest_name, f"defaults.settings.{name}", f"{name} takes no settings object (only tiktok and instagram do)", given=name, limit=list(SETTINGS_FIELDS)))
            else:
                problems.append(_channel_problem(manifest_name, f"defaults.settings.{name}", name))
    if defaults.delivery_mode not in rules.DELIVERY_MODES:
        problems.append(
            ContentProblem(manifest_name, "defaults.delivery_mode", f"{defaults.delivery_mode!r} given, must be one of {', '.join(rules.DELIVERY_MODES)}", given=defaults.delivery_mode, limit=rules.DELIVERY_MODES)
        )

    posts: list[CampaignPost] = []
    seen_keys: dict[str, str] = {}
    for where, raw, from_csv in raw_posts:
        if not isinstance(raw, dict):
            problems.append(ContentProblem(where, "(post)", f"must be a mapping, got {type(raw).__name__}"))
            continue
        bad: set[str] = set()
        try:
            spec = PostSpec.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, where))
            # still check what is valid, so one wrong type does not hide the post's other problems
            spec, bad = _salvage_post(raw, exc)
            if spec is None:
                continue
        if spec.key in seen_keys:
            problems.append(ContentProblem(where, "key", f"duplicate post key {spec.key!r} (first used at {seen_keys[spec.key]})", given=spec.key))
        else:
            seen_keys[spec.key] = where
        post, post_problems = _validate_post(spec, where, manifest, products, listing)
        post_problems = [p for p in post_problems if not _follows_from(p.field, bad)]
        if from_csv:
            post_problems = [
                ContentProblem(p.where, _csv_field(p.field), p.message, p.given, p.limit, p.code) for p in post_problems
            ]
        problems.extend(post_problems)
        if not bad:
            posts.append(post)

    if problems:
        raise CampaignValidationError(problems)
    return Campaign(
        name=manifest.name or folder_name,
        location=loc,
        conn_id=storage_conn_id,
        manifest=manifest_name,
        products=products,
        defaults=defaults,
        posts=posts,
        files=_media_from_listing(listing, versions),
    )


# ---------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------


def ledger_key(post_key: str, destination_id: str) -> str:
    return f"{post_key}|{destination_id}"


def is_sent(entry: Mapping[str, Any] | None) -> bool:
    """True if a ledger entry means "do not send again" (published / platform_action_required)."""
    return bool(entry) and entry.get("status") in SENT_STATUSES  # type: ignore[union-attr]


#: Marks hashes whose media identity is the file's bytes (local SHA-256 / ETag / md5Hash). Hashes
#: without it were written when local files were identified by mtime: they cannot be compared.
CONTENT_HASH_PREFIX = "c2-"


def content_hash(caption: str, media: Sequence[Any], delivery_mode: Any, settings: Any) -> str:
    """What a (post, destination) sends, as the manifest says it: kept in the ledger to notice edits."""
    text = json.dumps([caption, list(media), delivery_mode, settings], ensure_ascii=False, sort_keys=True)
    return CONTENT_HASH_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _comparable(entry: Mapping[str, Any]) -> bool:
    return str(entry.get("content_hash") or "").startswith(CONTENT_HASH_PREFIX)


def plan_posts(
    campaign: Campaign,
    product_alias: str,
    product_id: str,
    destinations: Sequence[Mapping[str, Any]],
    asset_ids: Mapping[str, str],
    ledger: Mapping[str, Mapping[str, Any]] | None,
    *,
    warn_edits: bool = True,
) -> list[dict[str, Any]]:
    """One entry per (post, destination) still to send for one product.

    Posts of ``product_alias`` (and posts without ``product``) are paired with every destination
    whose ``channel`` is one of the post's channels, in post order then destination order. Pairs
    whose ledger entry is sent (:data:`SENT_STATUSES`) are skipped. ``asset_ids`` maps media paths
    (as in the manifest) to uploaded asset ids; a missing one raises ``KeyError``.

    Entry keys: ``post_key``, ``product_id``, ``destination_id``, ``channel``, ``caption``
    (verbatim), ``media_asset_ids`` (manifest order), ``delivery_mode``, ``settings`` (API object
    with ``__type`` or ``None``), ``idempotency_hint`` (stable for the same content, changes when
    the content changes), ``content_hash`` and, when the ledger has an unsent earlier attempt,
    ``previous_post_id``; ``reuses_post`` when that post has this very content and is published
    again instead of creating a new one (its media ids come from the ledger: nothing to upload).
    """
    if isinstance(campaign, (str, bytes, Mapping)):
        campaign = Campaign.from_json(campaign)  # type: ignore[arg-type]
    ledger = ledger or {}
    if product_alias not in campaign.products:
        raise KeyError(f"unknown product alias {product_alias!r} (campaign products: {', '.join(campaign.products)})")
    plan: list[dict[str, Any]] = []
    for post in campaign.posts_for_product(product_alias):
        matching = [d for d in destinations if d.get("channel") in post.channels]
        missing_channels = [c for c in post.channels if not any(d.get("channel") == c for d in destinations)]
        if missing_channels:
            log.info("post %s: product %s has no destination for %s", post.key, product_alias, ", ".join(missing_channels))
        for dest in matching:
            channel = str(dest["channel"])
            dest_id = str(dest["id"])
            entry_prev = ledger.get(ledger_key(post.key, dest_id))
            caption = post.caption_for(channel)
            mode = post.delivery_mode_for(channel)
            settings = campaign.settings_for(post, channel)
            content = campaign.content_for(post, channel)
            prev = entry_prev or {}
            edited = _edited(prev, content)
            if is_sent(prev) or (_in_flight(prev) and edited):
                if edited and warn_edits:
                    log.warning("post %s was already %s to %s (post %s); its content changed in the manifest "
                                "since and is NOT sent again: give the new version a new post key to send it",
                                post.key, "being published" if _in_flight(prev) else "sent", dest_id, prev.get("post_id"))
                continue
            reuse = _reusable_entry(entry_prev, content, len(post.media))
            if reuse:
                media_ids = list(reuse["media_asset_ids"])  # the earlier post's own assets: no new upload
            else:
                try:
                    media_ids = [asset_ids[rel] for rel in post.media]
                except KeyError as exc:
                    raise KeyError(f"post {post.key}: no uploaded asset id for media {exc.args[0]!r}") from None
            # a post deleted in Markaestro since is sent anew: under a new key, or the old one would replay it
            gone = entry_prev.get("updated_at") if entry_prev and entry_prev.get("status") == "missing" else None
            fingerprint = json.dumps(
                [campaign.name, product_id, post.key, dest_id, caption, media_ids, mode, settings]
                + ([gone] if gone else []),
                ensure_ascii=False,
                sort_keys=True,
            )
            item: dict[str, Any] = {
                "post_key": post.key,
                "product_id": product_id,
                "destination_id": dest_id,
                "channel": channel,
                "caption": caption,
                "media_asset_ids": media_ids,
                "delivery_mode": mode,
                "settings": settings,
                "idempotency_hint": "mkc-" + hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:40],
                "content_hash": content,
            }
            if entry_prev and entry_prev.get("post_id"):
                item["previous_post_id"] = entry_prev["post_id"]
            if reuse:
                item["reuses_post"] = True
            plan.append(item)
    return plan


def _edited(entry: Mapping[str, Any], content: str) -> bool:
    """Known to differ; an entry without a comparable hash (none, or an older scheme) is not."""
    return _comparable(entry) and entry.get("content_hash") != content


def _in_flight(entry: Mapping[str, Any]) -> bool:
    """Going out now or by itself later (Markaestro retries a ``scheduled`` run): never a second
    post beside it."""
    return entry.get("status") in ("publishing", "scheduled")


def held_back(campaign: Campaign, ledger: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """(post, destination) pairs that went out (or are going out) and were edited in the manifest since.

    :func:`plan_posts` never sends them again (that would be a second post on the same account);
    the report lists them so the edit is not silently lost: the fix is a new post key.
    """
    posts = {post.key: post for post in campaign.posts}
    rows = []
    for key, entry in ledger.items():
        post_key, _, destination_id = key.partition("|")
        post, channel = posts.get(post_key), str(entry.get("channel") or "")
        if post is None or channel not in post.channels or not (is_sent(entry) or _in_flight(entry)):
            continue
        if _edited(entry, campaign.content_for(post, channel)):
            rows.append({
                "post_key": post_key,
                "product_id": entry.get("product_id") or "",
                "destination_id": destination_id,
                "channel": channel,
                "post_id": entry.get("post_id") or "",
                "status": entry.get("status") or "",
                "outcome": "held_back",
                "error": "caption, media or settings changed since it went out: not sent again; "
                         "give the new version a new post key to send it",
                "external_url": entry.get("external_url") or "",
            })
    return rows


def _reusable_entry(entry: Mapping[str, Any] | None, content: str, media_count: int) -> Mapping[str, Any] | None:
    """A ledger entry whose post can be published again as is: same content, known media."""
    if not entry or not entry.get("post_id") or entry.get("status") not in REUSABLE_STATUSES:
        return None
    # an older hash cannot be compared: the create operator checks the post itself before reusing it
    if (_comparable(entry) and entry["content_hash"] != content) or len(entry.get("media_asset_ids") or []) != media_count:
        return None
    return entry


# ---------------------------------------------------------------------------------------------
# Ledger
# ---------------------------------------------------------------------------------------------


def _ledger_path(location: Any, conn_id: str | None = None) -> ObjectStoragePath:
    return _folder(location, conn_id) / LEDGER_DIR / LEDGER_FILE


def read_ledger(location: str | ObjectStoragePath | Campaign, conn_id: str | None = None) -> dict[str, dict[str, Any]]:
    """The ledger of a campaign folder (``{}`` when none was written yet).

    Layout: ``<campaign folder>/_markaestro/ledger.json`` =
    ``{"<post_key>|<destination_id>": {"post_id", "status", "product_id", "channel", "updated_at", …}}``.
    """
    path = _ledger_path(location, conn_id)
    _fresh_fs(path.parent)
    try:
        text = _read_text(path)
    except FileNotFoundError:
        return {}
    data = json.loads(text) if text.strip() else {}
    if not isinstance(data, dict):
        raise ValueError(f"{LEDGER_PATH}: expected a JSON object, got {type(data).__name__}")
    return data


_RESULT_FIELDS = ("post_id", "status", "product_id", "channel", "error", "external_url", "content_hash",
                  "media_asset_ids")


def record_results(
    location: str | ObjectStoragePath | Campaign,
    results: Iterable[Mapping[str, Any]],
    conn_id: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Merge ``results`` into the ledger and write it back; returns the merged ledger.

    Each result needs ``post_key``, ``destination_id`` and ``status``, and normally ``post_id``,
    ``product_id``, ``channel`` (``error`` and ``external_url`` are kept when given). The file is
    written to a temporary name in ``_markaestro/`` and then moved over ``ledger.json`` (a rename
    locally, a single copy on object stores), so readers never see a half-written ledger.
    """
    results = list(results)
    ledger = read_ledger(location, conn_id)
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    for res in results:
        missing = [k for k in ("post_key", "destination_id", "status") if not res.get(k)]
        if missing:
            raise ValueError(f"ledger result {dict(res)!r} lacks {', '.join(missing)}")
        entry = {k: res[k] for k in _RESULT_FIELDS if res.get(k) is not None}
        entry.setdefault("post_id", res.get("id"))
        entry["updated_at"] = res.get("updated_at") or now
        ledger[ledger_key(str(res["post_key"]), str(res["destination_id"]))] = entry
    if not results:
        return ledger
    final = _ledger_path(location, conn_id)
    fs = final.fs
    fs.makedirs(final.parent.path, exist_ok=True)
    tmp = final.parent / f".{LEDGER_FILE}.{uuid.uuid4().hex}.tmp"
    payload = json.dumps(ledger, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    with tmp.open("wb") as fh:
        fh.write(payload.encode("utf-8"))
    try:
        fs.mv(tmp.path, final.path)
    finally:
        try:
            if fs.exists(tmp.path):
                fs.rm(tmp.path)
        except FileNotFoundError:
            pass
    _fresh_fs(final.parent)
    return ledger


def _created_dir(location: Any, conn_id: str | None = None) -> ObjectStoragePath:
    return _folder(location, conn_id) / LEDGER_DIR / CREATED_DIR


def record_created(location: str | ObjectStoragePath | Campaign, entry: Mapping[str, Any],
                   conn_id: str | None = None) -> None:
    """Note a post the moment it was created, before anything waits on it.

    The ledger itself is written once per run, at the end; a run that dies before then would
    otherwise forget a post that may already be live. One small file per (post, destination),
    ``_markaestro/created/<hash of the ledger key>.json``, so parallel mapped tasks never write the
    same object; :func:`fold_created` moves them into the ledger.
    """
    key = ledger_key(str(entry["post_key"]), str(entry["destination_id"]))
    folder = _created_dir(location, conn_id)
    folder.fs.makedirs(folder.path, exist_ok=True)
    record = {k: entry[k] for k in ("post_key", "destination_id", *_RESULT_FIELDS) if entry.get(k) is not None}
    with (folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json").open("wb") as fh:
        fh.write(json.dumps({**record, "status": "created"}, ensure_ascii=False).encode("utf-8"))


def fold_created(location: str | ObjectStoragePath | Campaign, conn_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Merge the created-post notes into the ledger (where it does not know that post yet) and
    remove them; returns the ledger. No write when there is no note."""
    folder = _created_dir(location, conn_id)
    fs = _fresh_fs(folder)
    try:
        names = [str(e["name"]) for e in fs.ls(folder.path, detail=True)
                 if e.get("type") == "file" and str(e["name"]).endswith(".json")]
    except (FileNotFoundError, NotADirectoryError):
        names = []
    ledger = read_ledger(location, conn_id)
    if not names:
        return ledger
    news = []
    readable = []
    for name in names:
        try:
            note = json.loads(fs.cat_file(name).decode("utf-8"))
            note["post_key"], note["destination_id"]  # noqa: B018 - a note without them is unusable
        except (ValueError, KeyError, TypeError) as exc:  # a write cut off halfway: keep it, say so
            log.warning("ignoring unreadable created-post note %s (%s); delete it once checked", name, exc)
            continue
        readable.append(name)
        known = ledger.get(ledger_key(note["post_key"], note["destination_id"])) or {}
        if known.get("post_id") != note.get("post_id") and not is_sent(known):
            news.append(note)
    ledger = record_results(location, news, conn_id) if news else ledger
    for name in readable:
        fs.rm_file(name)
    return ledger


# ---------------------------------------------------------------------------------------------
# JSON schema
# ---------------------------------------------------------------------------------------------


def campaign_json_schema() -> dict[str, Any]:
    """JSON schema of ``campaign.yaml`` / ``campaign.json``."""
    return CampaignManifest.json_schema()


def export_json_schema(path: str | Path) -> Path:
    """Write the manifest JSON schema (the committed copy is ``campaign_schema.json``)."""
    out = Path(path)
    out.write_text(json.dumps(campaign_json_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out
