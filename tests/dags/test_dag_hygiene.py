"""DAG file hygiene: each file in dags/ parses fast, cleanly, and without touching the network,
a Connection or a Variable (the DAG processor re-parses them every few seconds)."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest

from .conftest import DAGS

DAG_FILES = {
    "markaestro_campaign.py": "markaestro_campaign",
    "markaestro_connect_campaign.py": "markaestro_connect_campaign",
    "markaestro_webhooks.py": "markaestro_webhooks",
}
PARSE_BUDGET_SECONDS = 1.0
_NO_LOGICAL_DATE = re.compile(r"\b(ds|ds_nodash|ts|ts_nodash|logical_date|execution_date|data_interval_\w+)\b")


class ParseTimeAccess(AssertionError):
    pass


@pytest.fixture
def forbid_io(monkeypatch):
    """Connections, Variables, HTTP and sockets all raise while the fixture is active."""
    from airflow.sdk import Variable as SdkVariable
    from airflow.sdk.bases.hook import BaseHook
    from airflow.sdk.definitions.connection import Connection

    calls: list[str] = []

    def boom(what):
        def _raise(*args, **kwargs):
            calls.append(what)
            raise ParseTimeAccess(f"{what} called while parsing a DAG file")

        return _raise

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(boom("BaseHook.get_connection")))
    monkeypatch.setattr(Connection, "get", classmethod(boom("Connection.get")))
    monkeypatch.setattr(SdkVariable, "get", staticmethod(boom("Variable.get")))
    monkeypatch.setattr(SdkVariable, "set", staticmethod(boom("Variable.set")))
    try:
        from airflow.models.variable import Variable as ModelVariable

        monkeypatch.setattr(ModelVariable, "get", classmethod(boom("models.Variable.get")))
    except ImportError:  # pragma: no cover
        pass
    monkeypatch.setattr(httpx.Client, "send", boom("httpx.Client.send"))
    monkeypatch.setattr(httpx.AsyncClient, "send", boom("httpx.AsyncClient.send"))
    monkeypatch.setattr(socket.socket, "connect", boom("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", boom("socket.create_connection"))
    return calls


@pytest.mark.parametrize("file_name", sorted(DAG_FILES))
def test_dag_file_parses_fast_without_io(file_name, forbid_io):
    from airflow.dag_processing.dagbag import DagBag

    started = time.process_time()  # CPU time: what the file costs, not how busy the machine is
    bag = DagBag(dag_folder=str(DAGS / file_name))
    elapsed = time.process_time() - started

    assert bag.import_errors == {}, bag.import_errors
    assert forbid_io == [], forbid_io
    assert list(bag.dags) == [DAG_FILES[file_name]]
    assert elapsed < PARSE_BUDGET_SECONDS, f"{file_name} took {elapsed:.3f}s to parse"

    dag = bag.dags[DAG_FILES[file_name]]
    assert dag.catchup is False and dag.max_active_runs == 1
    # Runs triggered from the UI/REST API have no logical date: no template may need one.
    for task in dag.tasks:
        for field in task.template_fields:
            value = getattr(task, field, None)
            if isinstance(value, str) and "{{" in value:
                assert not _NO_LOGICAL_DATE.search(value), (task.task_id, field, value)
        partial_kwargs = getattr(task, "partial_kwargs", {}) or {}
        for field, value in partial_kwargs.items():
            if isinstance(value, str) and "{{" in value:
                assert not _NO_LOGICAL_DATE.search(value), (task.task_id, field, value)


@pytest.mark.parametrize("statement, caught", [
    ("from airflow.sdk import Variable\nVariable.get('anything')", "Variable.get"),
    ("from airflow.sdk import BaseHook\nBaseHook.get_connection('markaestro_default')", "BaseHook.get_connection"),
    ("import httpx\nhttpx.get('http://127.0.0.1:9/')", "httpx.Client.send"),
])
def test_the_guard_catches_parse_time_io(tmp_path, forbid_io, statement, caught):
    """The check above would notice a DAG file that looks something up at parse time."""
    from airflow.dag_processing.dagbag import DagBag

    bad = tmp_path / "bad_dag.py"
    bad.write_text(statement + "\nfrom airflow.sdk import dag\n@dag(dag_id='bad')\ndef bad():\n    pass\nbad()\n")
    bag = DagBag(dag_folder=str(bad))
    assert bag.import_errors and caught in forbid_io
