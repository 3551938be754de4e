"""Operators for the Connect API (``/api/connect/v1``): for keys that carry only Connect scopes.

A Connect key needs ``posts.read``, ``posts.write`` and ``media.write``. Connect is the only surface
that **schedules**: a post created with ``scheduled_at`` (and ``is_draft=False``) is published by
Markaestro's own scheduler at that time, so no publish task and no sensor are needed. It accepts
images only (png, jpeg, webp, gif).

* :class:`ConnectUploadImageOperator` — one image (local path or ``ObjectStoragePath`` URL such as
  ``s3://bucket/key``) through ``create-upload-url`` + the signed single-use ``PUT``; returns the
  media id.
* :class:`ConnectCreatePostOperator` — one caption + media for many social accounts (one post per
  account); returns ``{"post_ids": [...], "created": [...], "errors": [...]}``.

Exactly-once, and what is left of the risk
------------------------------------------
Connect has **no idempotency keys**, so a retried request cannot be deduplicated by the server.
The create operator therefore:

1. persists every created post id in the task state store (``task_state_store``, shared by all
   tries of one task instance) right after the answer, per account, and reattaches on a retry
   instead of creating again; accounts that failed are retried, accounts that worked are not;
2. writes an *in-flight* marker (the accounts of the request) to the state store **before** each
   ``POST /posts``. If a try dies between the server's commit and the answer (connection reset,
   timeout, 5xx from a proxy, worker killed), the next try finds the marker and, before sending
   again, lists recent Connect posts (``GET /posts``) with the same caption, media count and
   ``scheduled_at``. Each candidate is read through ``GET /api/public/v1/posts/:id`` (same key,
   ``posts.read``) to learn its destination, and matching accounts are reattached. When a candidate
   cannot be read (the key lacks the scope), the task fails rather than risk a duplicate and names
   the posts to check.

Residual risk: the check only looks at the ``recent_posts_to_check`` newest posts, and a post with
the same caption, media count and schedule created for the same destination by someone else
between the lost answer and the retry would be mistaken for ours. Without an idempotency key a lost
answer after the server committed cannot be detected with certainty. The transport never resends a
Connect ``POST`` by itself (``safe_to_retry=False``); only an Airflow retry does, through the check.

The upload has a smaller residual risk: a ``PUT`` whose answer is lost is repeated with a new
upload URL on the retry, leaving one orphan media asset (storage, never a duplicate post).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_markaestro import rules
from airflow_provider_markaestro.exceptions import MarkaestroAPIError, MarkaestroAuthError, MarkaestroNotFound
from airflow_provider_markaestro.hook import as_storage_path, guess_mime_type
from airflow_provider_markaestro.operators import MarkaestroBaseOperator, MarkaestroFileOperator, _StateStore

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "CONNECT_CAPTION_MAX",
    "CONNECT_MAX_ACCOUNTS",
    "CONNECT_MAX_MEDIA",
    "ConnectCreatePostOperator",
    "ConnectUploadImageOperator",
    "account_channel",
    "account_destination",
    "normalize_scheduled_at",
]

#: Connect ``POST /posts`` caps (§10.6): caption ≤ 4000 (not trimmed), ≤ 35 media, ≤ 25 accounts.
CONNECT_CAPTION_MAX = 4000
CONNECT_MAX_MEDIA = 35
CONNECT_MAX_ACCOUNTS = 25
CONNECT_MAX_ID_CHARS = 2000
ALL_ACCOUNTS = "all"


def account_destination(token: str) -> str:
    """``productId#destinationId`` → ``destinationId`` (a bare destination id stays as it is)."""
    return token.split("#", 1)[1] if "#" in token else token


def account_channel(token: str) -> str | None:
    """The channel the server derives from a token: the second ``:`` segment of the destination id."""
    parts = account_destination(token).split(":")
    return parts[1] if len(parts) >= 2 and parts[1] else None


def normalize_scheduled_at(value: Any) -> str | None:
    """ISO-8601 UTC with milliseconds and ``Z`` (what the server stores), or ``None`` when empty.

    Accepts a ``datetime`` or any ISO-8601 string (``2026-08-28T15:00:00Z``, the rendered
    ``{{ dag_run.run_after }}`` form ``2026-08-28 15:00:00+00:00``…). A naive time is taken as UTC.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            import pendulum

            try:
                moment = pendulum.parse(text)  # type: ignore[assignment]
            except Exception as exc:
                raise ValueError(f"scheduled_at {value!r} is not an ISO-8601 date-time") from exc
            if not isinstance(moment, datetime):
                raise ValueError(f"scheduled_at {value!r} is not a date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _as_bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "none", "null"):
        return None
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name}: expected a boolean, got {value!r}")


def _as_list(value: Any) -> list[str]:
    """Rendered templates and XCom values → a list of non-empty strings (a str may be comma-separated)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return _as_list(json.loads(text))
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value if v is not None and str(v) != ""]
    return [str(value)]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _digest(value: Any, n: int = 16) -> str:
    raw = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:n]


def _fail_on(problems: list[rules.ContentProblem]) -> None:
    if problems:
        raise AirflowFailException(str(rules.MarkaestroContentError(problems)))


class ConnectUploadImageOperator(MarkaestroFileOperator):
    """Upload one image through the Connect API and return its media id (``ast_…``).

    :param file_path: local path or ``ObjectStoragePath`` URL (``s3://bucket/key``, ``file:///…``).
    :param mime_type: ``image/png``, ``image/jpeg``, ``image/webp`` or ``image/gif``; guessed from
        the file name when not given.
    :param storage_conn_id: Airflow connection to read ``file_path`` with (e.g. an ``aws`` one).
    :param markaestro_conn_id: Markaestro connection (a key with ``media.write``).

    The type and the size (10 MiB) are checked before anything is sent; videos are refused (Connect
    is images only: upload them with :class:`~airflow_provider_markaestro.operators.UploadMediaOperator`).
    A retry after a successful upload returns the stored media id without uploading again.
    """

    def _checked_mime(self, name: str) -> str:
        given = (self.mime_type or "").split(";")[0].strip().lower()
        mime = given or rules.mime_type_for(name) or guess_mime_type(name)
        if mime not in rules.IMAGE_MIME_TYPES:
            kind = rules.media_kind(mime) or "file"
            raise AirflowFailException(
                f"{self.file_path}: the Connect API accepts images only ({', '.join(sorted(rules.IMAGE_MIME_TYPES))}); "
                f"got a {kind} ({mime}). Upload videos with UploadMediaOperator (Public API)."
            )
        return mime

    def run(self, context: Context) -> str:
        state = _StateStore(context)
        state_key = f"connect_media:{_digest([str(self.file_path), self.mime_type])}"
        known = state.get(state_key)
        if known:
            self.log.info("Reusing media %s uploaded by an earlier attempt for %s", known, self.file_path)
            return str(known)
        source = as_storage_path(str(self.file_path), self.storage_conn_id or None)
        mime = self._checked_mime(source.name)
        size = source.stat().st_size
        if rules.mime_type_for(source.name):
            _fail_on(rules.check_media_file(source.name, size, str(self.file_path)))
        elif size > rules.MAX_IMAGE_BYTES or size == 0:
            raise AirflowFailException(
                f"{self.file_path}: {size} bytes, an image must be 1 byte to {rules.MAX_IMAGE_BYTES} bytes"
            )
        try:
            media_id = self.hook.connect_upload_image(source, mime_type=mime)
        except MarkaestroAPIError as exc:
            if not exc.is_retryable:
                raise AirflowFailException(f"{exc} [connection {self.markaestro_conn_id!r}]") from exc
            raise
        state.set(state_key, media_id)
        self.log.info("Uploaded %s (%s, %d bytes) as Connect media %s", self.file_path, mime, size, media_id)
        return media_id


class ConnectCreatePostOperator(MarkaestroBaseOperator):
    """Create one Connect post per social account (draft, or scheduled in Markaestro).

    :param caption: sent byte for byte (Connect does not trim it).
    :param media_ids: media ids (``ast_…``) in order, e.g. from :class:`ConnectUploadImageOperator`.
    :param social_accounts: what to post to. Each item is either an account token
        ``productId#destinationId`` (as listed by ``GET /social-accounts``, passed back verbatim), or a
        channel name (``instagram``, ``linkedin``…) meaning every account of the key's product on
        that channel, or ``"all"``. Channel names are resolved through ``GET /social-accounts``.
        A string is split on commas. Default ``"all"``.
    :param scheduled_at: ISO-8601 date-time (templated; e.g.
        ``"{{ (dag_run.run_after + macros.timedelta(hours=1)).isoformat() }}"``). When set the posts
        are scheduled (``is_draft=False``) and Markaestro publishes them at that time; when empty
        they are drafts. Never template it from ``ds``: runs without a logical date have none.
    :param is_draft: leave ``None``. ``True`` together with ``scheduled_at`` is refused.
    :param media_kinds: ``image``/``video`` per media item, for the client-side checks (default:
        all ``image``, the only kind the Connect upload accepts).
    :param allow_partial: when some accounts fail, succeed anyway (the errors are in the result);
        by default the task fails after recording what was created. It always fails when nothing
        was created.
    :param recent_posts_to_check: how many of the newest Connect posts a retry inspects for a post
        whose creation answer was lost (see the module docstring).

    Returns ``{"post_ids": [...], "created": [{"account", "id", "channel", "status"}...],
    "errors": [{"account", "error"}...], "scheduled_at": <iso or None>}``.
    """

    template_fields: Sequence[str] = (
        "caption", "media_ids", "social_accounts", "scheduled_at", "is_draft", "media_kinds", "allow_partial",
        "recent_posts_to_check", "markaestro_conn_id",
    )
    template_fields_renderers = {"media_ids": "json", "social_accounts": "json"}

    def __init__(
        self,
        *,
        caption: str = "",
        media_ids: list[str] | str | None = None,
        social_accounts: list[str] | str = ALL_ACCOUNTS,
        scheduled_at: str | datetime | None = None,
        is_draft: bool | None = None,
        media_kinds: list[str] | None = None,
        allow_partial: bool = False,
        recent_posts_to_check: int = 200,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.caption = caption
        self.media_ids = media_ids
        self.social_accounts = social_accounts
        self.scheduled_at = scheduled_at
        self.is_draft = is_draft
        self.media_kinds = media_kinds
        self.allow_partial = allow_partial
        self.recent_posts_to_check = recent_posts_to_check

    # --- validation (no HTTP) -----------------------------------------------------------------

    def _prepare(self) -> tuple[str, list[str], list[str], list[str], str | None, bool | None]:
        """Render-time values → (caption, media, tokens, channel filters, scheduled_at, is_draft)."""
        caption = "" if self.caption is None else str(self.caption)
        media = _as_list(self.media_ids)
        wanted = _as_list(self.social_accounts) or [ALL_ACCOUNTS]
        tokens = list(dict.fromkeys(a for a in wanted if "#" in a))
        filters = list(dict.fromkeys(a.strip().lower() for a in wanted if "#" not in a))
        try:
            scheduled_at = normalize_scheduled_at(self.scheduled_at)
            is_draft = _as_bool(self.is_draft, "is_draft")
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None
        if scheduled_at and is_draft:
            raise AirflowFailException(
                "is_draft=True contradicts scheduled_at: a scheduled Connect post is never a draft"
            )
        if scheduled_at:
            is_draft = False
        return caption, media, tokens, filters, scheduled_at, is_draft

    def _kinds(self, media: list[str]) -> list[str]:
        kinds = _as_list(self.media_kinds)
        return kinds if kinds else ["image"] * len(media)

    def validate(self, caption: str, media: list[str], tokens: list[str], filters: list[str]) -> None:
        """Every problem Markaestro would report, per account, before anything is sent."""
        problems: list[rules.ContentProblem] = []
        where = "connect post"
        length = _utf16_len(caption)
        if length > CONNECT_CAPTION_MAX:
            problems.append(rules.ContentProblem(
                where, "caption", f"{length} characters given (untrimmed, UTF-16 code units), at most "
                f"{CONNECT_CAPTION_MAX} allowed", given=length, limit=CONNECT_CAPTION_MAX,
                code="VALIDATION_CAPTION_TOO_LONG"))
        if len(media) > CONNECT_MAX_MEDIA:
            problems.append(rules.ContentProblem(
                where, "media", f"{len(media)} items given, at most {CONNECT_MAX_MEDIA} allowed",
                given=len(media), limit=CONNECT_MAX_MEDIA, code="VALIDATION_TOO_MANY_MEDIA_ASSETS"))
        for item in [*media, *tokens]:
            if len(item) > CONNECT_MAX_ID_CHARS:
                problems.append(rules.ContentProblem(
                    where, "id", f"an id of {len(item)} characters given, at most {CONNECT_MAX_ID_CHARS} allowed",
                    given=len(item), limit=CONNECT_MAX_ID_CHARS, code="VALIDATION_IDENTIFIER_TOO_LONG"))
        kinds = self._kinds(media)
        if len(kinds) != len(media):
            problems.append(rules.ContentProblem(
                where, "media_kinds", f"{len(kinds)} kinds given for {len(media)} media items",
                given=len(kinds), limit=len(media)))
        targets: list[tuple[str, str | None]] = [(t, account_channel(t)) for t in tokens]
        targets += [(f, f) for f in filters if f != ALL_ACCOUNTS]
        for where_, channel in targets:
            if channel is None:
                problems.append(rules.ContentProblem(
                    where_, "social_accounts", "not an account token (productId#provider:channel:accountId)",
                    given=where_, code="VALIDATION_ERROR"))
                continue
            problems.extend(rules.check_post(channel, caption, kinds, None, where_,
                                             field_names={"mediaAssetIds": "media"}))
        _fail_on(problems)

    # --- account resolution -------------------------------------------------------------------

    def _resolve(self, tokens: list[str], filters: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
        """Tokens as given plus every account matching a channel filter; unmatched channels are errors."""
        if not filters:
            return tokens, []
        accounts = self.hook.connect_list_social_accounts()
        resolved = list(tokens)
        errors: list[dict[str, Any]] = []
        for name in filters:
            matched = [a.id for a in accounts if name == ALL_ACCOUNTS or a.platform == name]
            if not matched:
                available = ", ".join(sorted({a.platform for a in accounts})) or "none"
                self.log.warning("No social account for %r (the key's product has: %s)", name, available)
                errors.append({"account": name, "error": "NO_SOCIAL_ACCOUNT_FOR_CHANNEL"})
            resolved.extend(matched)
        resolved = list(dict.fromkeys(resolved))
        # "all" may bring in channels the caption was not checked against yet.
        return resolved, errors

    # --- exactly-once helpers -----------------------------------------------------------------

    def _recover(self, suspects: list[str], caption: str, media: list[str], scheduled_at: str | None,
                 known_ids: set[str]) -> dict[str, dict[str, Any]]:
        """Posts an earlier try created although its answer was lost, mapped to their accounts."""
        candidates = []
        for n, post in enumerate(self.hook.connect_iter_posts()):
            if n >= int(self.recent_posts_to_check):
                break
            if post.id in known_ids or post.caption != caption or len(post.media_urls) != len(media):
                continue
            if scheduled_at and normalize_scheduled_at(post.scheduled_at) != scheduled_at:
                continue
            if not scheduled_at and not post.is_draft:
                continue
            candidates.append(post)
        if not candidates:
            self.log.info("No post with this caption among the %d newest: the interrupted try created nothing "
                          "for %d account(s); sending again", int(self.recent_posts_to_check), len(suspects))
            return {}
        wanted: dict[str, list[str]] = {}
        for token in suspects:
            wanted.setdefault(account_destination(token), []).append(token)
        recovered: dict[str, dict[str, Any]] = {}
        unreadable: list[str] = []
        for post in candidates:
            try:
                full = self.hook.get_post(post.id)
            except (MarkaestroAuthError, MarkaestroNotFound) as exc:
                self.log.warning("Cannot read post %s to learn its destination: %s", post.id, exc)
                unreadable.append(post.id)
                continue
            queue = wanted.get(full.destination_id) or []
            token = next((t for t in queue if "#" not in t or t.split("#", 1)[0] == full.product_id), None)
            if token is None:
                continue
            queue.remove(token)
            recovered[token] = {"id": full.id, "channel": full.channel, "status": full.status}
            self.log.info("Reattached to post %s for %s: created by a try whose answer was lost", full.id, token)
        missing = [t for t in suspects if t not in recovered]
        if unreadable and missing:
            raise AirflowFailException(
                f"An earlier try may have created posts whose answer was lost, and posts {', '.join(unreadable)} "
                f"(same caption) cannot be matched to accounts {', '.join(missing)} with this key. Check them in "
                "Markaestro before running this task again (clear its task state to resend)."
            )
        return recovered

    def _send(self, caption: str, chunk: list[str], media: list[str], scheduled_at: str | None,
              is_draft: bool | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One ``POST /posts``; → (created rows with their account, error rows)."""
        try:
            result = self.hook.connect_create_post(caption, chunk, media, scheduled_at=scheduled_at, is_draft=is_draft)
        except MarkaestroAPIError as exc:
            if exc.is_retryable:
                raise  # nothing is known: the in-flight marker stays, the retry checks before resending
            # Every account failed: the server answers the first account's error and created nothing.
            self.log.error("Markaestro refused all %d account(s): %s", len(chunk), exc)
            return [], [{"account": a, "error": exc.error_code, "message": str(exc)} for a in chunk]
        failed = {e.account for e in result.errors}
        succeeded = [a for a in chunk if a not in failed]
        if len(succeeded) != len(result.created):  # should not happen; keep ids, lose the mapping
            self.log.warning("%d created post(s) for %d account(s) without an error",
                             len(result.created), len(succeeded))
            succeeded = [None] * len(result.created)  # type: ignore[list-item]
        created = [{"account": a, **c.to_json()} for a, c in zip(succeeded, result.created, strict=True)]
        return created, [e.to_json() for e in result.errors]

    # --- run ----------------------------------------------------------------------------------

    def run(self, context: Context) -> dict[str, Any]:
        caption, media, tokens, filters, scheduled_at, is_draft = self._prepare()
        self.validate(caption, media, tokens, filters)
        accounts, errors = self._resolve(tokens, filters)
        if ALL_ACCOUNTS in filters:
            self.validate(caption, media, accounts, [])
        if not accounts:
            raise AirflowFailException(f"No social account to post to (asked for {self.social_accounts!r})")

        state = _StateStore(context)
        fp = _digest({"caption": caption, "media": media, "scheduled_at": scheduled_at, "is_draft": is_draft})
        inflight_key = f"connect_inflight:{fp}"

        def account_key(token: str) -> str:
            return f"connect_post:{fp}:{_digest(token)}"

        created: list[dict[str, Any]] = []
        pending: list[str] = []
        for token in accounts:
            known = state.get(account_key(token))
            if known:
                self.log.info("Reattached to post %s for %s (created by an earlier try)", known.get("id"), token)
                created.append({"account": token, **known})
            else:
                pending.append(token)

        inflight = state.get(inflight_key) or {}
        suspects = [t for t in pending if t in (inflight.get("accounts") or [])]
        if suspects:
            self.log.warning("An earlier try was interrupted while creating posts for %d account(s); checking "
                             "Markaestro before sending again (Connect has no idempotency keys)", len(suspects))
            recovered = self._recover(suspects, caption, media, scheduled_at, {c["id"] for c in created})
            for token, row in recovered.items():
                state.set(account_key(token), row)
                created.append({"account": token, **row})
                pending.remove(token)
        if inflight.get("accounts"):
            state.set(inflight_key, {"accounts": []})

        for start in range(0, len(pending), CONNECT_MAX_ACCOUNTS):
            chunk = pending[start:start + CONNECT_MAX_ACCOUNTS]
            state.set(inflight_key, {"accounts": chunk, "at": datetime.now(timezone.utc).isoformat()})
            rows, chunk_errors = self._send(caption, chunk, media, scheduled_at, is_draft)
            for row in rows:
                if row.get("account"):
                    state.set(account_key(row["account"]), {k: row[k] for k in ("id", "channel", "status")})
            state.set(inflight_key, {"accounts": []})
            created.extend(rows)
            errors.extend(chunk_errors)

        order = {t: i for i, t in enumerate(accounts)}
        created.sort(key=lambda r: order.get(r.get("account"), len(order)))
        for row in created:
            self.log.info("%-10s %-60s → post %s (%s)", row.get("channel"), row.get("account"), row["id"],
                          row["status"])
        for err in errors:
            self.log.error("%s → %s", err.get("account"), err.get("error"))
        result = {
            "post_ids": [r["id"] for r in created],
            "created": created,
            "errors": [{"account": e.get("account"), "error": e.get("error")} for e in errors],
            "scheduled_at": scheduled_at,
        }
        allow_partial = bool(_as_bool(self.allow_partial, "allow_partial"))
        if errors and (not allow_partial or not created):
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowFailException(
                f"{len(errors)} of {len(errors) + len(created)} account(s) failed: "
                + "; ".join(f"{e.get('account')}: {e.get('error')}" for e in errors)
            )
        return result
