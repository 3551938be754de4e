"""Fixtures: one demo emulator for the session (reset per test) and a factory for custom seeds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import KEY_NORTHWIND, KEY_ORBIT, KEY_READONLY, RAW, Api, ClientCache, Receiver, slow_seed_dict


@pytest.fixture(scope="session", autouse=True)
def _close_raw_client() -> Iterator[None]:
    yield
    RAW.close()


@pytest.fixture(scope="session")
def demo_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture(scope="session")
def _demo_clients(demo_server: EmulatorServer) -> Iterator[ClientCache]:
    cache = ClientCache(demo_server)
    yield cache
    cache.close()


@pytest.fixture
def server(demo_server: EmulatorServer, _demo_clients: ClientCache) -> EmulatorServer:
    _demo_clients.reset()
    return demo_server


@pytest.fixture
def clients(server: EmulatorServer, _demo_clients: ClientCache) -> Callable[[str | None], Api]:
    return _demo_clients


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


@pytest.fixture(scope="session")
def slow_server() -> Iterator[EmulatorServer]:
    """The demo seed with 10 s run phases (support.SLOW_CLOCK), for tests that assert an intermediate
    lifecycle state: real time passing between requests cannot move a run out of the observed phase."""
    with EmulatorServer(slow_seed_dict()) as server:
        yield server


@pytest.fixture(scope="session")
def _slow_clients(slow_server: EmulatorServer) -> Iterator[ClientCache]:
    cache = ClientCache(slow_server)
    yield cache
    cache.close()


@pytest.fixture
def slow_clients(_slow_clients: ClientCache) -> Callable[[str | None], Api]:
    """Clients of the slow server (reset per test), cached per key like `clients`."""
    _slow_clients.reset()
    return _slow_clients


@pytest.fixture
def slow_api(slow_clients: Callable[[str | None], Api]) -> Api:
    """Northwind Coffee on the slow server."""
    return slow_clients(KEY_NORTHWIND)


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
