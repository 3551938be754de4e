"""HTTP transport for Markaestro: one request description, one retry policy, sync and async senders.

Everything about *how* a request travels lives here (base URL, bearer auth, retries, Retry-After,
rate-limit pacing, redaction); the routes in :mod:`api` only say *what* to send. The sync and async
senders share the request builder, the policy and the error mapping, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import httpx

from airflow_provider_markaestro import __version__
from airflow_provider_markaestro.exceptions import (
    MarkaestroAPIError,
    MarkaestroTransportError,
    ValidationIssue,
    error_class_for,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://markaestro.com"
PUBLIC_PREFIX = "/api/public/v1"
CONNECT_PREFIX = "/api/connect/v1"
USER_AGENT = f"airflow-provider-markaestro/{__version__}"
CHUNK_SIZE = 1024 * 1024

# Paths a user may paste as "the API URL"; the surfaces are added back per request.
_SURFACE_SUFFIXES = ("/api/public/v1", "/api/connect/v1", "/api/public", "/api/connect", "/api")


def resolve_base_url(host: str | None, port: int | None = None) -> str:
    """Normalise a connection host into ``scheme://host[:port][/prefix]`` with no trailing slash.

    Accepts ``markaestro.com``, ``https://markaestro.com/``, ``http://127.0.0.1:8080/api/public/v1``
    and the like; https is assumed when no scheme is given.
    """
    raw = (host or "").strip() or DEFAULT_BASE_URL
    if "://" not in raw:
        raw = "https://" + raw
    url = httpx.URL(raw)
    if not url.host:
        raise ValueError(f"Markaestro connection host {host!r} has no host name")
    path = re.sub(r"/{2,}", "/", url.path).rstrip("/")
    for suffix in _SURFACE_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    netloc = url.host if ":" not in url.host else f"[{url.host}]"
    effective_port = url.port or port
    if effective_port:
        netloc += f":{effective_port}"
    return f"{url.scheme}://{netloc}{path}"


@dataclass
class RequestSpec:
    """What to send. ``path`` is relative to the surface prefix (``/posts``), or absolute for signed URLs."""

    method: str
    path: str
    surface: str = PUBLIC_PREFIX
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    # Bodies that must be re-opened on every attempt (a stream can be read only once).
    content_factory: Callable[[], Iterable[bytes]] | None = None
    files_factory: Callable[[], dict[str, tuple[str, BinaryIO, str]]] | None = None
    absolute_url: str | None = None  # signed upload URLs: no API key is sent
    authenticated: bool = True
    # A POST is retried after an unknown outcome only when replaying it cannot create twice.
    safe_to_retry: bool | None = None

    @property
    def retry_safe(self) -> bool:
        if self.safe_to_retry is not None:
            return self.safe_to_retry
        return self.method in ("GET", "HEAD", "DELETE") or bool(self.idempotency_key)

    @property
    def display_path(self) -> str:
        """The path for logs and errors: never a query string (signed URLs carry tokens there)."""
        if self.absolute_url:
            return httpx.URL(self.absolute_url).path
        return self.surface + self.path


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a request again.

    * 429 is always retried (the server refuses before doing anything), waiting ``Retry-After``
      (seconds or an HTTP date) but never longer than ``max_wait`` (a worker is never parked for hours).
    * 409 IDEMPOTENCY_REQUEST_IN_PROGRESS is retried with the same key after ``Retry-After`` (§5).
    * 5xx, timeouts and connection errors are retried with exponential backoff and full jitter, but
      only for requests that are safe to replay (GET/DELETE, or a POST that carries an Idempotency-Key).
    """

    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_wait: float = 120.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)

    def retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is None:
                return None
            seconds = parsed.timestamp() - time.time()
        return max(0.0, min(seconds, self.max_wait))

    def delay_for_response(self, spec: RequestSpec, response: httpx.Response, attempt: int) -> float | None:
        if attempt >= self.max_attempts:
            return None
        status = response.status_code
        if status == 429:
            after = self.retry_after(response)
            return after if after is not None else self.backoff(attempt)
        if status == 409 and _error_code(response) == "IDEMPOTENCY_REQUEST_IN_PROGRESS":
            after = self.retry_after(response)
            return after if after is not None else 1.0
        if status >= 500 and spec.retry_safe:
            return self.backoff(attempt)
        return None

    def delay_for_exception(self, spec: RequestSpec, exc: Exception, attempt: int) -> float | None:
        if attempt >= self.max_attempts or not spec.retry_safe:
            return None
        return self.backoff(attempt)


class RateLimitPacer:
    """Waits for the next window instead of collecting 429s.

    Markaestro counts requests per exact URL path in fixed windows and tells, on every success, how
    many remain (``X-RateLimit-Remaining``) and when the window ends (``X-RateLimit-Reset``, absolute
    Unix seconds). When a path has nothing left, the next call to it sleeps until the reset.
    """

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait
        self._resets: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, path: str, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is None or reset is None:
            return
        with self._lock:
            try:
                if int(remaining) <= 0:
                    self._resets[path] = float(reset)
                else:
                    self._resets.pop(path, None)
            except ValueError:
                return

    def wait_time(self, path: str) -> float:
        with self._lock:
            reset = self._resets.get(path)
        if reset is None:
            return 0.0
        return max(0.0, min(reset - time.time(), self.max_wait))


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def api_error(spec: RequestSpec, response: httpx.Response) -> MarkaestroAPIError:
    """Map an error answer to a typed exception (body fields only: no headers, no query strings)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    issues = [
        ValidationIssue(str(i.get("field", "")), str(i.get("code", "")), str(i.get("message", "")))
        for i in body.get("issues") or []
        if isinstance(i, dict)
    ]
    retry_after = RetryPolicy(max_wait=float("inf")).retry_after(response)
    cls = error_class_for(response.status_code)
    return cls(
        status_code=response.status_code,
        error_code=str(body.get("error") or f"HTTP_{response.status_code}"),
        method=spec.method,
        path=spec.display_path,
        api_message=str(body.get("message") or ""),
        request_id=body.get("requestId"),
        issues=issues,
        retry_after=retry_after,
        body=body,
    )


class _BaseTransport:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.pacer = RateLimitPacer(self.policy.max_wait)

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _url(self, spec: RequestSpec) -> str:
        if spec.absolute_url:
            return spec.absolute_url
        return f"{self.base_url}{spec.surface}/{spec.path.lstrip('/')}"

    def _headers(self, spec: RequestSpec) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **spec.headers}
        if spec.authenticated:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if spec.idempotency_key:
            headers["Idempotency-Key"] = spec.idempotency_key
        return headers

    def _request_kwargs(self, spec: RequestSpec) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"headers": self._headers(spec)}
        if spec.params:
            kwargs["params"] = {k: v for k, v in spec.params.items() if v is not None}
        if spec.json is not None:
            kwargs["json"] = spec.json
        if spec.files_factory is not None:
            kwargs["files"] = spec.files_factory()
        return kwargs

    def _finish(self, spec: RequestSpec, response: httpx.Response) -> httpx.Response:
        self.pacer.observe(spec.display_path, response)
        if response.is_success:
            return response
        raise api_error(spec, response)

    def _log_retry(self, spec: RequestSpec, what: str, attempt: int, delay: float) -> None:
        log.warning("Markaestro %s %s: %s; retry %d in %.1fs", spec.method, spec.display_path, what, attempt, delay)

    def _transport_error(self, spec: RequestSpec, exc: Exception, attempts: int) -> MarkaestroTransportError:
        return MarkaestroTransportError(
            f"Markaestro {spec.method} {spec.display_path} got no answer after {attempts} attempt(s): "
            f"{type(exc).__name__}: {exc}"
        )


class SyncTransport(_BaseTransport):
    """One pooled ``httpx.Client`` per hook, reused across calls."""

    def __init__(self, *args: Any, http_transport: httpx.BaseTransport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.Client | None = None
        self._http_transport = http_transport

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, transport=self._http_transport)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _attempt(self, spec: RequestSpec) -> httpx.Response:
        kwargs = self._request_kwargs(spec)
        if spec.content_factory is not None:
            kwargs["content"] = iter(spec.content_factory())
        try:
            return self.client.request(spec.method, self._url(spec), **kwargs)
        finally:
            _close_files(kwargs)

    def send(self, spec: RequestSpec) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            time.sleep(self.pacer.wait_time(spec.display_path))
            try:
                response = self._attempt(spec)
            except httpx.TransportError as exc:
                delay = self.policy.delay_for_exception(spec, exc, attempt)
                if delay is None:
                    raise self._transport_error(spec, exc, attempt) from None
                self._log_retry(spec, type(exc).__name__, attempt, delay)
                time.sleep(delay)
                continue
            delay = self.policy.delay_for_response(spec, response, attempt)
            if response.is_success or delay is None:
                return self._finish(spec, response)
            self.pacer.observe(spec.display_path, response)
            self._log_retry(spec, f"HTTP {response.status_code}", attempt, delay)
            time.sleep(delay)


class AsyncTransport(_BaseTransport):
    """Async twin. The client lives only inside ``session()``, so it is closed on every path,
    cancellation included, and a cancelled request never leaks a pool slot."""

    def __init__(self, *args: Any, http_transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._client: httpx.AsyncClient | None = None
        self._http_transport = http_transport

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def send(self, spec: RequestSpec) -> httpx.Response:
        owns_client = self._client is None
        client = self._client or httpx.AsyncClient(timeout=self.timeout, transport=self._http_transport)
        try:
            return await self._send_with(client, spec)
        finally:
            if owns_client:
                await asyncio.shield(client.aclose())

    async def open(self) -> None:
        """Keep one client open across calls until :meth:`aclose` (used by long-lived callers)."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, transport=self._http_transport)

    async def _attempt(self, client: httpx.AsyncClient, spec: RequestSpec) -> httpx.Response:
        kwargs = self._request_kwargs(spec)
        if spec.content_factory is not None:
            kwargs["content"] = _aiter(spec.content_factory())
        try:
            return await client.request(spec.method, self._url(spec), **kwargs)
        finally:
            _close_files(kwargs)

    async def _send_with(self, client: httpx.AsyncClient, spec: RequestSpec) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(self.pacer.wait_time(spec.display_path))
            try:
                response = await self._attempt(client, spec)
            except httpx.TransportError as exc:
                delay = self.policy.delay_for_exception(spec, exc, attempt)
                if delay is None:
                    raise self._transport_error(spec, exc, attempt) from None
                self._log_retry(spec, type(exc).__name__, attempt, delay)
                await asyncio.sleep(delay)
                continue
            delay = self.policy.delay_for_response(spec, response, attempt)
            if response.is_success or delay is None:
                return self._finish(spec, response)
            self.pacer.observe(spec.display_path, response)
            self._log_retry(spec, f"HTTP {response.status_code}", attempt, delay)
            await asyncio.sleep(delay)


def _close_files(kwargs: dict[str, Any]) -> None:
    """Multipart bodies are opened per attempt; close them whatever the outcome."""
    for part in (kwargs.get("files") or {}).values():
        handle = part[1] if isinstance(part, tuple) else part
        close = getattr(handle, "close", None)
        if close is not None:
            close()


async def _aiter(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def iter_file_chunks(opener: Callable[[], BinaryIO], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Read a file in fixed chunks so a 250 MB video is never held whole in memory."""
    with opener() as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
