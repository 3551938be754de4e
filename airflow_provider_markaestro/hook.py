"""``MarkaestroHook``: the Airflow connection bound to a typed Markaestro client, sync and async.

Connection mapping: host = base URL (``https://markaestro.com`` when empty; scheme optional),
password = API key (``mk_live_…``, bound to one product), extra ``timeout`` / ``max_retries`` /
``web_url`` (where the "View in Markaestro" links point; defaults to the base URL).
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import httpx
from airflow.sdk import BaseHook, ObjectStoragePath
from airflow.sdk.log import amask_secret, mask_secret

from airflow_provider_markaestro import api
from airflow_provider_markaestro import models as m
from airflow_provider_markaestro.transport import (
    AsyncTransport,
    RetryPolicy,
    SyncTransport,
    resolve_base_url,
)

T = TypeVar("T")

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


def guess_mime_type(name: str) -> str:
    ext = posixpath.splitext(name.lower())[1]
    return _MIME_BY_EXTENSION.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def as_storage_path(source: str | Path | ObjectStoragePath, conn_id: str | None = None) -> ObjectStoragePath | Path:
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

    def __repr__(self) -> str:
        return f"ClientSettings(base_url={self.base_url!r}, timeout={self.timeout}, max_retries={self.max_retries})"


class MarkaestroHook(BaseHook):
    """Talks to both Markaestro surfaces (Public ``/api/public/v1`` and Connect ``/api/connect/v1``).

    Every route has a sync method and an ``a``-prefixed async twin built from the same request
    description (:mod:`api`). Methods return pydantic models; call ``.to_json()`` for XCom.

    :param markaestro_conn_id: Airflow connection id (conn type ``markaestro``).
    :param timeout: per-request timeout in seconds (overrides the connection's ``timeout`` extra).
    :param max_retries: attempts for retryable failures (overrides ``max_retries``).
    """

    conn_name_attr = "markaestro_conn_id"
    default_conn_name = "markaestro_default"
    conn_type = "markaestro"
    hook_name = "Markaestro"

    def __init__(
        self,
        markaestro_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        http_transport: httpx.BaseTransport | None = None,
        async_http_transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.markaestro_conn_id = markaestro_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._http_transport = http_transport
        self._async_http_transport = async_http_transport
        self._async_transport: AsyncTransport | None = None

    # --- connection -------------------------------------------------------------------------

    def _settings_from(self, conn: Any, extra: dict[str, Any]) -> ClientSettings:
        if not conn.password:
            raise ValueError(
                f"Markaestro connection {self.markaestro_conn_id!r} has no API key: put it in the password field"
            )
        base_url = resolve_base_url(conn.host, conn.port)
        timeout = float(self._timeout if self._timeout is not None else extra.get("timeout") or 30)
        retries = int(self._max_retries if self._max_retries is not None else extra.get("max_retries") or 6)
        web_url = str(extra.get("web_url") or base_url).rstrip("/")
        return ClientSettings(base_url, conn.password, timeout, max(1, retries), web_url)

    @cached_property
    def settings(self) -> ClientSettings:
        conn = self.get_connection(self.markaestro_conn_id)
        mask_secret(conn.password)
        return self._settings_from(conn, conn.extra_dejson)

    async def asettings(self) -> ClientSettings:
        """Async connection lookup for triggers: never the sync path inside an event loop."""
        if "settings" in self.__dict__:
            return self.__dict__["settings"]
        conn = await self.aget_connection(self.markaestro_conn_id)
        await amask_secret(conn.password)
        extra = await conn.aextra_dejson() if hasattr(conn, "aextra_dejson") else conn.extra_dejson
        settings = self._settings_from(conn, extra)
        self.__dict__["settings"] = settings
        return settings

    def _policy(self, settings: ClientSettings) -> RetryPolicy:
        return RetryPolicy(max_attempts=settings.max_retries)

    @cached_property
    def transport(self) -> SyncTransport:
        s = self.settings
        return SyncTransport(
            s.base_url, s.api_key, timeout=s.timeout, policy=self._policy(s), http_transport=self._http_transport
        )

    async def atransport(self) -> AsyncTransport:
        if self._async_transport is None:
            s = await self.asettings()
            self._async_transport = AsyncTransport(
                s.base_url,
                s.api_key,
                timeout=s.timeout,
                policy=self._policy(s),
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

    def _call(self, call: api.Call[T]) -> T:
        return call.parse(self.transport.send(call.spec))

    async def _acall(self, call: api.Call[T]) -> T:
        transport = await self.atransport()
        return call.parse(await transport.send(call.spec))

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

    # --- products and destinations ----------------------------------------------------------

    def list_products(self) -> list[m.Product]:
        return self._call(api.list_products())

    async def alist_products(self) -> list[m.Product]:
        return await self._acall(api.list_products())

    def get_bound_product(self) -> m.Product:
        """The one product this API key is bound to."""
        return _single_product(self.list_products(), self.markaestro_conn_id)

    async def aget_bound_product(self) -> m.Product:
        return _single_product(await self.alist_products(), self.markaestro_conn_id)

    def list_destinations(self, product_id: str) -> list[m.Destination]:
        return self._call(api.list_destinations(product_id))

    async def alist_destinations(self, product_id: str) -> list[m.Destination]:
        return await self._acall(api.list_destinations(product_id))

    # --- media ------------------------------------------------------------------------------

    def upload_media(
        self, source: str | Path | ObjectStoragePath, *, mime_type: str | None = None, idempotency_key: str | None = None
    ) -> m.MediaAsset:
        """Upload a local or object-storage file; large files stream through an upload session."""
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        if size > SESSION_UPLOAD_THRESHOLD:
            session = self._call(api.create_upload_session(name, mime, size))
            mask_secret(session.upload_url)
            self._call(api.put_upload(session.upload_url, _opener(path), mime, size, extra_headers=session.upload_headers))
            return self._call(api.finalize_upload_session(session.id))
        return self._call(api.upload_media(_opener(path), name, mime, idempotency_key=idempotency_key))

    async def aupload_media(
        self, source: str | Path | ObjectStoragePath, *, mime_type: str | None = None, idempotency_key: str | None = None
    ) -> m.MediaAsset:
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        if size > SESSION_UPLOAD_THRESHOLD:
            session = await self._acall(api.create_upload_session(name, mime, size))
            await amask_secret(session.upload_url)
            await self._acall(
                api.put_upload(session.upload_url, _opener(path), mime, size, extra_headers=session.upload_headers)
            )
            return await self._acall(api.finalize_upload_session(session.id))
        return await self._acall(api.upload_media(_opener(path), name, mime, idempotency_key=idempotency_key))

    def create_upload_session(self, file_name: str, content_type: str, size_bytes: int) -> m.UploadSession:
        session = self._call(api.create_upload_session(file_name, content_type, size_bytes))
        mask_secret(session.upload_url)
        return session

    async def acreate_upload_session(self, file_name: str, content_type: str, size_bytes: int) -> m.UploadSession:
        session = await self._acall(api.create_upload_session(file_name, content_type, size_bytes))
        await amask_secret(session.upload_url)
        return session

    def finalize_upload_session(self, session_id: str) -> m.MediaAsset:
        return self._call(api.finalize_upload_session(session_id))

    async def afinalize_upload_session(self, session_id: str) -> m.MediaAsset:
        return await self._acall(api.finalize_upload_session(session_id))

    def delete_media(self, asset_id: str) -> dict[str, Any]:
        return self._call(api.delete_media(asset_id))

    async def adelete_media(self, asset_id: str) -> dict[str, Any]:
        return await self._acall(api.delete_media(asset_id))

    # --- posts ------------------------------------------------------------------------------

    def create_post(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> m.Post:
        """Create one draft post. Build ``body`` with :func:`api.post_body`."""
        return self._call(api.create_post(body, idempotency_key=idempotency_key))

    async def acreate_post(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> m.Post:
        return await self._acall(api.create_post(body, idempotency_key=idempotency_key))

    def create_posts(self, bodies: list[dict[str, Any]], *, idempotency_key: str | None = None) -> m.BatchCreateResult:
        return self._call(api.create_posts(bodies, idempotency_key=idempotency_key))

    async def acreate_posts(
        self, bodies: list[dict[str, Any]], *, idempotency_key: str | None = None
    ) -> m.BatchCreateResult:
        return await self._acall(api.create_posts(bodies, idempotency_key=idempotency_key))

    def get_post(self, post_id: str) -> m.Post:
        return self._call(api.get_post(post_id))

    async def aget_post(self, post_id: str) -> m.Post:
        return await self._acall(api.get_post(post_id))

    def list_posts(self, **filters: Any) -> m.PostPage:
        return self._call(api.list_posts(**filters))

    async def alist_posts(self, **filters: Any) -> m.PostPage:
        return await self._acall(api.list_posts(**filters))

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
        return self._call(api.delete_post(post_id))

    async def adelete_post(self, post_id: str) -> dict[str, Any]:
        return await self._acall(api.delete_post(post_id))

    def publish_post(self, post_id: str, *, idempotency_key: str | None = None) -> m.JobRun:
        return self._call(api.publish_post(post_id, idempotency_key=idempotency_key))

    async def apublish_post(self, post_id: str, *, idempotency_key: str | None = None) -> m.JobRun:
        return await self._acall(api.publish_post(post_id, idempotency_key=idempotency_key))

    def get_job_run(self, run_id: str) -> m.JobRun:
        return self._call(api.get_job_run(run_id))

    async def aget_job_run(self, run_id: str) -> m.JobRun:
        return await self._acall(api.get_job_run(run_id))

    # --- webhook endpoints ------------------------------------------------------------------

    def list_webhook_endpoints(self) -> list[m.WebhookEndpoint]:
        return self._call(api.list_webhook_endpoints())

    async def alist_webhook_endpoints(self) -> list[m.WebhookEndpoint]:
        return await self._acall(api.list_webhook_endpoints())

    def create_webhook_endpoint(self, url: str, events: list[str]) -> m.WebhookEndpoint:
        """Register an endpoint. The secret is returned once: it is masked in logs from here on."""
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
        self._call(api.disable_webhook_endpoint(endpoint_id))

    async def adisable_webhook_endpoint(self, endpoint_id: str) -> None:
        await self._acall(api.disable_webhook_endpoint(endpoint_id))

    # --- Connect API ------------------------------------------------------------------------

    def connect_list_social_accounts(self) -> list[m.SocialAccount]:
        return self._call(api.connect_list_social_accounts())

    async def aconnect_list_social_accounts(self) -> list[m.SocialAccount]:
        return await self._acall(api.connect_list_social_accounts())

    def connect_list_products(self) -> list[m.ConnectProduct]:
        return self._call(api.connect_list_products())

    async def aconnect_list_products(self) -> list[m.ConnectProduct]:
        return await self._acall(api.connect_list_products())

    def connect_list_media(self) -> list[dict[str, Any]]:
        return self._call(api.connect_list_media())

    async def aconnect_list_media(self) -> list[dict[str, Any]]:
        return await self._acall(api.connect_list_media())

    def connect_upload_image(self, source: str | Path | ObjectStoragePath, *, mime_type: str | None = None) -> str:
        """create-upload-url + signed single-use PUT; returns the media id (images only on Connect)."""
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        grant = self._call(api.connect_create_upload_url(mime, size, name))
        mask_secret(grant.upload_url)
        self._call(api.put_upload(grant.upload_url, _opener(path), mime, size, safe_to_retry=False))
        return grant.media_id

    async def aconnect_upload_image(
        self, source: str | Path | ObjectStoragePath, *, mime_type: str | None = None
    ) -> str:
        path = as_storage_path(source)
        size, name, mime = _describe(path, mime_type)
        grant = await self._acall(api.connect_create_upload_url(mime, size, name))
        await amask_secret(grant.upload_url)
        await self._acall(api.put_upload(grant.upload_url, _opener(path), mime, size, safe_to_retry=False))
        return grant.media_id

    def connect_create_post(self, caption: str, social_accounts: list[str], media: list[str] | None = None,
                            *, scheduled_at: str | None = None, is_draft: bool | None = None) -> m.ConnectCreateResult:
        return self._call(
            api.connect_create_post(caption, social_accounts, media, scheduled_at=scheduled_at, is_draft=is_draft)
        )

    async def aconnect_create_post(self, caption: str, social_accounts: list[str], media: list[str] | None = None,
                                   *, scheduled_at: str | None = None,
                                   is_draft: bool | None = None) -> m.ConnectCreateResult:
        return await self._acall(
            api.connect_create_post(caption, social_accounts, media, scheduled_at=scheduled_at, is_draft=is_draft)
        )

    def connect_list_posts(self, *, limit: int | None = None, cursor: str | None = None) -> m.ConnectPostPage:
        return self._call(api.connect_list_posts(limit=limit, cursor=cursor))

    async def aconnect_list_posts(self, *, limit: int | None = None, cursor: str | None = None) -> m.ConnectPostPage:
        return await self._acall(api.connect_list_posts(limit=limit, cursor=cursor))

    def connect_iter_posts(self, page_size: int = 100) -> Iterator[m.ConnectPost]:
        cursor: str | None = None
        while True:
            page = self.connect_list_posts(limit=page_size, cursor=cursor)
            yield from page.data
            if not page.next_cursor:
                return
            cursor = page.next_cursor


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


def _opener(path: ObjectStoragePath | Path):
    return lambda: path.open("rb")

