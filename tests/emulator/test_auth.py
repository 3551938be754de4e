"""§2: key parsing, check order, scopes with the products.read implication, brand binding."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import RAW, KEY_NORTHWIND, NORTHWIND, ORBIT, P, RL_HEADERS, Api, demo_seed_dict, make_key

WRONG_SECRET = KEY_NORTHWIND[:-4] + "xxxx"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        f"Basic {KEY_NORTHWIND}",
        "Bearer",
        f"Bearer  {KEY_NORTHWIND}",  # double space: empty token
        "Bearer mk_test_abc.cli_x.secret",
        "Bearer mk_live_ws.only-two-parts",
        f"Bearer {WRONG_SECRET}",
        f"Bearer {KEY_NORTHWIND.replace('HkAD4hoHWR1H0UbdnwOe', 'OtherWorkspace000000')}",
    ],
)
def test_unauthenticated_is_401_with_request_id_and_no_rate_headers(server: EmulatorServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = RAW.get(f"{server.url}{P}/products", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert list(body) == ["error", "requestId"] and body["error"] == "UNAUTHENTICATED"
    uuid.UUID(body["requestId"])
    assert not any(h in response.headers for h in RL_HEADERS)


def test_scheme_is_case_insensitive_and_extra_pieces_ignored(server: EmulatorServer) -> None:
    response = RAW.get(f"{server.url}{P}/products", headers={"Authorization": f"bEaReR {KEY_NORTHWIND} trailing"})
    assert response.status_code == 200


def test_missing_scope_is_403_forbidden(readonly: Api) -> None:
    for response in (readonly.get(f"{P}/products"), readonly.create({"channel": "threads", "caption": "x"})):
        assert response.status_code == 403
        assert response.json()["error"] == "FORBIDDEN" and "requestId" in response.json()
        assert "x-ratelimit-limit" not in response.headers


def test_products_read_is_implied_by_write_or_publish_but_nothing_else(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    ws = seed["workspace"]["id"]
    grants = {1: ["posts.publish"], 2: ["posts.write"], 3: ["posts.read", "media.write", "job_runs.read"]}
    seed["api_keys"] = [{"key": make_key(ws, n), "product_id": NORTHWIND, "scopes": s} for n, s in grants.items()]
    server = start_server(seed)
    statuses = {n: RAW.get(f"{server.url}{P}/products", headers={"Authorization": f"Bearer {make_key(ws, n)}"}).status_code for n in grants}
    assert statuses == {1: 200, 2: 200, 3: 403}
    # posts.write does not imply posts.read
    response = RAW.get(f"{server.url}{P}/posts/anything", headers={"Authorization": f"Bearer {make_key(ws, 2)}"})
    assert response.json()["error"] == "FORBIDDEN"


def test_key_record_checks_and_route_built_403s(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    ws = seed["workspace"]["id"]
    seed["api_keys"] = [
        {"key": make_key(ws, 1), "product_id": NORTHWIND, "status": "revoked"},
        {"key": make_key(ws, 2), "product_id": NORTHWIND, "expires_at": "2001-01-01T00:00:00Z"},
        {"key": make_key(ws, 3), "product_id": NORTHWIND, "expires_at": "not a date"},
        {"key": make_key(ws, 4), "product_id": NORTHWIND, "owner_is_member": False},
        {"key": make_key(ws, 5), "product_id": None},
        {"key": make_key(ws, 6), "product_id": NORTHWIND, "expires_at": "2999-01-01T00:00:00Z"},
    ]
    server = start_server(seed)

    def get(n: int) -> httpx.Response:
        return RAW.get(f"{server.url}{P}/products", headers={"Authorization": f"Bearer {make_key(ws, n)}"})

    assert [get(n).status_code for n in (1, 2, 3, 4)] == [401, 401, 401, 401]
    unbound = get(5)
    assert unbound.status_code == 403
    assert unbound.json()["error"] == "API_KEY_NOT_BOUND_TO_PRODUCT" and set(unbound.json()) == {"error", "message"}
    assert get(6).status_code == 200

    seed["workspace"]["subscription_active"] = False
    lapsed = start_server(seed)
    response = RAW.get(f"{lapsed.url}{P}/products", headers={"Authorization": f"Bearer {make_key(ws, 6)}"})
    assert response.status_code == 403
    assert set(response.json()) == {"error", "message"} and response.json()["error"] == "SUBSCRIPTION_REQUIRED"
    assert "x-ratelimit-limit" not in response.headers


def test_products_are_brand_scoped(api: Api, orbit: Api) -> None:
    assert [p["id"] for p in api.get(f"{P}/products").json()["products"]] == [NORTHWIND]
    assert [p["id"] for p in orbit.get(f"{P}/products").json()["products"]] == [ORBIT]
    mismatch = api.get(f"{P}/products/{ORBIT}/destinations")
    assert mismatch.status_code == 400
    assert mismatch.json()["error"] == "VALIDATION_PRODUCT_SCOPE_MISMATCH" and "requestId" in mismatch.json()
    assert "x-ratelimit-limit" not in mismatch.headers


def test_destinations_shape_and_order(orbit: Api) -> None:
    body = orbit.get(f"{P}/products/{ORBIT}/destinations").json()
    assert body["productId"] == ORBIT and body["count"] == len(body["destinations"]) == 5
    assert [d["provider"] for d in body["destinations"]] == ["meta", "instagram", "threads", "linkedin", "linkedin"]
    linkedin_profile = body["destinations"][3]
    assert list(linkedin_profile) == [
        "id", "provider", "channel", "status", "displayName", "accountId", "username", "pageId", "deliveryMode", "willAlsoPublishTo",
    ]
    assert linkedin_profile["id"] == f"linkedin:linkedin:{linkedin_profile['accountId']}" and linkedin_profile["pageId"] is None
    assert list(body["destinations"][1])[6:8] == ["igAccountId", "username"]
    summary = orbit.get(f"{P}/products").json()["products"][0]
    assert summary["availableChannels"] == ["facebook", "instagram", "threads", "linkedin"]
    assert summary["destinationsCount"] == 5
