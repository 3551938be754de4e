"""Fixtures for the hook tests: a hook on the shared demo emulator, a tight-limit emulator, helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from airflow_provider_markaestro.hook import MarkaestroHook

from tests.campaign.campaign_testlib import SAMPLE_DIR

#: A real JPEG the upload tests send.
SAMPLE_IMAGE = SAMPLE_DIR / "coffee.jpg"

TIGHT_WINDOW = 1.0
TIGHT_POSTS_LIMIT = 3


def requests_log(emulator) -> list[dict[str, Any]]:
    return httpx.get(f"{emulator.url}/_emulator/requests").json()["requests"]


def wait_for_requests(emulator, method: str, path: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The emulator logs a request once it has finished: wait for delayed ones (an injected
    ``delay`` outlives the client's timeout), so they cannot land in the next test's state either."""
    deadline = time.monotonic() + timeout
    while True:
        seen = [r for r in requests_log(emulator) if r["method"] == method and r["path"] == path]
        if len(seen) >= count or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def emulator_posts(emulator) -> list[dict[str, Any]]:
    return httpx.get(f"{emulator.url}/_emulator/posts").json()["posts"]


def inject(emulator, **fault: Any) -> None:
    httpx.post(f"{emulator.url}/_emulator/faults", json=fault).raise_for_status()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A route test never skips: a route that stopped working must show as a failure, not a skip."""
    report = yield
    if report.skipped and item.path.name == "test_routes.py" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"route tests must not skip (a broken route is a failure): {report.longrepr}"
    return report


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
