"""``MarkaestroHook``: the Airflow connection bound to a typed Markaestro client, sync and async.

Connection mapping: host = base URL (``https://markaestro.com`` when empty; scheme optional),
password = API key (``mk_live_…``, bound to one product). Extras (all optional, plain JSON values):

* ``timeout`` — per-request timeout in seconds (default 30);
* ``max_retries`` — attempts per call for retryable failures, the first included (default 6);
* ``max_retry_wait`` — ceiling in seconds for one ``Retry-After``/pacing wait (default 120);
* ``rate_limit_window_seconds`` — the server's fixed rate-limit window (default 60, the contract's);
  used to wait exactly until a window boundary instead of the rounded ``X-RateLimit-Reset``;
* ``global_rate_limit`` — the per-client global limit per window if known (240/480/1200 by plan);
  otherwise it is learnt from the first 429 that reports it;
* ``pace_requests`` — ``false`` disables client-side pacing (429s are then only retried);
* ``web_url`` — where the "View in Markaestro" links point (defaults to the base URL).

Idempotency (contract §5): ``create_post``, ``create_posts``, ``publish_post`` and
``upload_media`` (multipart) accept ``idempotency_key``. With a key the transport retries 5xx,
timeouts and lost connections with the *same* key, so a replay returns the original result. After
any other non-2xx answer the server keeps that key reserved for ~10 minutes: **the caller must mint a
new key** before trying again (the operators do this). Without a key (a blank one counts as none, as
on the server) these POSTs are never resent once they may have reached the server.

DELETEs are resent after an unknown outcome; when the resend answers 404 the lost attempt did the
delete, so ``delete_post``/``delete_media``/``disable_webhook_endpoint`` return as done (logged at
INFO). A 404 to the first attempt is raised as :class:`MarkaestroNotFound`.
"""

from __future__ import annotations

import logging
import mimetypes
import posixpath
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx
from airflow.sdk import BaseHook, ObjectStoragePath
from airflow.sdk.log import amask_secret, mask_secret

from airflow_provider_markaestro import api
from airflow_provider_markaestro import models as m
from airflow_provider_markaestro.exceptions import MarkaestroAPIError, MarkaestroNotFound, MarkaestroTransportError
from airflow_provider_markaestro.transport import (
    DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    AsyncTransport,
    RateLimitPacer,
    RetryPolicy,
    SyncTransport,
    resolve_base_url,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

# Above this size a file goes through an upload session (signed PUT) instead of multipart, so the
# API server never has to buffer a large video and the client streams it straight to storage.
SESSION_UPLOAD_THRESHOLD = 8 * 1024 * 1024

_MIME_BY_EXTENSION = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
}

Source = str | Path | ObjectStoragePath


def guess_mime_type(name: str) -> str:
    ext = posixpath.splitext(name.lower())[1]
    return _MIME_BY_EXTENSION.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def as_storage_path(source: Source, conn_id: str | None = None) -> ObjectStoragePath | Path:
    """A local path stays a ``Path``; anything with a scheme (``file://``, ``s3://``…) is object storage,
    read with the Airflow connection ``conn_id`` when given."""
    if isinstance(source, (ObjectStoragePath, Path)):
        return source
    return ObjectStoragePath(source, conn_id=conn_id) if "://" in source else Path(source)


@dataclass(frozen=True)
class ClientSettings:
    base_url: str
    api_key: str
    timeout: float
    max_retries: int
    web_url: str
    max_retry_wait: float = MAX_RETRY_AFTER_SECONDS
    rate_limit_window_seconds: float = DEFAULT_RATE_LIMIT_WINDOW_SECONDS
    global_rate_limit: int | None = None
    pace_requests: bool = True

    def __repr__(self) -> str:
        return (
            f"ClientSettings(base_url={self.base_url!r}, timeout={self.timeout}, max_retries={self.max_retries}, "
            f"rate_limit_window_seconds={self.rate_limit_window_seconds})"
        )


def _flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


class MarkaestroHook(BaseHook):
    """Talks to both Markaestro surfaces (Public ``/api/public/v1`` and Connect ``/api/connect/v1``).

    Every route has a sync method and an ``a``-prefixed async twin built from the same request
    description (:mod:`api`). Methods return pydantic models; call ``.to_json()`` for XCom.
    Transport policy (retries, ``Retry-After``, pacing, redaction) is described in :mod:`transport`.

    :param markaestro_conn_id: Airflow connection id (conn type ``markaestro``).
    :param timeout: per-request timeout in seconds (overrides the connection's ``timeout`` extra).
    :param max_retries: attempts for retryable failures (overrides ``max_retries``).
    :param rate_limit_window_seconds: the server's rate-limit window (overrides the extra; default 60).
    :param pace_requests: wait for the next rate-limit window instead of provoking 429s (default on).
    """

    conn_name_attr = "markaestro_conn_id"
    default_conn_name = "markaestro_default"
    conn_type = "markaestro"
    hook_name = "Markaestro"

    #: Files larger than this go through upload sessions (streamed signed PUT) instead of multipart.
    session_upload_threshold = SESSION_UPLOAD_THRESHOLD

    def __init__(
        self,
        markaestro_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        rate_limit_window_seconds: float | None = None,
        pace_requests: bool | None = None,
        http_transport: httpx.BaseTransport | None = None,
        async_http_transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.markaestro_conn_id = markaestro_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._window = rate_limit_window_seconds
        self._pace = pace_requests
        self._http_transport = http_transport
        self._async_http_transport = async_http_transport
        self._async_transport: AsyncTransport | None = None
        self._pacer: RateLimitPacer | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(markaestro_conn_id={self.markaestro_conn_id!r})"

    # --- connection -------------------------------------------------------------------------

    def _api_key(self, password: str | None) -> str:
        """The key as a header can carry it: surrounding whitespace (a pasted or file-read key's
        trailing newline) is dropped; anything else outside printable ASCII is refused by position."""
        key = (password or "").strip()
        if not key:
            raise ValueError(
                f"Markaestro connection {self.markaestro_conn_id!r} has no API key: put it in the password field"
            )
        bad = next((i for i, ch in enumerate(key) if not "!" <= ch <= "~"), None)
        if bad is not None:
            raise ValueError(
                f"Markaestro connection {self.markaestro_conn_id!r}: the API key (password field) has a space, "
                f"control or non-ASCII character at position {bad + 1} of {len(key)}; paste the mk_live_… key alone"
            )
        return key

    def _extra_number(self, extra: dict[str, Any], name: str, cast: type[float] | type[int], default: Any) -> Any:
        value = extra.get(name)
        if value is None or value == "":
            return default
        try:
            return cast(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"Markaestro connection {self.markaestro_conn_id!r}: extra {name!r} must be a number, got {value!r}"
            ) from None

    def _settings_from(self, conn: Any, extra: dict[str, Any]) -> ClientSettings:
        api_key = self._api_key(conn.password)
        base_url = resolve_base_url(conn.host, conn.port)
        number = self._extra_number
        timeout = float(self._timeout) if self._timeout is not None else number(extra, "timeout", float, 30.0)
        retries = int(self._max_retries) if self._max_retries is not None else number(extra, "max_retries", int, 6)
        web_url = str(extra.get("web_url") or base_url).rstrip("/")
        window = (
            float(self._window) if self._window is not None
            else number(extra, "rate_limit_window_seconds", float, DEFAULT_RATE_LIMIT_WINDOW_SECONDS)
        )
        return ClientSettings(
            base_url,
            api_key,
            timeout,
            max(1, retries),
            web_url,
            max_retry_wait=number(extra, "max_retry_wait", float, MAX_RETRY_AFTER_SECONDS),
            rate_limit_window_seconds=window,
            global_rate_limit=number(extra, "global_rate_limit", int, None) or None,
            pace_requests=self._pace if self._pace is not None else _flag(extra.get("pace_requests"), True),
        )

    @cached_property
    def settings(self) -> ClientSettings:
        conn = self.get_connection(self.markaestro_conn_id)
        mask_secret(conn.password)
        if conn.password and conn.password.strip() != conn.password:
            mask_secret(conn.password.strip())
        return self._settings_from(conn, conn.extra_dejson)

    async def asettings(self) -> ClientSettings:
        """Async connection lookup for triggers: never the sync path inside an event loop."""
        if "settings" in self.__dict__:
            return self.__dict__["settings"]
        conn = await self.aget_connection(self.markaestro_conn_id)
        await amask_secret(conn.password)
        if conn.password and conn.password.strip() != conn.password:
            await amask_secret(conn.password.strip())
        extra = await conn.aextra_dejson() if hasattr(conn, "aextra_dejson") else conn.extra_dejson
        settings = self._settings_from(conn, extra)
        self.__dict__["settings"] = settings
        return settings

    def _policy(self, settings: ClientSettings) -> RetryPolicy:
        return RetryPolicy(max_attempts=settings.max_retries, max_wait=settings.max_retry_wait)

    def _shared_pacer(self, settings: ClientSettings) -> RateLimitPacer:
        """One pacer per hook, shared by its sync and async transports (same key, same counters)."""
        if self._pacer is None:
            self._pacer = RateLimitPacer(
                settings.max_retry_wait,
                window_seconds=settings.rate_limit_window_seconds,
                global_limit=settings.global_rate_limit,
                enabled=settings.pace_requests,
            )
        return self._pacer

    @cached_property
    def transport(self) -> SyncTransport:
        s = self.settings
        return SyncTransport(
            s.base_url,
            s.api_key,
            timeout=s.timeout,
            policy=self._policy(s),
            pacer=self._shared_pacer(s),
            http_transport=self._http_transport,
        )

    async def atransport(self) -> AsyncTransport:
        if self._async_transport is None:
            s = await self.asettings()
            self._async_transport = AsyncTransport(
                s.base_url,
                s.api_key,
                timeout=s.timeout,
                policy=self._policy(s),
                pacer=self._shared_pacer(s),
                http_transport=self._async_http_transport,
            )
        return self._async_transport

    def get_conn(self) -> httpx.Client:
        """The pooled ``httpx.Client`` this hook reuses across calls."""
        return self.transport.client

    def close(self) -> None:
        if "transport" in self.__dict__:
            self.transport.close()

    async def aclose(self) -> None:
        if self._async_transport is not None:
            await self._async_transport.aclose()

    def __enter__(self) -> MarkaestroHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> MarkaestroHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _call(self, call: api.Call[T]) -> T:
        try:
            response = self.transport.send(call.spec)
        except MarkaestroNotFound as exc:
            return _already_gone(call, exc)
        return call.parse(response)

    async def _acall(self, call: api.Call[T]) -> T:
        transport = await self.atransport()
        try:
            response = await transport.send(call.spec)
        except MarkaestroNotFound as exc:
            return _already_gone(call, exc)
        return call.parse(response)

    def web_link(self, kind: str, object_id: str) -> str:
        """URL of a post or job run in Markaestro, for extra links and logs."""
        return f"{self.settings.web_url}/app/{kind}/{object_id}"

    def test_connection(self) -> tuple[bool, str]:
        """Cheap authenticated call: lists the key's product."""
        try:
            products = self.list_products()
        except Exception as exc:
            return False, str(exc)
        names = ", ".join(p.name for p in products) or "no product"
        return True, f"Connected to Markaestro; the API key is bound to: {names}"

    # --- Public: products and destinations ----------------------------------------------------

    def list_products(self) -> list[m.Product]:
        """``GET /products``: the key's product (0 or 1 entries)."""
        return self._call(api.list_products())

    async def alist_products(self) -> list[m.Product]:
        return await self._acall(api.list_products())

    def get_bound_product(self) -> m.Product:
        """The one product this API key is bound to."""
        return _single_product(self.list_products(), self.markaestro_conn_id)

    async def aget_bound_product(self) -> m.Product:
        return _single_product(await self.alist_products(), self.markaestro_conn_id)

    def list_destinations(self, product_id: str) -> list[m.Destination]:
        """``GET /products/:id/destinations``."""
        return self._call(api.list_destinations(product_id))

    async def alist_destinations(self, product_id: str) -> list[m.Destination]:
        return await self._acall(api.list_destinations(product_id))

    # --- Public: media ------------------------------------------------------------------------

    def upload_media(
        self, source: Source, *, mime_type: str | None = None, idempotency_key: str | None = None
    ) -> m.MediaAsset:
        """Upload a local or object-storage file and return its asset.

        Files up to :attr:`session_upload_threshold` go multipart (``POST /media``, honours
        ``idempotency_key``; after a non-2xx other than 429/5xx/409-in-progress mint a new key).
        Larger files stream through an upload session (create → signed PUT → finalize); sessions
        have no idempotency, so ``idempotency_key`` is not used there and a failed attempt may
        leave an orphaned session behind.
        """
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        if size > self.session_upload_threshold:
            return self.upload_media_session(path, mime_type=mime)
        return self._call(api.upload_media(_opener(path), name, mime, idempotency_key=idempotency_key))

    async def aupload_media(
        self, source: Source, *, mime_type: str | None = None, idempotency_key: str | None = None
    ) -> m.MediaAsset:
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        if size > self.session_upload_threshold:
            return await self.aupload_media_session(path, mime_type=mime)
        return await self._acall(api.upload_media(_opener(path), name, mime, idempotency_key=idempotency_key))

    def upload_media_multipart(
        self, source: Source, *, mime_type: str | None = None, idempotency_key: str | None = None
    ) -> m.MediaAsset:
        """``POST /media`` (multipart, whatever the size; the file is streamed, not read whole)."""
        path = as_storage_path(source)
        _, name, mime = _describe(path, mime_type)
        return self._call(api.upload_media(_opener(path), name, mime, idempotency_key=idempotency_key))

    async def aupload_media_multipart(
        self, source: Source, *, mime_type: str | None = None, idempotency_key: str | None = None
    ) -> m.MediaAsset:
        path = as_storage_path(source)
        _, name, mime = _describe(path, mime_type)
        return await self._acall(api.upload_media(_opener(path), name, mime, idempotency_key=idempotency_key))

    def upload_media_session(self, source: Source, *, mime_type: str | None = None) -> m.MediaAsset:
        """Create session → PUT the bytes to the signed URL (chunked from the file, exact
        ``Content-Type`` from ``uploadHeaders``, no ``Authorization``) → finalize."""
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        session = self.create_upload_session(name, mime, size)
        self.put_upload_session(session, path, size_bytes=size)
        return self.finalize_upload_session(session.id)

    async def aupload_media_session(self, source: Source, *, mime_type: str | None = None) -> m.MediaAsset:
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        session = await self.acreate_upload_session(name, mime, size)
        await self.aput_upload_session(session, path, size_bytes=size)
        return await self.afinalize_upload_session(session.id)

    def create_upload_session(self, file_name: str, content_type: str, size_bytes: int) -> m.UploadSession:
        """``POST /media/upload-sessions`` (no idempotency: not retried after an unknown outcome).
        The signed URL is registered with Airflow's secret masker."""
        session = self._call(api.create_upload_session(file_name, content_type, size_bytes))
        mask_secret(session.upload_url)
        return session

    async def acreate_upload_session(self, file_name: str, content_type: str, size_bytes: int) -> m.UploadSession:
        session = await self._acall(api.create_upload_session(file_name, content_type, size_bytes))
        await amask_secret(session.upload_url)
        return session

    def put_upload_session(self, session: m.UploadSession, source: Source, *, size_bytes: int | None = None) -> None:
        """``PUT <uploadUrl>``: storage, not Markaestro. Re-usable until expiry, so retried safely."""
        path = as_storage_path(source)
        size = size_bytes if size_bytes is not None else path.stat().st_size
        self._call(_session_put(session, path, size))

    async def aput_upload_session(
        self, session: m.UploadSession, source: Source, *, size_bytes: int | None = None
    ) -> None:
        path = as_storage_path(source)
        size = size_bytes if size_bytes is not None else path.stat().st_size
        await self._acall(_session_put(session, path, size))

    def finalize_upload_session(self, session_id: str) -> m.MediaAsset:
        """``POST /media/upload-sessions/:id/finalize``: 201 first time, 200 with the same asset after."""
        return self._call(api.finalize_upload_session(session_id))

    async def afinalize_upload_session(self, session_id: str) -> m.MediaAsset:
        return await self._acall(api.finalize_upload_session(session_id))

    def delete_media(self, asset_id: str) -> dict[str, Any]:
        """``DELETE /media/:id`` → ``{"deleted": true, "id": …}``, also when the transport's retry after a
        lost answer finds the asset gone (the lost attempt deleted it); a first-attempt 404 raises."""
        return self._call(api.delete_media(asset_id))

    async def adelete_media(self, asset_id: str) -> dict[str, Any]:
        return await self._acall(api.delete_media(asset_id))

    # --- Public: posts ------------------------------------------------------------------------

    def create_post(self, body: dict[str, Any], *, idempotency_key: str | None = None, check: bool = True) -> m.Post:
        """``POST /posts``: one draft post; build ``body`` with :func:`api.post_body`.

        Content Markaestro would refuse raises :class:`~airflow_provider_markaestro.rules.MarkaestroContentError`
        naming the field and the limit before anything is sent (``check=False`` sends it anyway).
        With ``idempotency_key`` 5xx/timeouts are retried with the same key (a replay returns the
        same post). After any other non-2xx, mint a new key before trying again.
        """
        return self._call(api.create_post(body, idempotency_key=idempotency_key, check=check))

    async def acreate_post(self, body: dict[str, Any], *, idempotency_key: str | None = None,
                           check: bool = True) -> m.Post:
        return await self._acall(api.create_post(body, idempotency_key=idempotency_key, check=check))

    def create_posts(self, bodies: list[dict[str, Any]], *, idempotency_key: str | None = None) -> m.BatchCreateResult:
        """``POST /posts`` batch (1–25 bodies): per-item results (a refused item does not stop the
        others, so bodies are not pre-checked: :func:`api.check_create_body` checks one); same
        idempotency rules as ``create_post``."""
        return self._call(api.create_posts(bodies, idempotency_key=idempotency_key))

    async def acreate_posts(
        self, bodies: list[dict[str, Any]], *, idempotency_key: str | None = None
    ) -> m.BatchCreateResult:
        return await self._acall(api.create_posts(bodies, idempotency_key=idempotency_key))

    def get_post(self, post_id: str) -> m.Post:
        """``GET /posts/:id``."""
        return self._call(api.get_post(post_id))

    async def aget_post(self, post_id: str) -> m.Post:
        return await self._acall(api.get_post(post_id))

    def list_posts(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | None = None,
        product_id: str | None = None,
    ) -> m.PostPage:
        """``GET /posts``: one page (newest first); see :meth:`iter_posts` to walk them all."""
        return self._call(api.list_posts(limit=limit, cursor=cursor, status=status, product_id=product_id))

    async def alist_posts(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | None = None,
        product_id: str | None = None,
    ) -> m.PostPage:
        return await self._acall(api.list_posts(limit=limit, cursor=cursor, status=status, product_id=product_id))

    def iter_posts(self, *, status: str | None = None, page_size: int = 100) -> Iterator[m.Post]:
        """Every post of the key's product, following ``nextCursor`` page by page."""
        cursor: str | None = None
        while True:
            page = self.list_posts(limit=page_size, cursor=cursor, status=status)
            yield from page.posts
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def aiter_posts(self, *, status: str | None = None, page_size: int = 100) -> AsyncIterator[m.Post]:
        cursor: str | None = None
        while True:
            page = await self.alist_posts(limit=page_size, cursor=cursor, status=status)
            for post in page.posts:
                yield post
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def delete_post(self, post_id: str) -> dict[str, Any]:
        """``DELETE /posts/:id`` → ``{"deleted": true, "id": …}`` (400 while publishing), also when the
        transport's retry after a lost answer finds the post gone; a first-attempt 404 raises."""
        return self._call(api.delete_post(post_id))

    async def adelete_post(self, post_id: str) -> dict[str, Any]:
        return await self._acall(api.delete_post(post_id))

    def publish_post(self, post_id: str, *, idempotency_key: str | None = None) -> m.JobRun:
        """``POST /posts/:id/publish`` → the queued (or already active) run.

        With ``idempotency_key`` 5xx/timeouts are retried with the same key. After any other non-2xx
        mint a new key. Note: once the post moved on, a replay gets 409 VALIDATION_POST_ALREADY_PUBLISHING.
        """
        return self._call(api.publish_post(post_id, idempotency_key=idempotency_key))

    async def apublish_post(self, post_id: str, *, idempotency_key: str | None = None) -> m.JobRun:
        return await self._acall(api.publish_post(post_id, idempotency_key=idempotency_key))

    def get_job_run(self, run_id: str) -> m.JobRun:
        """``GET /job-runs/:id``. A ``succeeded`` run does not mean the post is live: read the post."""
        return self._call(api.get_job_run(run_id))

    async def aget_job_run(self, run_id: str) -> m.JobRun:
        return await self._acall(api.get_job_run(run_id))

    # --- Public: webhook endpoints ------------------------------------------------------------

    def list_webhook_endpoints(self) -> list[m.WebhookEndpoint]:
        """``GET /webhook-endpoints``: every endpoint of the workspace (secrets are never listed)."""
        return self._call(api.list_webhook_endpoints())

    async def alist_webhook_endpoints(self) -> list[m.WebhookEndpoint]:
        return await self._acall(api.list_webhook_endpoints())

    def create_webhook_endpoint(self, url: str, events: list[str]) -> m.WebhookEndpoint:
        """``POST /webhook-endpoints``. The secret is returned once: it is masked in logs from here on.
        Not idempotent: not retried after an unknown outcome."""
        endpoint = self._call(api.create_webhook_endpoint(url, events))
        if endpoint.secret:
            mask_secret(endpoint.secret)
        return endpoint

    async def acreate_webhook_endpoint(self, url: str, events: list[str]) -> m.WebhookEndpoint:
        endpoint = await self._acall(api.create_webhook_endpoint(url, events))
        if endpoint.secret:
            await amask_secret(endpoint.secret)
        return endpoint

    def disable_webhook_endpoint(self, endpoint_id: str) -> None:
        """``DELETE /webhook-endpoints/:id`` (soft-disable, 204; repeating it succeeds; a 404 raises
        unless it answers the transport's retry after a lost answer)."""
        self._call(api.disable_webhook_endpoint(endpoint_id))

    async def adisable_webhook_endpoint(self, endpoint_id: str) -> None:
        await self._acall(api.disable_webhook_endpoint(endpoint_id))

    # --- Connect API --------------------------------------------------------------------------

    def connect_list_social_accounts(self) -> list[m.SocialAccount]:
        """Connect ``GET /social-accounts``."""
        return self._call(api.connect_list_social_accounts())

    async def aconnect_list_social_accounts(self) -> list[m.SocialAccount]:
        return await self._acall(api.connect_list_social_accounts())

    def connect_list_products(self) -> list[m.ConnectProduct]:
        """Connect ``GET /products``."""
        return self._call(api.connect_list_products())

    async def aconnect_list_products(self) -> list[m.ConnectProduct]:
        return await self._acall(api.connect_list_products())

    def connect_list_media(self) -> list[dict[str, Any]]:
        """Connect ``GET /media`` (always empty today)."""
        return self._call(api.connect_list_media())

    async def aconnect_list_media(self) -> list[dict[str, Any]]:
        return await self._acall(api.connect_list_media())

    def connect_create_upload_url(
        self, mime_type: str, size_bytes: int | None = None, name: str | None = None
    ) -> m.ConnectUploadUrl:
        """Connect ``POST /media/create-upload-url``; the single-use URL is masked in logs."""
        grant = self._call(api.connect_create_upload_url(mime_type, size_bytes, name))
        mask_secret(grant.upload_url)
        return grant

    async def aconnect_create_upload_url(
        self, mime_type: str, size_bytes: int | None = None, name: str | None = None
    ) -> m.ConnectUploadUrl:
        grant = await self._acall(api.connect_create_upload_url(mime_type, size_bytes, name))
        await amask_secret(grant.upload_url)
        return grant

    def connect_put_upload(self, grant: m.ConnectUploadUrl, source: Source, *, mime_type: str | None = None
                           ) -> m.ConnectUploadedMedia:
        """The single-use ``PUT <upload_url>``, sent once; see :meth:`connect_upload_image` for the
        recovery after a lost answer."""
        path = as_storage_path(source)
        size, _, mime = _describe(path, mime_type)
        return self._call(api.connect_put_upload(grant.upload_url, _opener(path), mime, size))

    async def aconnect_put_upload(self, grant: m.ConnectUploadUrl, source: Source, *, mime_type: str | None = None
                                  ) -> m.ConnectUploadedMedia:
        path = as_storage_path(source)
        size, _, mime = _describe(path, mime_type)
        return await self._acall(api.connect_put_upload(grant.upload_url, _opener(path), mime, size))

    def connect_upload_image(self, source: Source, *, mime_type: str | None = None) -> str:
        """create-upload-url + signed single-use PUT; returns the media id (images only on Connect).

        The PUT is never replayed blindly. When its answer is lost (connection error, timeout, 5xx)
        it is sent once more: a 200 settles it; ``VALIDATION_UPLOAD_URL_ALREADY_USED`` then means the
        lost attempt consumed the URL — it succeeded, or is still being stored under its 2-minute
        claim — so the media id is returned (with a warning). The same answer on a first attempt
        is an error.
        """
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        grant = self.connect_create_upload_url(mime, size, name)
        call = api.connect_put_upload(grant.upload_url, _opener(path), mime, size)
        try:
            return self._call(call).media_id
        except (MarkaestroTransportError, MarkaestroAPIError) as exc:
            if not _answer_lost(exc):
                raise
            first = exc
        log.warning("Markaestro Connect upload of %s: %s; checking the single-use URL once", grant.media_id,
                    _brief(first))
        time.sleep(self.transport.policy.backoff(1))
        try:
            return self._call(call).media_id
        except MarkaestroAPIError as exc:
            return _after_lost_put(grant, exc, first)

    async def aconnect_upload_image(self, source: Source, *, mime_type: str | None = None) -> str:
        import asyncio

        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        grant = await self.aconnect_create_upload_url(mime, size, name)
        call = api.connect_put_upload(grant.upload_url, _opener(path), mime, size)
        try:
            return (await self._acall(call)).media_id
        except (MarkaestroTransportError, MarkaestroAPIError) as exc:
            if not _answer_lost(exc):
                raise
            first = exc
        log.warning("Markaestro Connect upload of %s: %s; checking the single-use URL once", grant.media_id,
                    _brief(first))
        await asyncio.sleep((await self.atransport()).policy.backoff(1))
        try:
            return (await self._acall(call)).media_id
        except MarkaestroAPIError as exc:
            return _after_lost_put(grant, exc, first)

    def connect_create_post(
        self,
        caption: str,
        social_accounts: list[str],
        media: list[str] | None = None,
        *,
        scheduled_at: str | None = None,
        is_draft: bool | None = None,
    ) -> m.ConnectCreateResult:
        """Connect ``POST /posts``: one post per account. No idempotency on Connect, so this is never
        resent after an unknown outcome (a lost answer raises :class:`MarkaestroTransportError`)."""
        return self._call(
            api.connect_create_post(caption, social_accounts, media, scheduled_at=scheduled_at, is_draft=is_draft)
        )

    async def aconnect_create_post(
        self,
        caption: str,
        social_accounts: list[str],
        media: list[str] | None = None,
        *,
        scheduled_at: str | None = None,
        is_draft: bool | None = None,
    ) -> m.ConnectCreateResult:
        return await self._acall(
            api.connect_create_post(caption, social_accounts, media, scheduled_at=scheduled_at, is_draft=is_draft)
        )

    def connect_list_posts(self, *, limit: int | None = None, cursor: str | None = None) -> m.ConnectPostPage:
        """Connect ``GET /posts``: one page; see :meth:`connect_iter_posts`."""
        return self._call(api.connect_list_posts(limit=limit, cursor=cursor))

    async def aconnect_list_posts(self, *, limit: int | None = None, cursor: str | None = None) -> m.ConnectPostPage:
        return await self._acall(api.connect_list_posts(limit=limit, cursor=cursor))

    def connect_iter_posts(self, page_size: int = 100) -> Iterator[m.ConnectPost]:
        """Every Connect post of the key's product, following ``next_cursor``."""
        cursor: str | None = None
        while True:
            page = self.connect_list_posts(limit=page_size, cursor=cursor)
            yield from page.data
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def aconnect_iter_posts(self, page_size: int = 100) -> AsyncIterator[m.ConnectPost]:
        cursor: str | None = None
        while True:
            page = await self.aconnect_list_posts(limit=page_size, cursor=cursor)
            for post in page.data:
                yield post
            if not page.next_cursor:
                return
            cursor = page.next_cursor


def _already_gone(call: api.Call[T], exc: MarkaestroNotFound) -> T:
    """A DELETE replayed after a lost answer that finds its target gone: the lost attempt deleted it.

    The transport replays DELETEs after no answer or a 5xx; a hard delete that committed then answers
    404 to the replay. Only then is the 404 success; on a first attempt (or after a 429, which the
    server refused untouched) the id was unknown and the 404 is raised.
    """
    if call.gone is None or not exc.after_lost_answer:
        raise exc
    log.info("Markaestro %s %s: already gone (404 on the retry after a lost answer); the delete is done",
             exc.method, exc.path)
    return call.gone()


def _single_product(products: list[m.Product], conn_id: str) -> m.Product:
    if len(products) != 1:
        raise ValueError(
            f"Markaestro connection {conn_id!r}: expected the API key to be bound to one product, "
            f"the API listed {len(products)}"
        )
    return products[0]


def _describe(path: ObjectStoragePath | Path, mime_type: str | None) -> tuple[int, str, str]:
    size = path.stat().st_size
    name = path.name
    return size, name, mime_type or guess_mime_type(name)


#: Read-ahead block for object storage. s3fs defaults to 50 MiB blocks and holds about three of
#: them while it fetches the next (≈150 MiB for one upload); 8 MiB keeps a 250 MB video's upload
#: near 35 MiB of memory (bench/upload.py measures it).
OBJECT_STORAGE_BLOCK_SIZE = 8 * 1024 * 1024


def _opener(path: ObjectStoragePath | Path) -> Callable[[], BinaryIO]:
    if isinstance(path, ObjectStoragePath):
        return lambda: path.open("rb", block_size=OBJECT_STORAGE_BLOCK_SIZE)
    return lambda: path.open("rb")


def _session_put(session: m.UploadSession, path: ObjectStoragePath | Path, size: int) -> api.Call[httpx.Response]:
    if session.upload_method.upper() != "PUT":
        raise ValueError(f"Markaestro upload session {session.id} wants {session.upload_method}, expected PUT")
    headers = dict(session.upload_headers)
    content_type = headers.get("Content-Type") or headers.get("content-type") or "application/octet-stream"
    return api.put_upload(session.upload_url, _opener(path), content_type, size, extra_headers=headers)


def _answer_lost(exc: Exception) -> bool:
    """The PUT may or may not have been stored: no answer, or a 5xx (storage may have committed)."""
    return isinstance(exc, MarkaestroTransportError) or (
        isinstance(exc, MarkaestroAPIError) and exc.status_code >= 500
    )


def _brief(exc: Exception) -> str:
    if isinstance(exc, MarkaestroAPIError):
        return f"HTTP {exc.status_code} {exc.error_code}"
    return type(exc).__name__


def _after_lost_put(grant: m.ConnectUploadUrl, exc: MarkaestroAPIError, first: Exception) -> str:
    if exc.error_code == api.UPLOAD_URL_ALREADY_USED:
        log.warning(
            "Markaestro Connect upload of %s: the single-use URL was consumed by the attempt whose answer was "
            "lost (%s); treating the upload as done",
            grant.media_id,
            _brief(first),
        )
        return grant.media_id
    raise exc
