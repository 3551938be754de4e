"""Test environment: a throwaway AIRFLOW_HOME on SQLite, set before anything imports Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    home = Path(os.environ.get("MARKAESTRO_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="mk-airflow-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "mH3c1uX6V2o7mXb3uQp0jz2oA9Zl4N3b1kq0yGmWw8E=")
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "markaestro-provider-tests-" + "x" * 64)
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    if not (home / "airflow.db").exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=os.environ.copy(),
        )


# --- shared fixtures: a real emulator over loopback HTTP and Airflow connections pointing at it ---

import json  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def emulator() -> Iterator:
    """The demo-seeded emulator, one per test session (reset per test by ``markaestro``)."""
    from airflow_provider_markaestro.emulator import EmulatorServer

    with EmulatorServer() as server:
        yield server


@pytest.fixture(scope="session")
def demo_seed():
    from airflow_provider_markaestro.emulator import load_seed

    return load_seed()


@pytest.fixture
def set_conn(monkeypatch):
    """Define an Airflow connection (``AIRFLOW_CONN_<ID>`` JSON) for this test only."""

    def _set(conn_id: str, host: str, key: str, **extra) -> None:
        conn = {"conn_type": "markaestro", "host": host, "password": key, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    return _set


@pytest.fixture
def markaestro(emulator, demo_seed, set_conn):
    """A clean emulator plus ``markaestro_default`` (Northwind) and ``markaestro_orbit`` connections."""
    import httpx

    httpx.post(f"{emulator.url}/_emulator/reset").raise_for_status()
    set_conn("markaestro_default", emulator.url, demo_seed.api_keys[0].key)
    set_conn("markaestro_orbit", emulator.url, demo_seed.api_keys[1].key)
    return emulator
