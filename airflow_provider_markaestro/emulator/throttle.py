"""Per-destination publish throttles (§7.4 notes): they delay queued runs, never answer an HTTP error.

A claim over the channel's budget for the current fixed window defers the run to the window's
end; a claim while another run of the same destination is running defers it by the busy delay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

RATE_LIMITED = "Publish deferred due to platform rate limit"
BUSY = "Publish deferred because destination is busy"
# Publishes per connected account per 60 s window (unscaled).
DEFAULT_LIMITS: dict[str, int] = {"facebook": 10, "instagram": 10, "tiktok": 4, "threads": 5, "pinterest": 5, "linkedin": 5}
BUSY_RETRY_SECONDS = 15.0


@dataclass(frozen=True)
class Deferral:
    until: float
    message: str


class PublishThrottle:
    """Counts claims per destination in epoch-aligned windows of `window` seconds."""

    def __init__(self, *, limits: Mapping[str, int], window: float, busy_retry: float, destination_lock: bool) -> None:
        self._limits = {**DEFAULT_LIMITS, **limits}
        self._window = window
        self._busy_retry = busy_retry
        self._lock = destination_lock
        self._claims: dict[str, tuple[int, int]] = {}  # destination id -> (window id, claims)

    def claim(self, destination_id: str, channel: str, at: float, busy: bool) -> Deferral | None:
        """Record a claim at `at`, or say until when the run has to wait."""
        window_id = math.floor(at / self._window)
        seen_window, count = self._claims.get(destination_id, (window_id, 0))
        if seen_window != window_id:
            count = 0
        if count >= self._limits.get(channel, 5):
            return Deferral((window_id + 1) * self._window, RATE_LIMITED)
        if busy and self._lock:
            return Deferral(at + self._busy_retry, BUSY)
        self._claims[destination_id] = (window_id, count + 1)
        return None
