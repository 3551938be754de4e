"""Fixtures: one demo emulator for the session (reset per test) and a factory for custom seeds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import KEY_NORTHWIND, KEY_ORBIT, KEY_READONLY, Api, Receiver


@pytest.fixture(scope="session")
def demo_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def server(demo_server: EmulatorServer) -> EmulatorServer:
    httpx.post(f"{demo_server.url}/_emulator/reset").raise_for_status()
    return demo_server


@pytest.fixture
def clients(server: EmulatorServer) -> Iterator[Callable[[str | None], Api]]:
    made: list[Api] = []

    def make(key: str | None) -> Api:
        made.append(Api(server, key))
        return made[-1]

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(clients: Callable[[str | None], Api]) -> Api:
    """Northwind Coffee, all scopes."""
    return clients(KEY_NORTHWIND)


@pytest.fixture
def orbit(clients: Callable[[str | None], Api]) -> Api:
    """Orbit Outfitters, all scopes."""
    return clients(KEY_ORBIT)


@pytest.fixture
def readonly(clients: Callable[[str | None], Api]) -> Api:
    """Northwind Coffee, posts.read only."""
    return clients(KEY_READONLY)


@pytest.fixture
def start_server() -> Iterator[Callable[..., EmulatorServer]]:
    """Start extra emulators with custom seeds; all are stopped at teardown."""
    started: list[EmulatorServer] = []

    def start(seed: dict[str, Any], **kw: Any) -> EmulatorServer:
        started.append(EmulatorServer(seed, **kw).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    yield rx
    rx.close()
