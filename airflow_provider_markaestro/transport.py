"""HTTP transport for Markaestro: one request description, one retry policy, sync and async senders.

Everything about *how* a request travels lives here (base URL, bearer auth, retries, Retry-After,
rate-limit pacing, redaction); the routes in :mod:`api` only say *what* to send. The sync and async
senders share the request builder, the policy, the pacer and the error mapping, so they cannot drift.

Policy in one place (contract §3, §4, §5):

* **429** is always retried (the server refused before doing anything). The wait is ``Retry-After``
  (integer seconds or an HTTP date), never more than :data:`MAX_RETRY_AFTER_SECONDS` (the policy's
  ``max_wait``, default 120 s: a Markaestro window is 60 s, so a longer ask means something else is
  wrong and the task should rather fail and let Airflow retry). When the 429 also carries
  ``X-RateLimit-Reset`` and the window length is known, the wait ends exactly at the window boundary
  (``Retry-After`` is the same instant rounded up to whole seconds).
* **409 IDEMPOTENCY_REQUEST_IN_PROGRESS** waits ``Retry-After`` (1 s) and resends the identical request
  with the same key; a spec may name further 409 codes that are safe to wait out (finalize lease).
* **5xx, timeouts, connection errors** are retried with exponential backoff and jitter
  (0.5 s, 1 s, 2 s, … capped at 30 s, each drawn uniformly from [ceiling/2, ceiling]) — but only when
  replaying cannot create twice: GET/DELETE/PUT-to-signed-URL, a POST carrying an ``Idempotency-Key``,
  or a POST the contract declares retry-safe (upload-session finalize). Any other POST whose answer was
  lost raises :class:`MarkaestroTransportError` / :class:`MarkaestroAPIError` at once. A blank
  ``Idempotency-Key`` counts as none (the server trims it and then ignores it).
* An error answer that comes to a *replay* sent after an unknown outcome (no answer, or a 5xx) is
  marked ``after_lost_answer``: the lost attempt may have done the work already (the hook uses this
  to accept a DELETE's 404 as "already gone").
* Attempts: ``max_attempts`` (default 6) per call, counting the first.
* **Pacing**: :class:`RateLimitPacer` reads ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` per exact
  path and makes the next request to an exhausted path wait for the window boundary instead of
  collecting 429s; it also counts every request against the global per-client counter once that
  limit is known (configured, or learnt from a 429 that describes the global counter).

After any *other* non-2xx answer on an idempotent route the server keeps the key reserved (§5): the
caller must mint a new key before trying again (operators do this).

Secrets: the API key only ever travels in the ``Authorization`` header; logs, reprs and exceptions
carry the method and the path only — never a query string (signed upload URLs carry their token
there). The ``httpx``/``httpcore`` loggers get a filter that strips query strings too, because httpx
logs every request URL at INFO.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import os
import random
import re
import ssl
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

#: Longest single wait the transport accepts from ``Retry-After`` or the pacer (seconds).
MAX_RETRY_AFTER_SECONDS = 120.0
#: The contract's fixed rate-limit window (§3.1): 60 s, aligned to the Unix epoch.
DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60.0
#: Added to every computed window boundary so a request never lands a hair before it.
PACING_MARGIN_SECONDS = 0.005

IN_PROGRESS = "IDEMPOTENCY_REQUEST_IN_PROGRESS"

# Paths a user may paste as "the API URL"; the surfaces are added back per request.
_SURFACE_SUFFIXES = ("/api/public/v1", "/api/connect/v1", "/api/public", "/api/connect", "/api")


# --- redaction ----------------------------------------------------------------------------------

_URL_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]*")


def redact_url(value: Any) -> str:
    """A URL (or any text containing URLs) with every query string replaced by ``?<redacted>``."""
    if isinstance(value, httpx.URL):
        return str(value.copy_with(query=None, fragment=None)) + ("?<redacted>" if value.query else "")
    return _URL_QUERY.sub(r"\1?<redacted>", str(value))


class RedactQueryStringFilter(logging.Filter):
    """Strip query strings from log records of httpx/httpcore (signed URLs carry tokens there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "://" in record.msg:
            record.msg = redact_url(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        return True


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, httpx.URL):
        return redact_url(arg)
    if isinstance(arg, (str, bytes)) and (b"://" if isinstance(arg, bytes) else "://") in arg:
        text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else arg
        return redact_url(text)
    return arg


_REDACTION_FILTER = RedactQueryStringFilter()
_THIRD_PARTY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def install_log_redaction() -> None:
    """Idempotent: attach the query-string filter to every logger httpx and httpcore write to.

    Logger filters do not apply to records of child loggers, hence the explicit list.
    """
    for name in _THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTION_FILTER not in logger.filters:
            logger.addFilter(_REDACTION_FILTER)


install_log_redaction()


# --- base URL -------------------------------------------------------------------------------------


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
        raise ValueError(f"Markaestro connection host {redact_url(host)!r} has no host name")
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


def url_origin(url: str | httpx.URL) -> str:
    """``scheme://host[:port]`` of a URL: no credentials, path, query or fragment."""
    url = httpx.URL(url)
    netloc = url.host if ":" not in url.host else f"[{url.host}]"
    if url.port:
        netloc += f":{url.port}"
    return f"{url.scheme}://{netloc}"


# --- request description -----------------------------------------------------------------------


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
    content_factory: Callable[[], Iterable[bytes]] | None = field(default=None, repr=False)
    files_factory: Callable[[], dict[str, tuple[str, BinaryIO, str]]] | None = field(default=None, repr=False)
    absolute_url: str | None = field(default=None, repr=False)  # signed upload URLs: no API key is sent
    authenticated: bool = True
    # A POST is retried after an unknown outcome only when replaying it cannot create twice.
    safe_to_retry: bool | None = None
    # 409 error codes that mean "someone (maybe our lost attempt) is still working on it": wait, resend.
    retry_conflicts: frozenset[str] = frozenset({IN_PROGRESS})

    def __post_init__(self) -> None:
        # The server trims the key and treats an empty one as absent (contract §5): so does the
        # client, or a blank key would make a non-idempotent POST look safe to replay.
        if self.idempotency_key is not None:
            self.idempotency_key = self.idempotency_key.strip() or None

    @property
    def retry_safe(self) -> bool:
        if self.safe_to_retry is not None:
            return self.safe_to_retry
        return self.method in ("GET", "HEAD", "DELETE", "PUT") or bool(self.idempotency_key)

    @property
    def display_path(self) -> str:
        """The path for logs and errors: never a query string (signed URLs carry tokens there)."""
        if self.absolute_url:
            return httpx.URL(self.absolute_url).path
        return self.surface + self.path

    @property
    def paced(self) -> bool:
        """Signed storage/upload URLs are not rate limited (§7.2, §10.5)."""
        return self.absolute_url is None

    def __repr__(self) -> str:
        key = " idempotency-key" if self.idempotency_key else ""
        return f"RequestSpec({self.method} {self.display_path}{key})"


# --- retry policy --------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    Returns ``None`` when absent or unparseable; never negative.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if parsed is None:
            return None
        if parsed.tzinfo is None:  # RFC 850/asctime forms are GMT by definition
            import datetime as _dt

            parsed = parsed.replace(tzinfo=_dt.UTC)
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a request again (see the module docstring).

    :param max_attempts: attempts per call, the first included (default 6).
    :param backoff_initial: first backoff ceiling for 5xx/transport errors, doubled per attempt.
    :param backoff_max: largest backoff ceiling.
    :param max_wait: ceiling for any single wait taken from ``Retry-After`` or the pacer
        (default :data:`MAX_RETRY_AFTER_SECONDS`).
    """

    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_wait: float = MAX_RETRY_AFTER_SECONDS

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)

    def retry_after(self, response: httpx.Response, now: float | None = None) -> float | None:
        seconds = parse_retry_after(response.headers.get("Retry-After"), now)
        return None if seconds is None else min(seconds, self.max_wait)

    def delay_for_response(self, spec: RequestSpec, response: httpx.Response, attempt: int) -> float | None:
        if attempt >= self.max_attempts:
            return None
        status = response.status_code
        if status == 429:
            after = self.retry_after(response)
            return after if after is not None else self.backoff(attempt)
        if status == 409 and _error_code(response) in spec.retry_conflicts:
            after = self.retry_after(response)
            return after if after is not None else min(self.backoff(attempt) + 0.5, self.max_wait)
        if status >= 500 and spec.retry_safe:
            return self.backoff(attempt)
        return None

    def delay_for_exception(self, spec: RequestSpec, exc: Exception, attempt: int) -> float | None:
        if attempt >= self.max_attempts or not spec.retry_safe or is_permanent(exc):
            return None
        return self.backoff(attempt)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes, outermost first (a cycle in the chain cannot loop forever)."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        yield seen
        seen = seen.__cause__ or seen.__context__


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    return next((e for e in _chain(exc) if isinstance(e, ssl.SSLError)), None)


def is_permanent(exc: Exception) -> bool:
    """Failures that the same request will meet again: a malformed request or a TLS mismatch."""
    if isinstance(exc, (httpx.LocalProtocolError, httpx.UnsupportedProtocol)):
        return True
    return _ssl_error(exc) is not None


#: Failures of the connection phase: no byte of the request left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_TIMEOUT_PHASE = {
    httpx.ConnectTimeout: "connect timeout",
    httpx.ReadTimeout: "read timeout",
    httpx.WriteTimeout: "write timeout",
    httpx.PoolTimeout: "timeout waiting for a free pooled connection",
}


def may_have_been_sent(exc: Exception) -> bool:
    """Whether the server may have seen (and acted on) a request that failed with ``exc``."""
    return not isinstance(exc, _NOT_SENT)


def network_reason(exc: Exception, timeout: float | None = None) -> str:
    """A short human reason for an httpx transport error: "Connection refused", "read timeout after 30s".

    The errno text is taken from the innermost ``OSError`` (anyio wraps it in "All connection
    attempts failed"); TLS errors keep their OpenSSL text. Callers redact the result.
    """
    for cls, phase in _TIMEOUT_PHASE.items():
        if isinstance(exc, cls):
            return f"{phase} after {timeout:g}s" if timeout else phase
    if _ssl_error(exc) is not None:
        return re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(_ssl_error(exc)))
    reason = ""
    for seen in _chain(exc):
        errno = getattr(seen, "errno", None)
        if isinstance(seen, OSError) and isinstance(errno, int):
            # gai errors (negative errno) carry their text in strerror; os.strerror knows the rest
            reason = (seen.strerror or "") if errno < 0 else os.strerror(errno)
    if not reason:
        reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)) or type(exc).__name__
    return reason


def transport_hint(exc: Exception) -> str:
    """A next step for the failures a connection's settings cause."""
    tls = _ssl_error(exc)
    if tls is not None and "WRONG_VERSION_NUMBER" in str(tls):
        return " (the server answered in plain HTTP: write http:// in the connection's host)"
    if tls is not None:
        return " (TLS failed: check the host's scheme and certificate)"
    return ""


# --- rate-limit pacing --------------------------------------------------------------------------


@dataclass
class _Bucket:
    limit: int | None = None
    remaining: int | None = None  # as far as this client knows, reservations included
    window_end: float | None = None  # server time at which the counted window ends
    exact: bool = False  # window_end came from a known window length, not the rounded header
    probing: bool = False  # first request to a path in flight: others wait for its headers


class RateLimitPacer:
    """Waits for the next window instead of collecting 429s (contract §3).

    Markaestro counts requests per API client in **fixed windows aligned to the Unix epoch**
    (window id = floor(now / length)) twice: once per exact URL path and once globally. Every
    answer describes the per-path counter (``X-RateLimit-Limit``/``-Remaining``) and the window end
    (``X-RateLimit-Reset``: absolute Unix seconds, *rounded up* to an integer).

    * Each request reserves one slot of its path and of the global counter before it is sent, so
      concurrent callers (threads, tasks) cannot overshoot what the last answer allowed. The very
      first request to a path goes alone; concurrent ones wait (polling every ``probe_poll`` s) for
      its headers, so a burst on a fresh path cannot overshoot either.
    * A path whose slots are used up makes the next request to it sleep until the window boundary.
    * With a known window length (``window_seconds``, default 60 s as in the contract) the boundary
      is computed exactly: ``floor(reset / length) * length`` is the true window end whenever it
      rounds up to the header's value. If the header disagrees with the configured length, the
      header's integer (up to one second late) is used instead, and no window is assumed.
    * Once a window has passed, the bucket refills to its known limit without asking the server.
    * The global limit is never shown on a successful answer: it is taken from ``global_limit`` or
      learnt from a 429 whose ``X-RateLimit-Limit`` is not the path's own limit.

    Clocks: boundaries are compared with this machine's ``time.time()``; an NTP-synchronised host
    is assumed (a skewed clock costs at most one 429, which the retry policy then waits out).
    """

    def __init__(
        self,
        max_wait: float = MAX_RETRY_AFTER_SECONDS,
        *,
        window_seconds: float | None = DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
        global_limit: int | None = None,
        margin: float = PACING_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
        enabled: bool = True,
    ) -> None:
        self.max_wait = max_wait
        self.window_seconds = window_seconds if window_seconds and window_seconds > 0 else None
        self.margin = margin
        self.clock = clock
        self.enabled = enabled
        self.probe_poll = 0.005
        self._paths: dict[str, _Bucket] = {}
        self._global = _Bucket(limit=global_limit)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RateLimitPacer(window_seconds={self.window_seconds}, paths={len(self._paths)})"

    # window arithmetic

    def _next_boundary(self, now: float) -> float | None:
        if self.window_seconds is None:
            return None
        return (math.floor(now / self.window_seconds) + 1) * self.window_seconds

    def window_end_from_reset(self, reset: float) -> tuple[float, bool]:
        """The exact window end behind an integer ``X-RateLimit-Reset`` (and whether it is exact)."""
        w = self.window_seconds
        if w is not None and w >= 1:
            end = math.floor(reset / w + 1e-9) * w
            if 0 <= reset - end < 1 - 1e-9:
                return end, True
        return float(reset), False

    def _refresh(self, bucket: _Bucket, now: float) -> None:
        """A bucket whose window has ended starts over at its limit (or unknown)."""
        if bucket.window_end is not None and now >= bucket.window_end:
            if bucket.exact and bucket.limit is not None:
                bucket.window_end = self._next_boundary(now)
                bucket.remaining = bucket.limit
            else:
                bucket.window_end = None
                bucket.remaining = None
        elif bucket is self._global and bucket.window_end is None and bucket.limit is not None:
            # The global counter is never reported on success: with a known limit (configured or
            # learnt from a 429) and a known window length, count this client's requests per window.
            if bucket.remaining is None and self.window_seconds is not None:
                bucket.window_end = self._next_boundary(now)
                bucket.exact = True
                bucket.remaining = bucket.limit

    def acquire(self, path: str) -> float:
        """Reserve a slot for ``path`` and return 0, or return how long to sleep before asking again."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self.clock()
            bucket = self._paths.setdefault(path, _Bucket())
            waits = []
            for b in (self._global, bucket):
                self._refresh(b, now)
                if b.remaining is not None and b.remaining <= 0 and b.window_end is not None:
                    waits.append(b.window_end - now + self.margin)
            if waits:
                return max(0.001, min(max(waits), self.max_wait))
            if bucket.limit is None and bucket.remaining is None:
                if bucket.probing:
                    return self.probe_poll
                bucket.probing = True
            for b in (self._global, bucket):
                if b.remaining is not None:
                    b.remaining -= 1
            return 0.0

    def done(self, path: str) -> None:
        """An attempt to ``path`` finished (answered or not): a pending probe no longer blocks."""
        with self._lock:
            bucket = self._paths.get(path)
            if bucket is not None:
                bucket.probing = False

    def observe(self, path: str, response: httpx.Response) -> None:
        """Learn from the ``X-RateLimit-*`` headers of any answer (absent on most errors)."""
        if not self.enabled:
            return
        try:
            limit = int(response.headers["X-RateLimit-Limit"])
            remaining = int(response.headers["X-RateLimit-Remaining"])
            reset = float(response.headers["X-RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        end, exact = self.window_end_from_reset(reset)
        with self._lock:
            bucket = self._paths.setdefault(path, _Bucket())
            if response.status_code == 429 and bucket.limit is not None and limit != bucket.limit:
                bucket = self._global  # the global counter tripped: every path waits
                log.info("Markaestro global rate limit (%d per window) reached; waiting for the window", limit)
            bucket.limit = limit
            if bucket.window_end is not None and abs(bucket.window_end - end) < 1e-6:
                bucket.remaining = remaining if bucket.remaining is None else min(bucket.remaining, remaining)
            elif bucket.window_end is None or end > bucket.window_end:
                bucket.window_end, bucket.exact, bucket.remaining = end, exact, remaining
            else:
                return  # an answer about an older window arrived late; it says nothing about this one
            if response.status_code == 429:
                bucket.remaining = 0

    def blocked_for(self, path: str) -> float | None:
        """Seconds until ``path`` (or the global counter) has room again; None when not blocked."""
        with self._lock:
            now = self.clock()
            waits = []
            for b in (self._global, self._paths.get(path)):
                if b is not None and b.remaining is not None and b.remaining <= 0 and b.window_end is not None:
                    waits.append(b.window_end - now + self.margin)
            return max(waits) if waits else None

    def wait_time(self, path: str) -> float:
        """How long a request to ``path`` would wait now (without reserving anything)."""
        blocked = self.blocked_for(path)
        return 0.0 if blocked is None else max(0.0, min(blocked, self.max_wait))


# --- errors -------------------------------------------------------------------------------------


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def api_error(spec: RequestSpec, response: httpx.Response, *, after_lost_answer: bool = False) -> MarkaestroAPIError:
    """Map an error answer to a typed exception (body fields only: no headers, no query strings).

    ``after_lost_answer``: this answer came to a replay sent after an attempt with an unknown outcome.
    """
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
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
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
        after_lost_answer=after_lost_answer,
    )


# --- senders ------------------------------------------------------------------------------------


class _BaseTransport:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        pacer: RateLimitPacer | None = None,
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.pacer = pacer or RateLimitPacer(self.policy.max_wait)

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

    def _pace(self, spec: RequestSpec) -> float:
        return self.pacer.acquire(spec.display_path) if spec.paced else 0.0

    def _next_delay(self, spec: RequestSpec, response: httpx.Response, attempt: int) -> float | None:
        """Policy delay for an unsuccessful answer; None = give up and raise."""
        delay = self.policy.delay_for_response(spec, response, attempt)
        if delay is not None and response.status_code == 429 and spec.paced:
            # Retry-After is the window end rounded up to whole seconds; the pacer knows it exactly.
            exact = self.pacer.blocked_for(spec.display_path)
            if exact is not None and delay - 1.0 <= exact <= delay + self.pacer.margin:
                delay = max(0.0, exact)
        return delay

    # The sync and async loops differ only in how they sleep and send; every decision is made here.

    def _delay_after_exception(self, spec: RequestSpec, exc: httpx.TransportError, attempt: int) -> float:
        """How long to wait before resending after no answer; raises when the policy gives up."""
        delay = self.policy.delay_for_exception(spec, exc, attempt)
        if delay is None:
            raise self._transport_error(spec, exc, attempt) from None
        self._log_retry(spec, type(exc).__name__, attempt, delay)
        return delay

    def _delay_after_response(
        self, spec: RequestSpec, response: httpx.Response, attempt: int, lost: bool
    ) -> float:
        """How long to wait before resending after an error answer; raises it when the policy gives up.

        ``lost``: an earlier attempt of this call may have been acted on without us seeing the answer.
        """
        delay = self._next_delay(spec, response, attempt)
        if delay is None:
            raise api_error(spec, response, after_lost_answer=lost)
        self._log_retry(spec, f"HTTP {response.status_code} {_error_code(response)}".rstrip(), attempt, delay)
        return delay

    def _log_retry(self, spec: RequestSpec, what: str, attempt: int, delay: float) -> None:
        key = " (same Idempotency-Key)" if spec.idempotency_key else ""
        log.warning(
            "Markaestro %s %s: %s; retry %d/%d in %.2fs%s",
            spec.method, spec.display_path, what, attempt, self.policy.max_attempts - 1, delay, key,
        )

    def _transport_error(self, spec: RequestSpec, exc: Exception, attempts: int) -> MarkaestroTransportError:
        """Name where the request went (origin, method, path) so a wrong host or port is obvious.

        Built from the URL's parts only: no credentials, query string (signed-URL tokens) or headers.
        """
        url = httpx.URL(self._url(spec))
        if isinstance(exc, _NOT_SENT):
            what = "cannot reach"
        elif isinstance(exc, httpx.TimeoutException):
            what = "no answer from"
        else:
            what = "lost the connection to"
        reason = redact_url(network_reason(exc, self.timeout))
        if self._api_key:
            reason = reason.replace(self._api_key, "<api key>")
        why = "" if spec.retry_safe else "; not retried: replaying this request could act twice"
        plural = "" if attempts == 1 else "s"
        return MarkaestroTransportError(
            f"Markaestro: {what} {url_origin(url)} ({spec.method} {url.path}): {reason}{transport_hint(exc)} "
            f"[{type(exc).__name__} after {attempts} attempt{plural}{why}]"
        )


class SyncTransport(_BaseTransport):
    """One pooled ``httpx.Client`` per hook, reused across calls (thread-safe)."""

    def __init__(self, *args: Any, http_transport: httpx.BaseTransport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.Client | None = None
        self._http_transport = http_transport
        self._client_lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, transport=self._http_transport)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _attempt(self, spec: RequestSpec) -> httpx.Response:
        kwargs = self._request_kwargs(spec)
        if spec.content_factory is not None:
            kwargs["content"] = iter(spec.content_factory())
        try:
            response = self.client.request(spec.method, self._url(spec), **kwargs)
            if spec.paced:
                self.pacer.observe(spec.display_path, response)
            return response
        finally:
            _close_files(kwargs)
            if spec.paced:
                self.pacer.done(spec.display_path)

    def send(self, spec: RequestSpec) -> httpx.Response:
        attempt, lost = 0, False
        while True:
            attempt += 1
            while (pause := self._pace(spec)) > 0:
                time.sleep(pause)
            try:
                response = self._attempt(spec)
            except httpx.TransportError as exc:
                time.sleep(self._delay_after_exception(spec, exc, attempt))
                lost = lost or may_have_been_sent(exc)
                continue
            if response.is_success:
                return response
            time.sleep(self._delay_after_response(spec, response, attempt, lost))
            lost = lost or response.status_code >= 500


class AsyncTransport(_BaseTransport):
    """Async twin.

    Without :meth:`open`, every call gets its own ``httpx.AsyncClient`` that is closed in a
    ``finally`` (shielded), so cancellation — e.g. a trigger being stopped mid-request — can never
    leak a client or a pooled connection. Long-lived callers may :meth:`open` one client and must
    :meth:`aclose` it (the hook's ``aclose`` does).
    """

    def __init__(self, *args: Any, http_transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._client: httpx.AsyncClient | None = None
        self._http_transport = http_transport
        self._live: set[httpx.AsyncClient] = set()

    @property
    def open_clients(self) -> int:
        """Clients created by this transport and not closed yet (0 when idle without :meth:`open`)."""
        return sum(1 for c in self._live if not c.is_closed)

    def _new_client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(timeout=self.timeout, transport=self._http_transport)
        self._live.add(client)
        return client

    async def _close_client(self, client: httpx.AsyncClient) -> None:
        try:
            await client.aclose()
        finally:
            self._live.discard(client)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.shield(self._close_client(client))

    async def open(self) -> None:
        """Keep one client open across calls until :meth:`aclose` (used by long-lived callers)."""
        if self._client is None:
            self._client = self._new_client()

    async def send(self, spec: RequestSpec) -> httpx.Response:
        owns_client = self._client is None
        client = self._client or self._new_client()
        try:
            return await self._send_with(client, spec)
        finally:
            if owns_client:
                await asyncio.shield(self._close_client(client))

    async def _attempt(self, client: httpx.AsyncClient, spec: RequestSpec) -> httpx.Response:
        kwargs = self._request_kwargs(spec)
        if spec.content_factory is not None:
            kwargs["content"] = _aiter(spec.content_factory())
        try:
            response = await client.request(spec.method, self._url(spec), **kwargs)
            if spec.paced:
                self.pacer.observe(spec.display_path, response)
            return response
        finally:
            _close_files(kwargs)
            if spec.paced:
                self.pacer.done(spec.display_path)
            body = kwargs.get("content")
            if body is not None:
                await asyncio.shield(body.aclose())

    async def _send_with(self, client: httpx.AsyncClient, spec: RequestSpec) -> httpx.Response:
        attempt, lost = 0, False
        while True:
            attempt += 1
            while (pause := self._pace(spec)) > 0:
                await asyncio.sleep(pause)
            try:
                response = await self._attempt(client, spec)
            except httpx.TransportError as exc:
                await asyncio.sleep(self._delay_after_exception(spec, exc, attempt))
                lost = lost or may_have_been_sent(exc)
                continue
            if response.is_success:
                return response
            await asyncio.sleep(self._delay_after_response(spec, response, attempt, lost))
            lost = lost or response.status_code >= 500


def _close_files(kwargs: dict[str, Any]) -> None:
    """Multipart bodies are opened per attempt; close them whatever the outcome."""
    for part in (kwargs.get("files") or {}).values():
        handle = part[1] if isinstance(part, tuple) else part
        close = getattr(handle, "close", None)
        if close is not None:
            close()
    content = kwargs.get("content")
    close = getattr(content, "close", None)  # a generator holding an open file
    if close is not None:
        close()


async def _aiter(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """Async body from a sync chunk iterator; file reads go to a thread so the loop stays free."""
    iterator = iter(chunks)
    sentinel = object()
    try:
        while True:
            chunk = await asyncio.to_thread(next, iterator, sentinel)
            if chunk is sentinel:
                return
            yield chunk  # type: ignore[misc]
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def iter_file_chunks(opener: Callable[[], BinaryIO], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Read a file in fixed chunks so a 250 MB video is never held whole in memory."""
    with opener() as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
