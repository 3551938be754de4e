"""Every hook route, sync and async (same ``api.Call`` underneath), against the emulator over HTTP."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro import models as m
from airflow_provider_markaestro.exceptions import MarkaestroNotFound, MarkaestroValidationError
from airflow_provider_markaestro.hook import MarkaestroHook

from .conftest import emulator_posts, requests_log

SAMPLE = Path(__file__).resolve().parents[2] / "dags" / "campaigns" / "spring_launch"
IMAGE = SAMPLE / "coffee.jpg"


@pytest.fixture(params=["sync", "async"])
def call(request, hook):
    """``call("get_post", id)`` runs ``hook.get_post`` or ``asyncio.run(hook.aget_post(...))``."""
    mode = request.param

    def _call(name: str, *args: Any, **kwargs: Any) -> Any:
        if mode == "sync":
            return getattr(hook, name)(*args, **kwargs)
        method = getattr(hook, "a" + name)
        if inspect.isasyncgenfunction(method):
            async def collect():
                return [item async for item in method(*args, **kwargs)]

            return asyncio.run(collect())
        return asyncio.run(method(*args, **kwargs))

    _call.mode = mode  # type: ignore[attr-defined]
    return _call


def test_every_public_method_has_an_async_twin():
    public = {
        name for name, value in vars(MarkaestroHook).items()
        if callable(value) and not name.startswith("_") and not name.startswith("a")
    }
    plumbing = {"get_conn", "close", "web_link", "test_connection", "get_ui_field_behaviour",
                "get_connection_form_widgets", "transport", "settings"}
    missing = sorted(n for n in public - plumbing if not hasattr(MarkaestroHook, "a" + n))
    assert missing == []


def test_products_and_destinations(call, demo_seed):
    products = call("list_products")
    assert [p.id for p in products] == [demo_seed.products[0].id]
    assert call("get_bound_product").name == "Northwind Coffee"
    destinations = call("list_destinations", products[0].id)
    assert all(isinstance(d, m.Destination) for d in destinations)
    assert {d.channel for d in destinations} >= {"facebook", "instagram", "tiktok", "threads", "linkedin"}


def test_multipart_upload_and_delete_media(call):
    asset = call("upload_media", IMAGE, idempotency_key=f"routes-media-{call.mode}")
    assert asset.id.startswith("ast_") and asset.type == "image" and asset.mime_type == "image/jpeg"
    again = call("upload_media_multipart", IMAGE, idempotency_key=f"routes-media-{call.mode}")
    assert again.id == asset.id  # replayed by the key
    deleted = call("delete_media", asset.id)
    assert deleted == {"deleted": True, "id": asset.id}
    with pytest.raises(MarkaestroNotFound):  # a first-attempt 404 is an error, not "already gone"
        call("delete_media", asset.id)


def test_upload_session_flow_and_finalize_is_retry_safe(call, markaestro):
    asset = call("upload_media_session", IMAGE)
    assert asset.id.startswith("ast_") and asset.size_bytes == IMAGE.stat().st_size
    assert asset.hosted_url
    # finalize again: 200 with the same asset
    again = call("finalize_upload_session", asset.id)
    assert again.id == asset.id and again.size_bytes == asset.size_bytes
    puts = [r for r in requests_log(markaestro) if r["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["status"] == 200


def test_large_files_go_through_a_session(call, markaestro, tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0" * 4096)
    monkeypatch.setattr(MarkaestroHook, "session_upload_threshold", 1024)
    asset = call("upload_media", video)
    assert asset.type == "video" and asset.size_bytes == 4096
    paths = [r["path"] for r in requests_log(markaestro)]
    assert "/api/public/v1/media/upload-sessions" in paths and "/api/public/v1/media" not in paths


def test_posts_create_get_list_delete(call, markaestro):
    post = call("create_post", api.post_body("threads", "route test"), idempotency_key=f"routes-post-{call.mode}")
    assert isinstance(post, m.Post) and post.status == "draft"
    assert call("get_post", post.id).caption == "route test"
    batch = call("create_posts", [api.post_body("threads", "b1"), api.post_body("tiktok", "needs media")])
    assert isinstance(batch, m.BatchCreateResult) and (batch.created, batch.total) == (1, 2)
    assert batch.results[1].error == "VALIDATION_TIKTOK_REQUIRES_MEDIA"
    page = call("list_posts", limit=1)
    assert isinstance(page, m.PostPage) and page.count == 1 and page.next_cursor
    assert call("delete_post", post.id) == {"deleted": True, "id": post.id}
    with pytest.raises(MarkaestroNotFound):
        call("get_post", post.id)
    with pytest.raises(MarkaestroNotFound):  # a first-attempt 404 is an error, not "already gone"
        call("delete_post", post.id)


def test_iter_posts_follows_cursors(call, markaestro):
    ids = {call("create_post", api.post_body("threads", f"page {i}")).id for i in range(5)}
    seen = list(call("iter_posts", page_size=2))
    assert {p.id for p in seen} == ids and len(seen) == 5
    lists = [r for r in requests_log(markaestro) if r["method"] == "GET" and r["path"] == "/api/public/v1/posts"]
    assert len(lists) == 3  # 2 + 2 + 1


def test_publish_and_job_run(call):
    post = call("create_post", api.post_body("threads", "publish me"))
    run = call("publish_post", post.id, idempotency_key=f"routes-publish-{call.mode}")
    assert isinstance(run, m.JobRun) and run.resource_id == post.id
    assert call("get_job_run", run.id).id == run.id


def test_webhook_endpoints(call):
    endpoint = call("create_webhook_endpoint", "https://hooks.example.com/mk", ["post.published"])
    assert endpoint.secret and endpoint.secret.startswith("whsec_")
    assert "whsec_" not in repr(endpoint)
    listed = call("list_webhook_endpoints")
    assert [e.id for e in listed] == [endpoint.id] and listed[0].secret is None
    assert call("disable_webhook_endpoint", endpoint.id) is None
    assert call("list_webhook_endpoints")[0].status == "disabled"


def test_connect_discovery(call, demo_seed):
    accounts = call("connect_list_social_accounts")
    product_id = demo_seed.products[0].id
    assert accounts and all(a.id.startswith(product_id + "#") for a in accounts)
    products = call("connect_list_products")
    assert [p.id for p in products] == [product_id]
    assert call("connect_list_media") == []


def test_connect_upload_and_posts(call, demo_seed, markaestro):
    media_id = call("connect_upload_image", IMAGE)
    assert media_id.startswith("ast_")
    accounts = call("connect_list_social_accounts")
    threads = next(a.id for a in accounts if a.platform == "threads")
    result = call("connect_create_post", "connect hello", [threads], [media_id])
    assert isinstance(result, m.ConnectCreateResult) and result.created and not result.errors
    call("connect_create_post", "second", [threads])
    page = call("connect_list_posts", limit=1)
    assert len(page.data) == 1 and page.next_cursor
    assert {p.caption for p in call("connect_iter_posts", page_size=1)} == {"connect hello", "second"}


def test_connect_put_is_single_use(call, markaestro):
    grant = call("connect_create_upload_url", "image/jpeg", IMAGE.stat().st_size, IMAGE.name)
    assert "token" not in repr(grant)
    uploaded = call("connect_put_upload", grant, IMAGE)
    assert uploaded.media_id == grant.media_id
    with pytest.raises(MarkaestroValidationError) as exc:
        call("connect_put_upload", grant, IMAGE)
    assert exc.value.error_code == "VALIDATION_UPLOAD_URL_ALREADY_USED"
    assert "token=" not in str(exc.value)
    assert len(emulator_posts(markaestro)) == 0
