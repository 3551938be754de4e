"""Fixed-window rate limiting of §3: per API client, global and per concrete pathname."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .paths import CONNECT_PREFIX, PUBLIC_PREFIX

# §3.3 base limits per route template (Starter). Keys double as seed override names.
ROUTE_BASE_LIMITS: dict[str, int] = {
    f"{PUBLIC_PREFIX}/products": 30,
    f"{PUBLIC_PREFIX}/products/{{id}}/destinations": 30,
    f"{PUBLIC_PREFIX}/media": 20,
    f"{PUBLIC_PREFIX}/media/{{id}}": 20,
    f"{PUBLIC_PREFIX}/media/upload-sessions": 20,
    f"{PUBLIC_PREFIX}/media/upload-sessions/{{id}}/finalize": 20,
    f"{PUBLIC_PREFIX}/posts": 30,
    f"{PUBLIC_PREFIX}/posts/{{id}}": 30,
    f"{PUBLIC_PREFIX}/posts/{{id}}/publish": 20,
    f"{PUBLIC_PREFIX}/job-runs/{{id}}": 60,
    f"{PUBLIC_PREFIX}/webhook-endpoints": 20,
    f"{PUBLIC_PREFIX}/webhook-endpoints/{{id}}": 20,
    f"{CONNECT_PREFIX}/social-accounts": 60,
    f"{CONNECT_PREFIX}/products": 60,
    f"{CONNECT_PREFIX}/media": 60,
    f"{CONNECT_PREFIX}/media/create-upload-url": 60,
    f"{CONNECT_PREFIX}/posts": 60,
}
DEFAULT_BASE_LIMIT = 60
GLOBAL_BASE_LIMIT = 240
PLAN_MULTIPLIERS: dict[str, int] = {"starter": 1, "pro": 2, "business": 5}


def _js_round(value: float) -> int:
    """Math.round (half up), not Python's banker's rounding."""
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* describing the reported counter; Reset is absolute epoch seconds."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


class RateLimiter:
    """Counters keyed `(clientId)` and `(clientId, pathname)` in windows aligned to the epoch."""

    def __init__(
        self,
        *,
        window_seconds: float,
        multiplier: int,
        route_overrides: Mapping[str, int],
        global_base: int = GLOBAL_BASE_LIMIT,
    ) -> None:
        self._window = window_seconds
        self._multiplier = multiplier
        self._bases = {**ROUTE_BASE_LIMITS, **route_overrides}
        self._global_base = global_base
        self._counters: dict[str, tuple[int, int]] = {}

    def next_window_start(self, now: float) -> float:
        """Unix time at which the window after the one holding `now` opens."""
        return (math.floor(now / self._window) + 1) * self._window

    def route_limit(self, route: str) -> int:
        return max(1, _js_round(self._bases.get(route, DEFAULT_BASE_LIMIT) * self._multiplier))

    def check(self, client_id: str, pathname: str, route: str, now: float) -> RateDecision:
        """Evaluate both counters together; each allowed counter is incremented, a denied one is not."""
        window_id = math.floor(now / self._window)
        window_end = (window_id + 1) * self._window
        route_limit = self.route_limit(route)
        global_limit = max(4 * route_limit, _js_round(self._global_base * self._multiplier))
        self._counters = {k: v for k, v in self._counters.items() if v[0] == window_id}
        outcomes = [
            self._hit(f"public-api:{client_id}", global_limit, window_id),
            self._hit(f"public-api:{client_id}:{pathname}", route_limit, window_id),
        ]
        global_ok, global_count = outcomes[0]
        path_ok, path_count = outcomes[1]
        # The global counter is reported only when it is the one that tripped.
        limit, count, allowed = (
            (global_limit, global_count, False) if not global_ok else (route_limit, path_count, path_ok)
        )
        return RateDecision(
            allowed=allowed,
            limit=limit,
            remaining=max(0, limit - count) if allowed else 0,
            reset_at=math.ceil(window_end),
            retry_after=max(1, math.ceil(window_end - now)),
        )

    def _hit(self, key: str, limit: int, window_id: int) -> tuple[bool, int]:
        _, count = self._counters.get(key, (window_id, 0))
        if count >= limit:
            return False, count
        self._counters[key] = (window_id, count + 1)
        return True, count + 1
