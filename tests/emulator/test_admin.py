"""Emulator-only routes: fault injection, request log, reset, health, CLI."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from airflow_provider_markaestro.emulator import EmulatorServer
from airflow_provider_markaestro.emulator.idempotency import LEASE_SECONDS

from .support import RAW, KEY_NORTHWIND, P, Api, assert_error

BODY = {"channel": "threads", "caption": "fault test"}


def _fault(api: Api, **spec: object) -> None:
    assert api.admin("POST", "/faults", json={"method": "POST", "path_regex": r"/posts$", **spec}).status_code == 201


def _post_count(api: Api) -> int:
    return len(api.admin("GET", "/posts").json()["posts"])


def test_error_after_commit_performs_the_operation(api: Api) -> None:
    _fault(api, action="error_after_commit", status=502, count=1)
    lost = api.create(BODY, headers={"Idempotency-Key": "k-lost"})
    assert lost.status_code == 502 and lost.json()["error"] == "INTERNAL_ERROR"
    assert _post_count(api) == 1
    retried = api.create(BODY, headers={"Idempotency-Key": "k-lost"})  # the fault is used up; replay
    assert retried.status_code == 201 and _post_count(api) == 1


def test_error_before_commit_skips_the_operation(api: Api) -> None:
    _fault(api, action="error_before_commit", status=503, count=2)
    assert [api.create(BODY).status_code for _ in range(3)] == [503, 503, 201]
    assert _post_count(api) == 1


def test_drop_after_commit_closes_without_response(api: Api, server: EmulatorServer) -> None:
    _fault(api, action="drop_after_commit")
    with pytest.raises(httpx.RemoteProtocolError):
        RAW.post(f"{server.url}{P}/posts", json=BODY, headers={"Authorization": f"Bearer {KEY_NORTHWIND}"})
    assert _post_count(api) == 1
    log = api.admin("GET", "/requests").json()["requests"]
    assert log[-1]["status"] is None


def test_delay_and_clear(api: Api) -> None:
    _fault(api, action="delay", delay_seconds=0.3, count=5)
    started = time.monotonic()
    assert api.create(BODY).status_code == 201
    assert time.monotonic() - started >= 0.3
    assert api.admin("GET", "/faults").json()["faults"][0]["remaining"] == 4
    api.admin("DELETE", "/faults")
    assert api.admin("GET", "/faults").json()["faults"] == []
    assert api.admin("POST", "/faults", json={"path_regex": "(", "action": "delay"}).status_code == 400


def test_request_log_hides_credentials_and_query_strings(api: Api) -> None:
    api.get(f"{P}/products?token=secret-token")
    api.create(BODY, headers={"Idempotency-Key": "k-log"})
    log = api.admin("GET", "/requests").json()["requests"]
    assert [(e["method"], e["path"], e["status"], e["idempotencyKey"]) for e in log] == [
        ("GET", f"{P}/products", 200, False),
        ("POST", f"{P}/posts", 201, True),
    ]
    assert KEY_NORTHWIND not in str(log) and "secret-token" not in str(log)


def test_reset_and_health(api: Api) -> None:
    api.create_ok(BODY)
    assert api.admin("POST", "/reset").json() == {"reset": True}
    assert _post_count(api) == 0 and api.admin("GET", "/requests").json()["requests"] == []
    health = api.admin("GET", "/health").json()
    assert health["status"] == "ok" and health["now"].endswith("Z")


def test_unknown_routes_are_framework_pages(server: EmulatorServer) -> None:
    missing = RAW.get(f"{server.url}{P}/nothing-here")
    assert missing.status_code == 404 and not missing.headers["content-type"].startswith("application/json")
    assert RAW.put(f"{server.url}{P}/posts").status_code == 405


def test_cli_prints_one_line_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_markaestro.emulator", "--port", "0", "--scale", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("Markaestro emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        response = RAW.get(f"{url}{P}/products", headers={"Authorization": f"Bearer {KEY_NORTHWIND}"})
        assert response.status_code == 200
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out == "" and KEY_NORTHWIND not in err


def test_error_after_reserve_keeps_the_key_reserved_without_a_success(api: Api) -> None:
    """§5 "Failed first attempt": the operation throws after the reservation, so the identical retry
    gets 409 IN_PROGRESS for the whole lease, and only then runs again."""
    _fault(api, action="error_after_reserve", status=503, count=1)
    assert api.create({"channel": "nope"}, headers={"Idempotency-Key": "k-thrown"}).status_code == 400  # before the reservation
    assert api.admin("GET", "/faults").json()["faults"][0]["remaining"] == 1  # so the fault is still pending
    thrown = api.create(BODY, headers={"Idempotency-Key": "k-thrown"})
    assert_error(thrown, 503, "INTERNAL_ERROR", rid=True, rl=False)
    assert _post_count(api) == 0 and api.admin("GET", "/faults").json()["faults"] == []
    for wait in (0, LEASE_SECONDS - 2):  # at once, and just before the 10-minute lease lapses
        api.advance(wait)
        busy = api.create(BODY, headers={"Idempotency-Key": "k-thrown"})
        assert_error(busy, 409, "IDEMPOTENCY_REQUEST_IN_PROGRESS", rid=False, rl=True, message=True)
        assert busy.headers["retry-after"] == "1"
    assert api.create({**BODY, "caption": "corrected"}, headers={"Idempotency-Key": "k-thrown"}).json()["error"] == "VALIDATION_IDEMPOTENCY_KEY_REUSED"
    api.advance(3)  # the lease lapsed: the request is executed again
    assert api.create(BODY, headers={"Idempotency-Key": "k-thrown"}).status_code == 201
    assert _post_count(api) == 1


def test_error_after_reserve_without_a_key_skips_the_operation(api: Api) -> None:
    _fault(api, action="error_after_reserve", status=500)
    assert api.create(BODY).status_code == 500 and _post_count(api) == 0
    assert api.create(BODY).status_code == 201
