"""§3: fixed epoch-aligned windows, per-client global and per-pathname counters, headers only where listed."""

from __future__ import annotations

from collections.abc import Callable


from airflow_provider_markaestro.emulator import EmulatorServer

from .support import RAW, KEY_NORTHWIND, NORTHWIND, P, RL_HEADERS, Api, demo_seed_dict


def test_headers_on_success_absent_on_mapped_errors(api: Api) -> None:
    now = api.fresh_rate_window()
    first = api.get(f"{P}/products")
    second = api.get(f"{P}/products")
    assert first.headers["x-ratelimit-limit"] == "30"
    assert (first.headers["x-ratelimit-remaining"], second.headers["x-ratelimit-remaining"]) == ("29", "28")
    reset = int(first.headers["x-ratelimit-reset"])
    assert reset == int(now) + 60 and reset % 60 == 0  # absolute, epoch-aligned: the end of the window just begun
    assert api.get(f"{P}/job-runs/x").headers.get("x-ratelimit-limit") is None  # 404
    destinations = api.get(f"{P}/products/{NORTHWIND}/destinations")
    assert destinations.headers["x-ratelimit-remaining"] == "29"  # its own pathname bucket


def test_buckets_are_per_concrete_path(api: Api) -> None:
    api.fresh_rate_window()
    post = api.create_ok({"channel": "threads", "caption": "x"})
    assert api.get(f"{P}/posts/{post['id']}").headers["x-ratelimit-remaining"] == "29"
    assert api.get(f"{P}/posts/{post['id']}").headers["x-ratelimit-remaining"] == "28"
    other = api.create_ok({"channel": "threads", "caption": "y"})
    assert api.get(f"{P}/posts/{other['id']}").headers["x-ratelimit-remaining"] == "29"


def test_429_with_retry_after_under_a_tiny_limit(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["rate_limits"] = {"routes": {f"{P}/products": 1}}
    seed["workspace"]["plan"] = "pro"  # x2 -> limit 2
    server = start_server(seed)
    api = Api(server, KEY_NORTHWIND)
    try:
        api.fresh_rate_window()
        assert RAW.get(f"{server.url}{P}/products").status_code == 401  # does not consume budget
        assert [api.get(f"{P}/products").status_code for _ in range(2)] == [200, 200]
        limited = api.get(f"{P}/products")
        assert limited.status_code == 429
        retry_after = int(limited.headers["retry-after"])
        assert limited.json() == {"error": "RATE_LIMITED", "retryAfter": retry_after} and 1 <= retry_after <= 60
        assert (limited.headers["x-ratelimit-limit"], limited.headers["x-ratelimit-remaining"]) == ("2", "0")
        assert api.get(f"{P}/products/{NORTHWIND}/destinations").status_code == 200
        api.advance(retry_after)
        assert api.get(f"{P}/products").status_code == 200  # next window
    finally:
        api.close()


def test_global_counter_is_reported_when_it_trips(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["rate_limits"] = {"global_base": 1, "routes": {f"{P}/posts/{{id}}": 1}}  # global = max(4 x 1, 1) = 4
    server = start_server(seed)
    api = Api(server, KEY_NORTHWIND)
    try:
        api.fresh_rate_window()
        assert [api.get(f"{P}/posts/p{i}").status_code for i in range(4)] == [404] * 4
        limited = api.get(f"{P}/posts/p9")
        assert limited.status_code == 429 and limited.headers["x-ratelimit-limit"] == "4"
        assert all(h in limited.headers for h in RL_HEADERS)
    finally:
        api.close()
