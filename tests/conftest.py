"""Test environment: a throwaway AIRFLOW_HOME on SQLite, set before anything imports Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _airflow_test_home() -> Path:
    """Point Airflow at a throwaway home. Runs when this file is imported: pytest imports it before
    any sub-folder's conftest (some import Airflow, which reads its config once), and before
    ``pytest_configure`` when a run names test files in a sub-folder."""
    home = Path(os.environ.get("MARKAESTRO_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="mk-airflow-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "mH3c1uX6V2o7mXb3uQp0jz2oA9Zl4N3b1kq0yGmWw8E=")
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "markaestro-provider-tests-" + "x" * 64)
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    os.environ["AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY"] = "1"  # example DAGs retry: not 5 minutes apart here
    return home


AIRFLOW_TEST_HOME = _airflow_test_home()


def pytest_configure(config):
    if not (AIRFLOW_TEST_HOME / "airflow.db").exists():
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


@pytest.fixture
def run_dag():
    """Serialize an inline DAG into the dags-folder bundle and run it with ``dag.test()``.

    ``dag.test()`` needs a serialized DagVersion; DAGs built inside a test are not in the dags
    folder, so they are written to the DB the way the DAG processor would (Airflow 3.3 internals).
    """

    def _run(dag, **kwargs):
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.dag_processing.collection import update_dag_parsing_results_in_db
        from airflow.serialization.serialized_objects import LazyDeserializedDAG
        from airflow.utils.session import create_session

        DagBundlesManager().sync_bundles_to_db()
        with create_session() as session:
            update_dag_parsing_results_in_db(
                "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
            )
        kwargs.setdefault("logical_date", None)
        return dag.test(**kwargs)

    return _run


def task_states(dag_run) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in dag_run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def demo_seed_dict() -> dict:
    """A fresh, editable copy of the packaged demo seed."""
    import yaml

    from airflow_provider_markaestro.emulator import DEMO_SEED_PATH

    return yaml.safe_load(DEMO_SEED_PATH.read_text())


def xcom_values(dag_run, key: str) -> dict[tuple[str, int], object]:
    """``{(task_id, map_index): value}`` of one XCom key in a finished DAG run (read from the DB)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, key=key).all()
        return {(r.task_id, r.map_index): XComModel.deserialize_value(r) for r in rows}


@pytest.fixture
def seeded_emulator(demo_seed):
    """Start an extra emulator from the demo seed changed by ``edit(seed_dict)``; stopped after the test."""
    from airflow_provider_markaestro.emulator import EmulatorServer

    servers = []

    def _start(edit=None, **kwargs):
        seed = demo_seed_dict()
        if edit:
            edit(seed)
        server = EmulatorServer(seed=seed, **kwargs).start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()
