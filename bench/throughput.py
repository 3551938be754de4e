"""Throughput under rate limits: N creates + N publishes through MarkaestroHook against the emulator.

The emulator runs in its own process (CLI) with a short fixed window and lowered per-route limits
(seed ``clock.rate_limit_window_seconds`` and ``rate_limits.routes``). The hook is told the window
length (``rate_limit_window_seconds``), so its pacer waits exactly to each window boundary.

Lower bound (what a perfect client could achieve, ignoring request latency):
the server counts per exact path in fixed windows of length ``W`` aligned to the epoch. A counter
with limit ``L`` that must accept ``n`` requests needs ``k = ceil(n / L)`` windows; the first batch
can go at once (start time ``t0``, phase ``φ = t0 mod W`` inside its window), and the last batch
cannot start before the ``(k-1)``-th boundary after ``t0``, i.e. ``(k-1)·W − φ`` after the start.

    lower_bound = max over counters c of  (ceil(n_c / L_c) − 1) · W − φ

Counters here: ``/posts`` (n = N creates, L = posts limit), every ``/posts/<id>/publish`` (n = 1 each,
never binding), and the global per-client counter (n = 2N, L ≥ max(4 × route limit, global_base)).
The bound is floored at the time of one request so it is never zero.

ratio = elapsed / lower_bound (target ≤ 1.15), failed = calls that raised, http_429 = 429 answers in
the emulator's request log.

    python bench/throughput.py [--n 60] [--posts-limit 10] [--window 2] [--workers 1] [--window-hint S]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from _common import airflow_env, demo_seed, emulator_process, set_connection  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="posts to create and publish")
    parser.add_argument("--posts-limit", type=int, default=10, help="per-window limit of /posts")
    parser.add_argument("--publish-limit", type=int, default=10, help="per-window limit of each /posts/<id>/publish")
    parser.add_argument("--window", type=float, default=2.0, help="rate-limit window in seconds")
    parser.add_argument("--window-hint", type=float, default=None,
                        help="rate_limit_window_seconds told to the hook (default: --window); a wrong hint "
                             "makes the pacer fall back to the integer X-RateLimit-Reset")
    parser.add_argument("--global-base", type=int, default=240)
    parser.add_argument("--workers", type=int, default=1, help="concurrent create+publish pipelines")
    args = parser.parse_args()

    airflow_env()
    seed = demo_seed()
    seed.setdefault("clock", {})["rate_limit_window_seconds"] = args.window
    seed["rate_limits"] = {
        "global_base": args.global_base,
        "routes": {
            "/api/public/v1/posts": args.posts_limit,
            "/api/public/v1/posts/{id}/publish": args.publish_limit,
        },
    }
    key = seed["api_keys"][0]["key"]

    from airflow_provider_markaestro import api
    from airflow_provider_markaestro.hook import MarkaestroHook

    with emulator_process(seed) as url:
        hint = args.window_hint if args.window_hint is not None else args.window
        set_connection("bench_throughput", url, key, rate_limit_window_seconds=hint)
        hook = MarkaestroHook("bench_throughput")
        hook.settings  # resolve the connection before the clock starts
        failed = 0

        def one(i: int) -> bool:
            try:
                post = hook.create_post(api.post_body("threads", f"bench post {i}"), idempotency_key=f"bench-c-{i}")
                hook.publish_post(post.id, idempotency_key=f"bench-p-{i}")
                return True
            except Exception as exc:  # counted, not fatal
                print(f"call failed: {exc}", file=sys.stderr)
                return False

        t0 = time.time()
        if args.workers == 1:
            results = [one(i) for i in range(args.n)]
        else:
            with ThreadPoolExecutor(args.workers) as pool:
                results = list(pool.map(one, range(args.n)))
        elapsed = time.time() - t0
        failed = results.count(False)
        hook.close()

        log = httpx.get(f"{url}/_emulator/requests").json()["requests"]
        posts = httpx.get(f"{url}/_emulator/posts").json()["posts"]

    w = args.window
    phase = t0 % w
    global_limit = max(4 * min(args.posts_limit, args.publish_limit), args.global_base)
    counters = {
        "/posts": (args.n, args.posts_limit),
        "/posts/<id>/publish": (1, args.publish_limit),
        "global": (2 * args.n, global_limit),
    }
    per_request = 0.001
    bound = max(max((math.ceil(n / lim) - 1) * w - phase for n, lim in counters.values()), per_request)
    http_429 = sum(1 for r in log if r["status"] == 429)
    api_calls = sum(1 for r in log if r["path"].startswith("/api/"))
    print(f"posts={len(posts)} api_requests={api_calls} window={w}s posts_limit={args.posts_limit} "
          f"workers={args.workers}")
    print(f"elapsed={elapsed:.3f}s lower_bound={bound:.3f}s (phase {phase:.3f}s)")
    print(f"ratio={elapsed / bound:.3f} failed={failed} http_429={http_429}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
