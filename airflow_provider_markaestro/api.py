"""Every route of both Markaestro surfaces as a request builder plus a response parser.

A :class:`Call` is pure data: the sync and async hook methods send the same ``Call`` through their
transport, so each route is described once. Paths follow ``../shared/markaestro-api.md`` §7 and §10.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, TypeVar
from urllib.parse import quote

import httpx

from airflow_provider_markaestro import models as m
from airflow_provider_markaestro import rules
from airflow_provider_markaestro.transport import CONNECT_PREFIX, IN_PROGRESS, RequestSpec, iter_file_chunks

#: Finalize answers 409 with this while another finalize of the same session holds its lease.
FINALIZATION_IN_PROGRESS = "UPLOAD_FINALIZATION_IN_PROGRESS"
#: Connect: the single-use upload URL was consumed (or is being consumed) by an earlier PUT.
UPLOAD_URL_ALREADY_USED = "VALIDATION_UPLOAD_URL_ALREADY_USED"

T = TypeVar("T")


@dataclass
class Call(Generic[T]):
    spec: RequestSpec
    parse: Callable[[httpx.Response], T]
    #: DELETEs only: the result to return when a replay after a lost answer finds the target gone
    #: (404), i.e. the lost attempt did the delete. ``None``: a 404 is always an error.
    gone: Callable[[], T] | None = None


def _seg(value: str) -> str:
    """One path segment: ids are quoted so a stray ``/`` or ``?`` cannot change the route."""
    if not value:
        raise ValueError("an id is required to build this Markaestro path")
    return quote(str(value), safe="")


def _key(body: str, model: type[T]) -> Callable[[httpx.Response], T]:
    return lambda r: model.model_validate(r.json()[body])  # type: ignore[attr-defined]


def _list(body: str, model: Any) -> Callable[[httpx.Response], list[Any]]:
    return lambda r: [model.model_validate(item) for item in r.json()[body]]


def _compact(payload: dict[str, Any]) -> dict[str, Any]:
    """Drop unset optional fields: the server hashes the normalised body, ``null`` vs absent matters."""
    return {k: v for k, v in payload.items() if v is not None}


# --- Public API: products and destinations ---------------------------------------------------


def list_products() -> Call[list[m.Product]]:
    return Call(RequestSpec("GET", "/products"), _list("products", m.Product))


def list_destinations(product_id: str) -> Call[list[m.Destination]]:
    return Call(
        RequestSpec("GET", f"/products/{_seg(product_id)}/destinations"), _list("destinations", m.Destination)
    )


# --- Public API: media ------------------------------------------------------------------------


def upload_media(
    opener: Callable[[], BinaryIO], file_name: str, mime_type: str, *, idempotency_key: str | None = None
) -> Call[m.MediaAsset]:
    """Multipart upload. The file part carries its own MIME type: the server validates that one."""
    return Call(
        RequestSpec(
            "POST",
            "/media",
            files_factory=lambda: {"file": (file_name, opener(), mime_type)},
            idempotency_key=idempotency_key,
        ),
        _key("asset", m.MediaAsset),
    )


def create_upload_session(file_name: str, content_type: str, size_bytes: int) -> Call[m.UploadSession]:
    return Call(
        RequestSpec(
            "POST",
            "/media/upload-sessions",
            json={"fileName": file_name, "contentType": content_type, "sizeBytes": size_bytes},
        ),
        _key("uploadSession", m.UploadSession),
    )


def put_upload(
    upload_url: str,
    opener: Callable[[], BinaryIO],
    content_type: str,
    size_bytes: int,
    *,
    extra_headers: dict[str, str] | None = None,
    safe_to_retry: bool = True,
) -> Call[httpx.Response]:
    """PUT raw bytes to a signed URL (no API key). Streams the file in chunks on every attempt.

    ``extra_headers`` are the session's ``uploadHeaders``; their ``Content-Type`` wins, because the
    signature covers it and storage refuses any other value.
    """
    headers = {"Content-Type": content_type, **(extra_headers or {}), "Content-Length": str(size_bytes)}
    return Call(
        RequestSpec(
            "PUT",
            "",
            absolute_url=upload_url,
            authenticated=False,
            headers=headers,
            content_factory=lambda: iter_file_chunks(opener),
            safe_to_retry=safe_to_retry,
        ),
        lambda r: r,
    )


def finalize_upload_session(session_id: str) -> Call[m.MediaAsset]:
    """Retry-safe by contract: a completed session answers 200 with the same asset (~24 h), and a
    concurrent finalize (our own lost attempt, say) answers 409 UPLOAD_FINALIZATION_IN_PROGRESS,
    which is waited out like an idempotency key in progress."""
    return Call(
        RequestSpec(
            "POST",
            f"/media/upload-sessions/{_seg(session_id)}/finalize",
            safe_to_retry=True,
            retry_conflicts=frozenset({IN_PROGRESS, FINALIZATION_IN_PROGRESS}),
        ),
        _key("asset", m.MediaAsset),
    )


def delete_media(asset_id: str) -> Call[dict[str, Any]]:
    """Hard delete: a replay after a lost answer gets 404, answered as the server would have."""
    return Call(
        RequestSpec("DELETE", f"/media/{_seg(asset_id)}"), lambda r: r.json(),
        gone=lambda: {"deleted": True, "id": asset_id},
    )


# --- Public API: posts ------------------------------------------------------------------------


def post_body(
    channel: str,
    caption: str | None = None,
    media_asset_ids: list[str] | None = None,
    *,
    destination_id: str | None = None,
    delivery_mode: str | None = None,
    settings: dict[str, Any] | None = None,
    product_id: str | None = None,
) -> dict[str, Any]:
    """The create body in the server's schema order. The caption is passed through untouched."""
    return _compact(
        {
            "channel": channel,
            "caption": caption,
            "mediaAssetIds": list(media_asset_ids) if media_asset_ids is not None else None,
            "productId": product_id,
            "destinationId": destination_id,
            "deliveryMode": delivery_mode,
            "settings": settings,
        }
    )


def check_create_body(body: Any, where: str = "post") -> list[rules.ContentProblem]:
    """What Markaestro's create route would refuse in a body, found before it is sent (caption length
    the way the platform counts it, media counts, required caption or media, settings).

    Only problems with a server error code count: rules that bite at publish time (an Instagram
    story or reel shape) or that the operators add on top are left out, so a body the server takes
    is never refused. Media kinds are unknown by id, so video-only rules are left to the server; a
    body without a string ``channel`` is left to the server's schema check."""
    if not isinstance(body, dict) or not isinstance(body.get("channel"), str):
        return []
    media = body.get("mediaAssetIds")
    count = len(media) if isinstance(media, (list, tuple)) else 0
    problems = rules.check_post(body["channel"], body.get("caption"), ["unknown"] * count, body.get("settings"),
                                where, delivery_mode=body.get("deliveryMode"))
    return [p for p in problems if p.code]


def create_post(body: dict[str, Any], *, idempotency_key: str | None = None, check: bool = True) -> Call[m.Post]:
    """``check=False`` sends the body as is (to see the server's own answer)."""
    problems = check_create_body(body, str(body.get("destinationId") or body.get("channel") or "post")) if check else []
    if problems:
        raise rules.MarkaestroContentError(problems, "not sent: Markaestro would refuse this content")
    return Call(RequestSpec("POST", "/posts", json=body, idempotency_key=idempotency_key), _key("post", m.Post))


def create_posts(bodies: list[dict[str, Any]], *, idempotency_key: str | None = None) -> Call[m.BatchCreateResult]:
    """Not pre-checked: the batch route answers business-rule errors per item (§7.3.2), and a
    caller of the batch relies on the other items being created; :func:`check_create_body` is there
    to check items first."""
    return Call(
        RequestSpec("POST", "/posts", json={"posts": bodies}, idempotency_key=idempotency_key),
        lambda r: m.BatchCreateResult.model_validate(r.json()),
    )


def get_post(post_id: str) -> Call[m.Post]:
    return Call(RequestSpec("GET", f"/posts/{_seg(post_id)}"), _key("post", m.Post))


def list_posts(
    *, limit: int | None = None, cursor: str | None = None, status: str | None = None, product_id: str | None = None
) -> Call[m.PostPage]:
    params = {"limit": limit, "cursor": cursor, "status": status, "productId": product_id}
    return Call(RequestSpec("GET", "/posts", params=params), lambda r: m.PostPage.model_validate(r.json()))


def delete_post(post_id: str) -> Call[dict[str, Any]]:
    """Hard delete (§7.3.5): a replay after a lost answer gets 404, answered as the server would have.
    400 VALIDATION_POST_IS_PUBLISHING stays an error."""
    return Call(
        RequestSpec("DELETE", f"/posts/{_seg(post_id)}"), lambda r: r.json(),
        gone=lambda: {"deleted": True, "id": post_id},
    )


def publish_post(post_id: str, *, idempotency_key: str | None = None) -> Call[m.JobRun]:
    return Call(
        RequestSpec("POST", f"/posts/{_seg(post_id)}/publish", idempotency_key=idempotency_key),
        _key("run", m.JobRun),
    )


def get_job_run(run_id: str) -> Call[m.JobRun]:
    return Call(RequestSpec("GET", f"/job-runs/{_seg(run_id)}"), _key("run", m.JobRun))


# --- Public API: webhook endpoints -----------------------------------------------------------


def list_webhook_endpoints() -> Call[list[m.WebhookEndpoint]]:
    return Call(RequestSpec("GET", "/webhook-endpoints"), _list("webhookEndpoints", m.WebhookEndpoint))


def create_webhook_endpoint(url: str, events: list[str]) -> Call[m.WebhookEndpoint]:
    return Call(
        RequestSpec("POST", "/webhook-endpoints", json={"url": url, "events": list(events)}),
        _key("webhookEndpoint", m.WebhookEndpoint),
    )


def disable_webhook_endpoint(endpoint_id: str) -> Call[None]:
    """Soft-disable: a repeat answers 204 anyway; a 404 on a replay is accepted all the same."""
    return Call(RequestSpec("DELETE", f"/webhook-endpoints/{_seg(endpoint_id)}"), lambda r: None, gone=lambda: None)


# --- Connect API ------------------------------------------------------------------------------


def connect_list_social_accounts() -> Call[list[m.SocialAccount]]:
    return Call(RequestSpec("GET", "/social-accounts", surface=CONNECT_PREFIX), _list("data", m.SocialAccount))


def connect_list_products() -> Call[list[m.ConnectProduct]]:
    return Call(RequestSpec("GET", "/products", surface=CONNECT_PREFIX), _list("data", m.ConnectProduct))


def connect_list_media() -> Call[list[dict[str, Any]]]:
    return Call(RequestSpec("GET", "/media", surface=CONNECT_PREFIX), lambda r: list(r.json()["data"]))


def connect_create_upload_url(
    mime_type: str, size_bytes: int | None = None, name: str | None = None
) -> Call[m.ConnectUploadUrl]:
    body = _compact({"mime_type": mime_type, "size_bytes": size_bytes, "name": name})
    # No idempotency on Connect: a lost answer would leave a reserved, unknown media id behind.
    return Call(
        RequestSpec("POST", "/media/create-upload-url", surface=CONNECT_PREFIX, json=body, safe_to_retry=False),
        lambda r: m.ConnectUploadUrl.model_validate(r.json()),
    )


def connect_put_upload(
    upload_url: str, opener: Callable[[], BinaryIO], mime_type: str, size_bytes: int
) -> Call[m.ConnectUploadedMedia]:
    """The single-use signed PUT (§10.5). Never retried by the transport: a replay after a lost
    answer gets VALIDATION_UPLOAD_URL_ALREADY_USED; the hook decides what that means."""
    return Call(
        RequestSpec(
            "PUT",
            "",
            absolute_url=upload_url,
            authenticated=False,
            headers={"Content-Type": mime_type, "Content-Length": str(size_bytes)},
            content_factory=lambda: iter_file_chunks(opener),
            safe_to_retry=False,
        ),
        lambda r: m.ConnectUploadedMedia.model_validate(r.json()),
    )


def connect_create_post(
    caption: str,
    social_accounts: list[str],
    media: list[str] | None = None,
    *,
    scheduled_at: str | None = None,
    is_draft: bool | None = None,
) -> Call[m.ConnectCreateResult]:
    body = _compact(
        {
            "caption": caption,
            "media": list(media or []),
            "social_accounts": list(social_accounts),
            "scheduled_at": scheduled_at,
            "is_draft": is_draft,
        }
    )
    # Connect has no idempotency: a POST whose answer was lost is never blindly resent.
    return Call(
        RequestSpec("POST", "/posts", surface=CONNECT_PREFIX, json=body, safe_to_retry=False),
        lambda r: m.ConnectCreateResult.model_validate(r.json()),
    )


def connect_list_posts(*, limit: int | None = None, cursor: str | None = None) -> Call[m.ConnectPostPage]:
    return Call(
        RequestSpec("GET", "/posts", surface=CONNECT_PREFIX, params={"limit": limit, "cursor": cursor}),
        lambda r: m.ConnectPostPage.model_validate(r.json()),
    )
