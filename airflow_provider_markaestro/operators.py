"""Operators: upload media, create a post, publish it. Thin on purpose: the hook owns transport.

Exactly-once rules shared by all three:
* every mutating call carries an Idempotency-Key derived from dag_id, run_id, task_id, map_index,
  the call's purpose and the rendered values, so a retried task replays instead of posting twice;
* ids are persisted to the task state store the moment they exist, so a retry reattaches;
* content and auth errors (4xx) fail the task at once instead of spending retries, and after such
  an answer the next attempt mints a new key (contract §5: a failed attempt keeps the key reserved).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_markaestro import api
from airflow_provider_markaestro.exceptions import MarkaestroAPIError, MarkaestroNotFound
from airflow_provider_markaestro.hook import MarkaestroHook, as_storage_path
from airflow_provider_markaestro.links import (
    JOB_RUN_URL_XCOM_KEY,
    POST_URL_XCOM_KEY,
    MarkaestroJobRunLink,
    MarkaestroPostLink,
)
from airflow_provider_markaestro.rules import js_trim

if TYPE_CHECKING:
    from airflow.sdk import Context

ALREADY_PUBLISHING = "VALIDATION_POST_ALREADY_PUBLISHING"
# Pushed by PublishPostOperator once the publish went through: ``{"post_id", "job_run_id"}``. The
# return value alone cannot say it: a publish that found its post already publishing has no run id,
# and Airflow pushes no XCom for ``None``.
PUBLISH_XCOM_KEY = "markaestro_publish"


def default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class _StateStore:
    """The task state store (survives retries), or a dict when a task runs outside the Task Runner."""

    def __init__(self, context: Context) -> None:
        self._store = context.get("task_state_store")
        self._local: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self._store.get(key) if self._store is not None else self._local.get(key)

    def set(self, key: str, value: Any) -> None:
        if self._store is not None:
            self._store.set(key, value)
        else:
            self._local[key] = value


def idempotency_key(context: Context, purpose: str, payload: Any, generation: int = 0) -> str:
    """Stable across retries of one task instance, different for another run, map index or body."""
    ti = context["ti"]
    parts = [ti.dag_id, ti.run_id, ti.task_id, str(getattr(ti, "map_index", -1)), purpose, str(generation),
             json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"airflow-{purpose}-{digest[:48]}"


class MarkaestroBaseOperator(BaseOperator):
    """Connection handling and the exactly-once helpers shared by the Markaestro operators."""

    def __init__(self, *, markaestro_conn_id: str = MarkaestroHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.markaestro_conn_id = markaestro_conn_id

    @cached_property
    def hook(self) -> MarkaestroHook:
        return MarkaestroHook(markaestro_conn_id=self.markaestro_conn_id)

    def execute(self, context: Context) -> Any:
        try:
            return self.run(context)
        finally:
            self.hook.close()  # the pooled client would otherwise outlive the task

    def run(self, context: Context) -> Any:
        raise NotImplementedError

    def _mutate(self, context: Context, state: _StateStore, purpose: str, payload: Any, send: Any,
                own_key: str | None = None) -> Any:
        """Send a mutating call under its idempotency key; 4xx fails fast and retires the key.

        ``own_key``: a caller's key, stable across DAG runs; after a retired attempt it gets a suffix.
        """
        generation_key = f"idempotency_generation:{purpose}"
        generation = int(state.get(generation_key) or 0)
        if own_key:
            key = own_key if generation == 0 else f"{own_key}-g{generation}"
        else:
            key = idempotency_key(context, purpose, payload, generation)
        try:
            return send(key)
        except MarkaestroAPIError as exc:
            if not exc.is_retryable and exc.error_code != "IDEMPOTENCY_REQUEST_IN_PROGRESS":
                state.set(generation_key, generation + 1)
                if exc.error_code != ALREADY_PUBLISHING:
                    raise AirflowFailException(f"{exc} [connection {self.markaestro_conn_id!r}]") from exc
            raise

    def _push_url(self, context: Context, key: str, url: str) -> None:
        context["ti"].xcom_push(key=key, value=url)
        self.log.info("Markaestro: %s", url)


class MarkaestroFileOperator(MarkaestroBaseOperator):
    """Base of the upload operators: a file given as a local path or an ``ObjectStoragePath`` URL.

    :param file_path: ``/local/path``, ``file://…``, ``s3://bucket/key``, ``gs://…`` (templated).
    :param mime_type: the file's MIME type; guessed from the extension when empty.
    :param storage_conn_id: Airflow connection used to read ``file_path`` (e.g. an ``aws`` one).
    """

    template_fields: Sequence[str] = ("file_path", "mime_type", "storage_conn_id", "markaestro_conn_id")

    def __init__(
        self, *, file_path: str, mime_type: str | None = None, storage_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.file_path = file_path
        self.mime_type = mime_type
        self.storage_conn_id = storage_conn_id


class UploadMediaOperator(MarkaestroFileOperator):
    """Upload one file and return its asset id.

    Files above 8 MiB stream through an upload session, so a 250 MB video is never read whole.

    :param idempotency_key: a key of your own, stable across DAG runs, so the same file uploaded by
        another run is the same asset (multipart uploads only: Markaestro's upload sessions take no key).
    """

    template_fields: Sequence[str] = (*MarkaestroFileOperator.template_fields, "idempotency_key")

    def __init__(self, *, idempotency_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.idempotency_key = idempotency_key

    def run(self, context: Context) -> str:
        state = _StateStore(context)
        known = state.get("asset_id")
        if known:
            self.log.info("Reusing asset %s uploaded by an earlier attempt", known)
            return known
        payload = {"file": str(self.file_path), "mime": self.mime_type}
        source = as_storage_path(self.file_path, self.storage_conn_id)
        asset = self._mutate(
            context, state, "upload_media", payload,
            lambda key: self.hook.upload_media(source, mime_type=self.mime_type, idempotency_key=key),
            own_key=self.idempotency_key or None,
        )
        state.set("asset_id", asset.id)
        self.log.info("Uploaded %s as %s (%s, %d bytes)", self.file_path, asset.id, asset.mime_type, asset.size_bytes)
        return asset.id


class CreatePostOperator(MarkaestroBaseOperator):
    """Create one draft post for a channel/destination and return its id.

    The caption is sent byte for byte as given. Content is checked against the channel's limits
    before any HTTP call; the error names the destination, the field, the size and the limit.

    :param reuse_post_id: a post an earlier DAG run created for the same content: reattached to
        instead of creating another one when it still has this very content.
    :param idempotency_key: a key of your own, stable across DAG runs, for content that must never
        be created twice (Markaestro keeps keys for at least 24 h, workspace-wide). By default the
        key is derived from the task instance, so a retry replays but a new DAG run creates anew.
    """

    template_fields: Sequence[str] = (
        "channel", "caption", "media_asset_ids", "destination_id", "delivery_mode", "settings", "product_id",
        "media_kinds", "reuse_post_id", "idempotency_key", "markaestro_conn_id",
    )
    template_fields_renderers = {"settings": "json", "media_asset_ids": "json"}
    operator_extra_links = (MarkaestroPostLink(),)

    def __init__(
        self,
        *,
        channel: str,
        caption: str = "",
        media_asset_ids: list[str] | None = None,
        destination_id: str | None = None,
        delivery_mode: str | None = None,
        settings: dict[str, Any] | None = None,
        product_id: str | None = None,
        media_kinds: list[str] | None = None,
        reuse_post_id: str | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.reuse_post_id = reuse_post_id
        self.idempotency_key = idempotency_key
        self.channel = channel
        self.caption = caption
        self.media_asset_ids = media_asset_ids
        self.destination_id = destination_id
        self.delivery_mode = delivery_mode
        self.settings = settings
        self.product_id = product_id
        self.media_kinds = media_kinds

    def body(self) -> dict[str, Any]:
        return api.post_body(
            self.channel,
            self.caption,
            list(self.media_asset_ids or []),
            destination_id=self.destination_id or None,
            delivery_mode=self.delivery_mode or None,
            settings=self.settings or None,
            product_id=self.product_id or None,
        )

    def validate_content(self) -> None:
        from airflow_provider_markaestro.rules import MarkaestroContentError, check_post

        # Without media_kinds only counts can be checked: items of unknown kind match no video rule.
        count = len(self.media_asset_ids or [])
        kinds = list(self.media_kinds) if self.media_kinds else ["unknown"] * count
        where = self.destination_id or self.channel
        problems = check_post(self.channel, self.caption or "", kinds, self.settings, where,
                              delivery_mode=self.delivery_mode or None)
        if problems:
            raise AirflowFailException(str(MarkaestroContentError(problems)))

    def _reusable(self, post_id: str | None) -> str | None:
        """An existing post with this very content (same channel, destination, caption, media)."""
        if not post_id:
            return None
        try:
            post = self.hook.get_post(post_id)
        except MarkaestroNotFound:
            return None
        body = self.body()
        same = (post.channel == body["channel"] and post.caption == js_trim(body.get("caption", ""))  # stored trimmed
                and post.media_asset_ids == body.get("mediaAssetIds", [])
                and (not self.destination_id or post.destination_id == self.destination_id))
        if not same:
            self.log.info("Post %s differs from the requested content: creating a new one", post_id)
            return None
        self.log.info("Reattached to existing post %s (%s)", post.id, post.status)
        return post.id

    def run(self, context: Context) -> str:
        """``reuse_post_id``: a post an earlier DAG run created for the same content (campaign ledger)."""
        self.validate_content()
        state = _StateStore(context)
        post_id = self._reusable(state.get("post_id")) or self._reusable(self.reuse_post_id)
        if not post_id:
            body = self.body()
            post = self._mutate(context, state, "create_post", body,
                                lambda key: self.hook.create_post(body, idempotency_key=key),
                                own_key=self.idempotency_key or None)
            post_id = post.id
            state.set("post_id", post_id)
            self.log.info("Created %s post %s for destination %s", post.channel, post.id, post.destination_id or "-")
        self._push_url(context, POST_URL_XCOM_KEY, self.hook.web_link("posts", post_id))
        return post_id


class PublishPostOperator(MarkaestroBaseOperator):
    """Publish a post now and return the publish job-run id.

    A publish answered VALIDATION_POST_ALREADY_PUBLISHING (409, or 400 when the post moved on while
    our request was in flight) is not an error: the post has already moved on, so the task
    reattaches to it. With
    ``wait_for_completion=True`` it also waits for the post to settle (deferrable when asked).
    """

    template_fields: Sequence[str] = ("post_id", "poll_interval", "wait_timeout", "markaestro_conn_id")
    operator_extra_links = (MarkaestroPostLink(), MarkaestroJobRunLink())

    def __init__(
        self,
        *,
        post_id: str,
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 10.0,
        wait_timeout: float = 6 * 3600,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cancel_on_kill = cancel_on_kill
        self.post_id = post_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout

    def run(self, context: Context) -> str | None:
        state = _StateStore(context)
        state_key = f"job_run_id:{self.post_id}"
        run_id = state.get(state_key)
        self._push_url(context, POST_URL_XCOM_KEY, self.hook.web_link("posts", self.post_id))
        if run_id:
            self.log.info("Reattached to publish run %s started by an earlier attempt", run_id)
        else:
            try:
                run = self._mutate(context, state, "publish_post", {"postId": self.post_id},
                                   lambda key: self.hook.publish_post(self.post_id, idempotency_key=key))
                run_id = run.id
                state.set(state_key, run_id)
                self.log.info("Publish run %s is %s", run.id, run.status)
            except MarkaestroAPIError as exc:  # 409, or 400 when the move raced our own publish
                if exc.error_code != ALREADY_PUBLISHING:
                    raise
                self.log.info("Post %s has already moved on (%s); following the post", self.post_id, exc.api_message)
        if run_id:
            self._push_url(context, JOB_RUN_URL_XCOM_KEY, self.hook.web_link("job-runs", run_id))
        else:  # no run to link to: an empty link, instead of Airflow logging "XCom not found" as an error
            context["ti"].xcom_push(key=JOB_RUN_URL_XCOM_KEY, value="")
        context["ti"].xcom_push(key=PUBLISH_XCOM_KEY, value={"post_id": self.post_id, "job_run_id": run_id})
        if self.wait_for_completion:
            from airflow_provider_markaestro.sensors import wait_for_publish

            wait_for_publish(self, context, run_id, self.post_id, float(self.poll_interval), float(self.wait_timeout),
                             self.deferrable, soft_fail=False, cancel_on_kill=self.cancel_on_kill)
        return run_id

    def on_kill(self) -> None:
        if self.wait_for_completion and self.cancel_on_kill:
            from airflow_provider_markaestro.sensors import cancel_unstarted_publish

            cancel_unstarted_publish(self, self.hook, None, self.post_id)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str | None:
        from airflow_provider_markaestro.sensors import handle_publish_event

        result = handle_publish_event(self, context, event, soft_fail=False)
        return result.get("job_run_id") or None

