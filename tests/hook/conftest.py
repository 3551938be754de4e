"""Fixtures for the hook tests: a hook on the shared demo emulator, a tight-limit emulator, helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from airflow_provider_markaestro.exceptions import MarkaestroAPIError
from airflow_provider_markaestro.hook import MarkaestroHook

TIGHT_WINDOW = 1.0
TIGHT_POSTS_LIMIT = 3


def requests_log(emulator) -> list[dict[str, Any]]:
    return httpx.get(f"{emulator.url}/_emulator/requests").json()["requests"]


def emulator_posts(emulator) -> list[dict[str, Any]]:
    return httpx.get(f"{emulator.url}/_emulator/posts").json()["posts"]


def inject(emulator, **fault: Any) -> None:
    httpx.post(f"{emulator.url}/_emulator/faults", json=fault).raise_for_status()


@contextlib.contextmanager
def route_pending() -> Iterator[None]:
    """Skip (not fail) while the emulator does not serve a route yet (framework 404/405, non-JSON)."""
    try:
        yield
    except MarkaestroAPIError as exc:
        if exc.error_code in ("HTTP_404", "HTTP_405"):
            pytest.skip(f"emulator route not implemented yet: {exc.method} {exc.path}")
        raise


@pytest.fixture
def hook(markaestro) -> Iterator[MarkaestroHook]:
    with MarkaestroHook() as h:
        yield h


@pytest.fixture(scope="session")
def tight_emulator():
    """Demo seed with a 1 s window and /posts limited to 3 per window (per-id routes stay generous)."""
    from airflow_provider_markaestro.emulator import EmulatorServer
    from airflow_provider_markaestro.emulator.seed import DEMO_SEED_PATH

    seed = yaml.safe_load(DEMO_SEED_PATH.read_text())
    seed.setdefault("clock", {})["rate_limit_window_seconds"] = TIGHT_WINDOW
    seed["rate_limits"] = {"routes": {"/api/public/v1/posts": TIGHT_POSTS_LIMIT}}
    with EmulatorServer(seed=seed) as server:
        yield server


@pytest.fixture
def tight(tight_emulator, demo_seed, set_conn):
    httpx.post(f"{tight_emulator.url}/_emulator/reset").raise_for_status()
    set_conn("mk_tight", tight_emulator.url, demo_seed.api_keys[0].key, rate_limit_window_seconds=TIGHT_WINDOW)
    set_conn("mk_tight_unpaced", tight_emulator.url, demo_seed.api_keys[0].key,
             rate_limit_window_seconds=TIGHT_WINDOW, pace_requests=False)
    return tight_emulator
