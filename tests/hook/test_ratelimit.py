"""Rate limits under a tiny per-route limit (3 per 1 s window): pacing avoids 429s, 429s are waited out."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.transport import RateLimitPacer

from .conftest import TIGHT_POSTS_LIMIT, TIGHT_WINDOW, emulator_posts, requests_log

BURST = 7  # 3 windows' worth at 3 per window


def _post_statuses(emulator) -> list[int]:
    return [r["status"] for r in requests_log(emulator) if r["path"] == "/api/public/v1/posts"]


def _bound(started: float) -> float:
    """Earliest possible finish: the last batch cannot start before the (k-1)-th boundary."""
    k = -(-BURST // TIGHT_POSTS_LIMIT)
    return (k - 1) * TIGHT_WINDOW - (started % TIGHT_WINDOW)


def test_a_paced_burst_waits_for_the_window_and_sees_no_429(tight):
    with MarkaestroHook("mk_tight") as hook:
        started = time.time()
        for i in range(BURST):
            hook.create_post(api.post_body("threads", f"paced {i}"))
        elapsed = time.time() - started
    assert _post_statuses(tight) == [201] * BURST
    assert len(emulator_posts(tight)) == BURST
    # it waited for the window instead of collecting 429s; the upper bound only catches an
    # oversleep of whole windows (a loaded CI machine adds scheduling delay, not windows)
    assert _bound(started) <= elapsed < _bound(started) + 5 * TIGHT_WINDOW


def test_a_concurrent_async_burst_sees_no_429(tight):
    async def burst():
        async with MarkaestroHook("mk_tight") as hook:
            return await asyncio.gather(
                *(hook.acreate_post(api.post_body("threads", f"async {i}")) for i in range(BURST))
            )

    # Start just after a wall-clock boundary: concurrent sends started in a window's last
    # milliseconds can be counted in the next one, which the pacer (rightly) cannot foresee.
    time.sleep(TIGHT_WINDOW - time.time() % TIGHT_WINDOW + 0.02)
    started = time.time()
    posts = asyncio.run(burst())
    elapsed = time.time() - started
    assert len({p.id for p in posts}) == BURST
    assert _post_statuses(tight) == [201] * BURST
    assert elapsed < _bound(started) + 5 * TIGHT_WINDOW


def _fresh_window(emulator) -> None:
    """Start a new rate window on the emulator's clock so a short burst cannot straddle a boundary."""
    httpx.post(f"{emulator.url}/_emulator/clock/next-window").raise_for_status()


def test_without_pacing_429s_are_retried_after_retry_after(tight, caplog):
    _fresh_window(tight)
    with MarkaestroHook("mk_tight_unpaced") as hook:
        started = time.time()
        for i in range(5):
            hook.create_post(api.post_body("threads", f"unpaced {i}"))
        elapsed = time.time() - started
    statuses = _post_statuses(tight)
    assert statuses.count(201) == 5 and statuses.count(429) >= 1
    assert set(statuses) == {201, 429}
    assert elapsed < 10.0  # each 429 waits to the window end (Retry-After: 1), not a capped 120 s
    assert "HTTP 429 RATE_LIMITED" in caplog.text


def test_429_carries_retry_after_and_reset_headers(tight, demo_seed):
    key = demo_seed.api_keys[0].key
    with httpx.Client(base_url=tight.url, headers={"Authorization": f"Bearer {key}"}) as client:
        _fresh_window(tight)
        answers = [client.get("/api/public/v1/posts") for _ in range(TIGHT_POSTS_LIMIT + 1)]
    limited = answers[-1]
    assert limited.status_code == 429, [a.status_code for a in answers]
    assert limited.headers["Retry-After"] == "1"
    pacer = RateLimitPacer(window_seconds=TIGHT_WINDOW)
    end, exact = pacer.window_end_from_reset(float(limited.headers["X-RateLimit-Reset"]))
    assert exact and end == float(limited.headers["X-RateLimit-Reset"])


def test_pacer_computes_exact_boundaries_from_the_rounded_reset():
    pacer = RateLimitPacer(window_seconds=1.5)
    # window [1000.5, 1002.0) ends at 1002.0 -> Reset 1002; window [1002.0, 1003.5) -> Reset 1004
    assert pacer.window_end_from_reset(1002) == (1002.0, True)
    assert pacer.window_end_from_reset(1004) == (1003.5, True)
    # a wrong window setting falls back to the header (at most one second late)
    assert RateLimitPacer(window_seconds=60).window_end_from_reset(1004) == (1004.0, False)


def test_pacer_waits_exactly_to_the_boundary_and_refills():
    now = [1000.2]
    pacer = RateLimitPacer(window_seconds=2, clock=lambda: now[0], margin=0)
    headers = {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1002"}
    assert pacer.acquire("/p") == 0
    pacer.observe("/p", httpx.Response(201, headers=headers))
    pacer.done("/p")
    assert pacer.acquire("/p") == 0  # the last slot
    assert pacer.acquire("/p") == pytest.approx(1.8)  # wait until 1002.0 exactly
    assert pacer.acquire("/other") == 0  # other paths are independent
    now[0] = 1002.0
    assert pacer.acquire("/p") == 0 and pacer.acquire("/p") == 0  # refilled to the known limit
    assert pacer.acquire("/p") == pytest.approx(2.0)


def test_a_global_429_pauses_every_path():
    now = [1000.5]
    pacer = RateLimitPacer(window_seconds=60, clock=lambda: now[0], margin=0)
    ok = {"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "29", "X-RateLimit-Reset": "1020"}
    pacer.acquire("/posts")
    pacer.observe("/posts", httpx.Response(200, headers=ok))
    pacer.done("/posts")
    limited = {"X-RateLimit-Limit": "240", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1020",
               "Retry-After": "20"}
    pacer.observe("/posts", httpx.Response(429, headers=limited))
    assert pacer.acquire("/job-runs/abc") == pytest.approx(19.5)  # a path never seen before waits too


def test_a_configured_global_limit_is_counted_client_side():
    now = [1000.0]
    pacer = RateLimitPacer(window_seconds=10, global_limit=3, clock=lambda: now[0], margin=0)
    for i in range(3):
        assert pacer.acquire(f"/posts/{i}") == 0
        pacer.done(f"/posts/{i}")
    assert pacer.acquire("/posts/9") == pytest.approx(10.0)
    now[0] = 1010.0
    assert pacer.acquire("/posts/9") == 0
