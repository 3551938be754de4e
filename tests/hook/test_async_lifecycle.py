"""Async clients are closed on every path, cancellation included: no leaked client, pool or socket."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from airflow_provider_markaestro.hook import MarkaestroHook

from .conftest import inject, wait_for_requests


def _track(transport) -> list:
    created = []
    original = transport._new_client

    def new_client():
        client = original()
        created.append(client)
        return client

    transport._new_client = new_client
    return created


def _no_resource_warnings(scenario) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        asyncio.run(scenario())
        gc.collect()


def test_cancelling_a_request_in_flight_closes_its_client(markaestro):
    inject(markaestro, method="GET", path_regex="/products$", action="delay", delay_seconds=2)

    async def scenario():
        hook = MarkaestroHook()
        transport = await hook.atransport()
        created = _track(transport)
        task = asyncio.create_task(hook.alist_products())
        for _ in range(100):
            await asyncio.sleep(0.02)
            if created:
                break
        await asyncio.sleep(0.2)  # the request is now parked in the emulator's delay
        assert transport.open_clients == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert transport.open_clients == 0
        assert len(created) == 1 and created[0].is_closed
        await hook.aclose()

    _no_resource_warnings(scenario)
    # the emulator still finishes the cancelled request: let it, so it cannot land in the next test
    assert len(wait_for_requests(markaestro, "GET", "/api/public/v1/products", 1)) == 1


def test_cancelling_with_a_long_lived_client_frees_the_connection_and_aclose_closes_it(markaestro):
    inject(markaestro, method="GET", path_regex="/products$", action="delay", delay_seconds=2)

    async def scenario():
        hook = MarkaestroHook()
        transport = await hook.atransport()
        await transport.open()
        client = transport._client
        task = asyncio.create_task(hook.alist_products())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pool = client._transport._pool
        assert pool.connections == []  # the interrupted connection was dropped, not returned half-read
        # the same client still works after the cancellation
        assert await hook.alist_products()
        await hook.aclose()
        assert client.is_closed and transport.open_clients == 0

    _no_resource_warnings(scenario)
    assert len(wait_for_requests(markaestro, "GET", "/api/public/v1/products", 2)) == 2  # cancelled + the later one


def test_errors_close_the_client_too(markaestro):
    async def scenario():
        hook = MarkaestroHook()
        transport = await hook.atransport()
        created = _track(transport)
        with pytest.raises(Exception):
            await hook.aget_post("missing-post-id-000000")
        assert created and all(c.is_closed for c in created) and transport.open_clients == 0

    _no_resource_warnings(scenario)
