"""URL prefixes of the emulator's surfaces."""

from __future__ import annotations

PUBLIC_PREFIX = "/api/public/v1"
CONNECT_PREFIX = "/api/connect/v1"
ADMIN_PREFIX = "/_emulator"
