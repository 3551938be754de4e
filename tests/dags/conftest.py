"""Fixtures for the DAG tests: the DAG files of ``dags/`` loaded the way the DAG processor does,
a moto S3 server on loopback, and helpers to read a run's XComs and task logs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
SAMPLE = DAGS / "campaigns" / "spring_launch"
S3_CONN_ID = "mk_dags_s3"
S3_BUCKET = "mk-dag-campaigns"


def load_dag(dag_id: str, file_name: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / file_name))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def task_states(dag_run) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in dag_run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def xcoms(dag_id: str, run_id: str | None = None) -> list[dict]:
    """Every XCom row of a DAG (optionally one run), value deserialized."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(XComModel).where(XComModel.dag_id == dag_id)
        if run_id is not None:
            query = query.where(XComModel.run_id == run_id)
        rows = session.scalars(query).all()
        return [{"task_id": r.task_id, "key": r.key, "map_index": r.map_index, "run_id": r.run_id,
                 "raw": json.dumps(r.value, default=str), "value": XComModel.deserialize_value(r)} for r in rows]


def return_value(dag_id: str, run_id: str, task_id: str):
    values = [x["value"] for x in xcoms(dag_id, run_id) if x["task_id"] == task_id and x["key"] == "return_value"]
    assert len(values) == 1, values
    return values[0]


def task_log_text(dag_id: str) -> str:
    """All task log files of a DAG under $AIRFLOW_HOME/logs."""
    base = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    files = [p for p in base.rglob("*") if p.is_file() and f"dag_id={dag_id}" in str(p)]
    return "\n".join(p.read_text(errors="replace") for p in files)


def rendered_fields(dag_id: str) -> str:
    """The rendered template fields the API server stored for a DAG's task instances (as text)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(RTIF).where(RTIF.dag_id == dag_id)).all()
        return "\n".join(json.dumps(r.rendered_fields, default=str) for r in rows)


def drain_task_logs(capfd, caplog) -> str:
    """What the tasks of a ``dag.test()`` logged so far (in-process: stdout/stderr, and the records
    pytest's logging plugin took from the stdlib ``airflow.task`` logger); both are then reset."""
    text = "".join(capfd.readouterr()) + "\n" + caplog.text
    caplog.clear()
    return text


def emulator_posts(emulator) -> list[dict]:
    return httpx.get(f"{emulator.url}/_emulator/posts").json()["posts"]


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[dict]:
    """A moto S3 server on 127.0.0.1 (free port) with one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket=S3_BUCKET)
    try:
        yield {"endpoint": endpoint, "client": client, "bucket": S3_BUCKET, "conn_id": S3_CONN_ID}
    finally:
        server.stop()


@pytest.fixture
def s3_conn(moto_s3, monkeypatch) -> dict:
    """The Airflow ``aws`` connection to the moto server (endpoint_url + region in extra)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", json.dumps({
        "conn_type": "aws", "login": "test", "password": "test",
        "extra": {"endpoint_url": moto_s3["endpoint"], "region_name": "us-east-1"},
    }))
    return moto_s3
