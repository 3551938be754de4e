"""MarkaestroHook against the emulator over real HTTP: URLs, auth, models, errors, sync and async."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro.exceptions import (
    MarkaestroAuthError,
    MarkaestroConflict,
    MarkaestroNotFound,
    MarkaestroTransportError,
    MarkaestroValidationError,
)
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.models import JobRun, Post, Product
from airflow_provider_markaestro.transport import resolve_base_url

SAMPLE = Path(__file__).resolve().parents[2] / "dags" / "campaigns" / "spring_launch"


def _requests(emulator) -> list[dict]:
    return httpx.get(f"{emulator.url}/_emulator/requests").json()["requests"]


@pytest.mark.parametrize(
    "host",
    ["{url}", "{url}/", "{url}/api/public/v1", "{url}/api/public/v1/", "{url}//", "{hostport}", "{hostport}/"],
)
def test_every_host_spelling_reaches_the_same_url(markaestro, set_conn, demo_seed, host):
    url = markaestro.url
    spelled = host.format(url=url, hostport=url.removeprefix("http://"))
    if "{hostport}" in host:
        # without a scheme https is assumed: the emulator speaks plain http, so only check the URL
        assert resolve_base_url(spelled) == "https://" + url.removeprefix("http://")
        return
    set_conn("mk_spelled", spelled, demo_seed.api_keys[0].key)
    before = len(_requests(markaestro))
    with MarkaestroHook("mk_spelled") as hook:
        products = hook.list_products()
    assert [p.id for p in products] == [demo_seed.products[0].id]
    (last,) = _requests(markaestro)[before:]
    assert last["path"] == "/api/public/v1/products"
    assert "//" not in last["path"]


def test_one_client_is_reused_across_calls(hook):
    first = hook.get_conn()
    hook.list_products()
    hook.list_products()
    assert hook.get_conn() is first


@pytest.fixture
def hook(markaestro):
    with MarkaestroHook() as hook:
        yield hook


def test_products_destinations_and_typed_models(hook):
    product = hook.get_bound_product()
    assert isinstance(product, Product) and product.name == "Northwind Coffee"
    destinations = hook.list_destinations(product.id)
    ids = [d.id for d in destinations]
    assert "meta:facebook:104938271234567" in ids and "tiktok:tiktok:-000aQz3kTT9openid" in ids
    tiktok = next(d for d in destinations if d.channel == "tiktok")
    assert tiktok.delivery_mode == "platform_inbox" and tiktok.to_json()["deliveryMode"] == "platform_inbox"


def test_upload_create_publish_and_follow_the_run(hook):
    asset = hook.upload_media(SAMPLE / "coffee.jpg")
    assert asset.id.startswith("ast_") and asset.type == "image" and (asset.width, asset.height) == (600, 400)
    body = api.post_body("linkedin", "Cold brew is back. ☕", [asset.id])
    post = hook.create_post(body, idempotency_key="hook-test-create-1")
    assert isinstance(post, Post) and post.status == "draft" and post.destination_id == "linkedin:linkedin:2414183"
    run = hook.publish_post(post.id, idempotency_key="hook-test-publish-1")
    assert isinstance(run, JobRun) and run.status in ("queued", "running") and run.resource_id == post.id
    for _ in range(100):
        run = hook.get_job_run(run.id)
        if run.is_terminal:
            break
        asyncio.run(asyncio.sleep(0.05))
    assert run.status == "succeeded"
    assert hook.get_post(post.id).status == "published"
    with pytest.raises(MarkaestroConflict) as exc:
        hook.publish_post(post.id)
    assert exc.value.error_code == "VALIDATION_POST_ALREADY_PUBLISHING"


def test_idempotency_key_replays_the_same_post(markaestro, hook):
    body = api.post_body("threads", "Only once, please.")
    first = hook.create_post(body, idempotency_key="hook-test-replay")
    second = hook.create_post(body, idempotency_key="hook-test-replay")
    assert first.id == second.id
    posts = httpx.get(f"{markaestro.url}/_emulator/posts").json()["posts"]
    assert len(posts) == 1


def test_errors_are_typed_and_carry_the_contract_fields(hook, demo_seed):
    with pytest.raises(MarkaestroValidationError) as exc:
        hook.create_post({"channel": "myspace", "caption": "x" * 4001}, check=False)  # the server's own answer
    err = exc.value
    assert err.status_code == 400 and err.error_code == "VALIDATION_ERROR" and err.request_id
    assert {i.field for i in err.issues} == {"channel", "caption"}
    with pytest.raises(MarkaestroValidationError) as exc:
        hook.list_destinations(demo_seed.products[1].id)
    assert exc.value.error_code == "VALIDATION_PRODUCT_SCOPE_MISMATCH"
    with pytest.raises(MarkaestroNotFound):
        hook.get_post("A" * 20)


def test_wrong_key_is_an_auth_error_without_the_key_in_it(markaestro, set_conn, caplog):
    secret = "mk_live_HkAD4hoHWR1H0UbdnwOe.cli_00000000-0000-4000-8000-000000000000.notTheRealSecret000000000000000"
    set_conn("mk_bad", markaestro.url, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MarkaestroAuthError) as exc, MarkaestroHook("mk_bad") as hook:
        hook.list_products()
    assert exc.value.status_code == 401 and exc.value.error_code == "UNAUTHENTICATED"
    assert "notTheRealSecret" not in str(exc.value) and "notTheRealSecret" not in repr(exc.value)
    assert "notTheRealSecret" not in caplog.text
    assert "notTheRealSecret" not in repr(MarkaestroHook("mk_bad").settings)


def test_test_connection_reports_the_bound_product(markaestro, set_conn):
    with MarkaestroHook() as hook:
        ok, message = hook.test_connection()
    assert ok and "Northwind Coffee" in message
    set_conn("mk_bad", markaestro.url, "mk_live_x.cli_y.z")
    with MarkaestroHook("mk_bad") as hook:
        ok, message = hook.test_connection()
    assert not ok and "401" in message


def test_unreachable_host_is_a_transport_error_after_retries(set_conn, demo_seed):
    set_conn("mk_down", "http://127.0.0.1:9", demo_seed.api_keys[0].key, max_retries=2)
    with pytest.raises(MarkaestroTransportError) as exc, MarkaestroHook("mk_down") as hook:
        hook.list_products()
    assert "2 attempt" in str(exc.value) and "/api/public/v1/products" in str(exc.value)
    assert str(exc.value).startswith("Markaestro: cannot reach http://127.0.0.1:9 (GET /api/public/v1/products): ")


def test_async_twins_match_the_sync_methods(markaestro):
    async def scenario():
        hook = MarkaestroHook()
        products = await hook.alist_products()
        destinations = await hook.alist_destinations(products[0].id)
        post = await hook.acreate_post(api.post_body("threads", "async hello"), idempotency_key="hook-test-async")
        run = await hook.apublish_post(post.id, idempotency_key="hook-test-async-publish")
        fetched = await hook.aget_job_run(run.id)
        await hook.aclose()
        return products, destinations, post, fetched

    products, destinations, post, run = asyncio.run(scenario())
    with MarkaestroHook() as sync:
        assert [p.id for p in products] == [p.id for p in sync.list_products()]
        assert [d.id for d in destinations] == [d.id for d in sync.list_destinations(products[0].id)]
        assert sync.get_post(post.id).caption == "async hello"
    assert run.resource_id == post.id
