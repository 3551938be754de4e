"""Emulator time: wall-clock time plus an offset that tests may move forward."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime


class Clock:
    """Single time source for lifecycles, rate-limit windows and idempotency leases."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current emulator time in Unix seconds."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Jump forward so tests can cross timers without sleeping; returns the new time."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self) -> None:
        """Back to wall-clock time; only safe together with a full state reset (timers restart)."""
        with self._lock:
            self._offset = 0.0


def iso(ts: float) -> str:
    """Format like JavaScript `toISOString()`: UTC, milliseconds, `Z` suffix."""
    ms = math.floor(ts * 1000)
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def parse_iso(value: str) -> float | None:
    """Parse an ISO-8601 timestamp to Unix seconds; None when unparseable (callers treat that as invalid)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
