"""Typed errors raised by the Markaestro hook.

Every API error carries what a user needs to act (HTTP status, the contract's error code, the
requestId when the server sent one, validation issues) and nothing secret: messages are built from
the response body and the request path only, never from headers or query strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow.sdk.exceptions import AirflowException


@dataclass(frozen=True)
class ValidationIssue:
    field: str
    code: str
    message: str = ""

    def __str__(self) -> str:
        return f"{self.field or '<body>'}: {self.code}" + (f" ({self.message})" if self.message else "")


class MarkaestroError(AirflowException):
    """Base of everything this provider raises about Markaestro."""


class MarkaestroTransportError(MarkaestroError):
    """The request never got an HTTP answer (connection refused/reset, DNS, TLS, timeout) after all retries.

    The message names the origin (``scheme://host:port``), method and path it was sent to, so a
    wrong host or port in the connection is visible at once; never credentials or a query string.
    """


class MarkaestroAPIError(MarkaestroError):
    """An HTTP error answer from Markaestro.

    ``after_lost_answer`` is true when this answer came to a replay the transport sent after an
    attempt whose outcome it never learnt (no answer, or a 5xx): that attempt may have done the work.
    """

    def __init__(
        self,
        *,
        status_code: int,
        error_code: str,
        method: str,
        path: str,
        api_message: str = "",
        request_id: str | None = None,
        issues: list[ValidationIssue] | None = None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
        after_lost_answer: bool = False,
    ) -> None:
        self.status_code = status_code
        self.error_code = error_code
        self.method = method
        self.path = path
        self.api_message = api_message
        self.request_id = request_id
        self.issues = list(issues or [])
        self.retry_after = retry_after
        self.body = dict(body or {})
        self.after_lost_answer = after_lost_answer
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"Markaestro {self.method} {self.path} answered HTTP {self.status_code} {self.error_code}"
        if self.api_message:
            text += f": {self.api_message}"
        if self.issues:
            text += " [" + "; ".join(str(i) for i in self.issues) + "]"
        if self.request_id:
            text += f" (requestId {self.request_id})"
        hint = _HINTS.get(self.error_code)
        return f"{text}; {hint}" if hint else text

    def __reduce__(self):  # exceptions pickle their args by default; rebuild from the fields instead
        return (_rebuild, (type(self), self.__dict__.copy()))

    @property
    def is_retryable(self) -> bool:
        """429 and 5xx may succeed later; 4xx content errors never will."""
        return status_is_retryable(self.status_code)


def status_is_retryable(http_status: int) -> bool:
    """The one retry rule for an HTTP answer (operators, poke mode, trigger events, discovery):
    429 and 5xx may succeed later, anything else answers the same again."""
    return http_status == 429 or http_status >= 500


#: One line on what to do next, for the errors a connection's settings cause (contract §2.2) and
#: for the idempotency traps (§5, §7.4) that a bare error code does not explain. Static text only:
#: a hint never carries a key, header or URL.
_HINTS = {
    "UNAUTHENTICATED": "check the API key in the connection's password: wrong, revoked or expired",
    "FORBIDDEN": "the API key lacks the scope this route needs (or names another product)",
    "API_KEY_NOT_BOUND_TO_PRODUCT": "create a key bound to a product in the Markaestro dashboard",
    # The server keeps a key for its first body, even when that request failed.
    "VALIDATION_IDEMPOTENCY_KEY_REUSED": (
        "this Idempotency-Key was already used with a different body: use a new key for new content"
    ),
    # Reached only once the transport's retries ran out: usually a failed first attempt holds the key.
    "IDEMPOTENCY_REQUEST_IN_PROGRESS": (
        "an earlier request with this Idempotency-Key is still running, or failed and holds the key for up "
        "to 10 minutes: check whether it took effect, then use a new key to try again"
    ),
    # The status check runs before the idempotency replay, so even a retry with the same key lands here.
    "VALIDATION_POST_ALREADY_PUBLISHING": "the post already moved on: follow it with get_post",
}


class MarkaestroAuthError(MarkaestroAPIError):
    """401/403: the key is wrong, revoked, lacks a scope or is not bound to a product."""


class MarkaestroNotFound(MarkaestroAPIError):
    """404: unknown id, or an id that belongs to another product (the API answers 404, not 403)."""


class MarkaestroValidationError(MarkaestroAPIError):
    """400 VALIDATION_*: the request was rejected for its content; retrying it cannot help."""


class MarkaestroConflict(MarkaestroAPIError):
    """409: already publishing/published, idempotency key in progress, endpoint cap, finalize lease."""


class MarkaestroRateLimited(MarkaestroAPIError):
    """429 after the transport's retry budget ran out."""


def _rebuild(cls: type[MarkaestroAPIError], state: dict[str, Any]) -> MarkaestroAPIError:
    names = ("status_code", "error_code", "method", "path", "api_message", "request_id", "issues", "retry_after",
             "body", "after_lost_answer")
    return cls(**{k: state[k] for k in names if k in state})


def error_class_for(status_code: int) -> type[MarkaestroAPIError]:
    if status_code in (401, 403):
        return MarkaestroAuthError
    if status_code == 404:
        return MarkaestroNotFound
    if status_code == 409:
        return MarkaestroConflict
    if status_code == 429:
        return MarkaestroRateLimited
    if status_code == 400:
        return MarkaestroValidationError
    return MarkaestroAPIError
