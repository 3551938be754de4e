"""The Airflow components for real on loopback: api-server, scheduler (LocalExecutor), dag-processor
and triggerer, at DEBUG log level, against the emulator. Runs are triggered over the REST API with
``logical_date: null`` exactly as the UI does."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import demo_seed_dict

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
LINKEDIN_PUBLISH_SECONDS = 3600  # emulator time; far beyond any wall-clock wait in this module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, root: Path, env: dict[str, str], api: str) -> None:
        self.root, self.env, self.api = root, env, api
        self.procs: list[subprocess.Popen] = []
        self.http = httpx.Client(timeout=60)  # the api-server shares two cores with workers

    def start(self) -> None:
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for component in COMPONENTS:
            log = (self.root / f"{component}.log").open("w")
            self.procs.append(subprocess.Popen([sys.executable, "-m", "airflow", component], env=self.env,
                                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            log.close()
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                health = self.http.get(f"{self.api}/api/v2/monitor/health", timeout=5).json()
                if all(health.get(c, {}).get("status") == "healthy"
                       for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"the Airflow stack did not become healthy; logs in {self.root}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def wait_for_dag(self, dag_id: str) -> None:
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.http.get(f"{self.api}/api/v2/dags/{dag_id}").status_code == 200:
                return
            time.sleep(1)
        raise AssertionError(f"DAG {dag_id} never showed up")

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        self.wait_for_dag(dag_id)
        response = self.http.post(f"{self.api}/api/v2/dags/{dag_id}/dagRuns",
                              json={"logical_date": None, "conf": conf or {}})
        assert response.status_code == 200, response.text
        return response.json()["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.http.get(f"{self.api}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}").json()["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        raise AssertionError(f"{dag_id} {run_id} did not finish")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        url = f"{self.api}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances"
        tis = self.http.get(url, params={"limit": 100}).json()["task_instances"]
        mapped = []
        for task_id in {ti["task_id"] for ti in tis if ti["map_index"] >= 0}:
            listed = self.http.get(f"{url}/{task_id}/listMapped", params={"limit": 100}).json()["task_instances"]
            mapped += listed
        return [ti for ti in tis if ti["map_index"] < 0] + mapped

    def links(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
        url = f"{self.api}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/links"
        return self.http.get(url, params={"map_index": map_index}).json()["extra_links"]


@pytest.fixture(scope="module")
def live(tmp_path_factory, demo_seed):
    from airflow_provider_markaestro.emulator import EmulatorServer

    root = tmp_path_factory.mktemp("live")
    dags = root / "dags"
    shutil.copytree(ROOT / "dags", dags, ignore=shutil.ignore_patterns("_markaestro", "__pycache__"))
    shutil.copy(ROOT / "tests" / "live" / "dags" / "markaestro_live_checks.py", dags)
    # Only REST-triggered runs here: the copy drops the @daily schedule (which would otherwise start
    # a scheduled run the moment the DAG appears).
    campaign_dag = dags / "markaestro_campaign.py"
    text = campaign_dag.read_text()
    assert 'schedule="@daily"' in text
    # The trigger's polls back off 0.5 s, 1 s, 2 s … up to poke_interval: 5 s instead of 30 s bounds
    # how long the run takes to notice the clock jump below.
    assert "poke_interval=30" in text
    campaign_dag.write_text(text.replace('schedule="@daily"', "schedule=None")
                            .replace("poke_interval=30", "poke_interval=5"))
    bucket = root / "bucket" / "spring_launch"
    shutil.copytree(ROOT / "dags" / "campaigns" / "spring_launch", bucket,
                    ignore=shutil.ignore_patterns("_markaestro"))
    port = _free_port()
    seed = demo_seed_dict()
    seed["clock"].update(run_queued_seconds=2, run_running_seconds=2)
    # Mapped sensors start only once every publish is done; LinkedIn's publish takes an emulator hour,
    # so its wait is still unsettled at its first check however loaded the machine is, and defers.
    # The run fixtures below then move the emulator clock past it.
    linkedin = next(d for d in seed["products"][0]["destinations"] if d["provider"] == "linkedin")
    linkedin["behaviour"] = {"publish_seconds": LINKEDIN_PUBLISH_SECONDS}
    emulator = EmulatorServer(seed=seed).start()
    home = root / "home"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW_CONN_MARKAESTRO_DEFAULT": json.dumps(
            {"conn_type": "markaestro", "host": emulator.url, "password": demo_seed.api_keys[0].key}
        ),
        "MARKAESTRO_CAMPAIGN_URL": bucket.as_uri(),
    }
    stack = Stack(root, env, f"http://127.0.0.1:{port}")
    stack.bucket = bucket  # type: ignore[attr-defined]
    stack.emulator = emulator  # type: ignore[attr-defined]
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        stack.http.close()
        emulator.stop()


def _posts(emulator) -> list[dict]:
    return httpx.get(f"{emulator.url}/_emulator/posts").json()["posts"]


def _finish_past_the_slow_publish(live, dag_id: str, run_id: str, wait_task: str) -> tuple[dict | None, dict | None]:
    """Wait until a ``wait_task`` instance is deferred (certain: LinkedIn's publish takes an emulator
    hour) and read its links, then move the emulator clock past the publish so the run finishes on
    the trigger's next poll. Returns the deferred task instance and its links (None if never seen)."""
    deferred = links = None
    try:
        run_url, deadline = f"{live.api}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}", time.time() + 180
        while deferred is None and time.time() < deadline:
            deferred = next((ti for ti in live.task_instances(dag_id, run_id)
                             if ti["task_id"] == wait_task and ti["state"] == "deferred"), None)
            if deferred is None:
                if live.http.get(run_url).json()["state"] in ("success", "failed"):
                    break  # ended without deferring: the caller's assertions say so
                time.sleep(0.5)
        if deferred is not None:
            links = live.links(dag_id, run_id, wait_task, deferred["map_index"])
    finally:  # also when nothing was seen deferred, so the run still ends instead of waiting an hour
        httpx.post(f"{live.emulator.url}/_emulator/clock/advance",
                   json={"seconds": 2 * LINKEDIN_PUBLISH_SECONDS}).raise_for_status()
    return deferred, links


# Module-scoped runs: the secret scan reads the files both runs leave, so it requests them too.
@pytest.fixture(scope="module")
def campaign_run(live) -> dict:
    """The campaign run triggered over REST, seen with a deferred wait_for_publish, then finished."""
    run_id = live.trigger("markaestro_campaign")  # logical_date null, like the UI's Trigger button
    deferred, links = _finish_past_the_slow_publish(live, "markaestro_campaign", run_id, "wait_for_publish")
    return {"run_id": run_id, "deferred": deferred, "links_while_deferred": links,
            "state": live.wait_for_run("markaestro_campaign", run_id)}


@pytest.fixture(scope="module")
def worker_killed_run(live) -> dict:
    """A run whose first worker dies right after create; it publishes to LinkedIn too."""
    before = len(_posts(live.emulator))
    run_id = live.trigger("markaestro_worker_killed")
    _finish_past_the_slow_publish(live, "markaestro_worker_killed", run_id, "wait")
    state = live.wait_for_run("markaestro_worker_killed", run_id)
    return {"run_id": run_id, "state": state, "new_posts": _posts(live.emulator)[before:]}


def test_campaign_triggered_over_rest_defers_in_the_triggerer_and_links_show(live, campaign_run):
    run_id, deferred = campaign_run["run_id"], campaign_run["deferred"]
    assert deferred is not None, "no wait_for_publish task was ever seen deferred"
    while_deferred = campaign_run["links_while_deferred"]
    assert while_deferred["Markaestro post"].startswith(f"{live.emulator.url}/app/posts/"), while_deferred
    assert campaign_run["state"] == "success"
    tis = live.task_instances("markaestro_campaign", run_id)
    waits = [ti for ti in tis if ti["task_id"] == "wait_for_publish"]
    summary = [(ti["task_id"], ti["map_index"], ti["state"]) for ti in tis]
    assert len(waits) >= 5 and all(ti["state"] == "success" for ti in waits), summary
    ledger = json.loads((live.bucket / "_markaestro" / "ledger.json").read_text())
    assert len(ledger) == len(waits) == len(_posts(live.emulator))  # one post per (post, destination)
    created = live.links("markaestro_campaign", run_id, "create_post", 0)
    assert created["Markaestro post"].startswith(f"{live.emulator.url}/app/posts/")
    published = live.links("markaestro_campaign", run_id, "wait_for_publish", 1)
    assert published["Markaestro publish run"].startswith(f"{live.emulator.url}/app/job-runs/")
    trigger_logs = list((live.root / "home" / "logs").rglob("*.trigger.*.log"))
    assert trigger_logs, "the deferrable sensor never ran in the triggerer"


def test_worker_killed_after_create_retries_into_the_same_post(live, worker_killed_run):
    assert worker_killed_run["state"] == "success"
    tis = live.task_instances("markaestro_worker_killed", worker_killed_run["run_id"])
    create = next(ti for ti in tis if ti["task_id"] == "create")
    assert create["try_number"] == 2  # the first worker really died
    new = worker_killed_run["new_posts"]
    assert len(new) == 1 and new[0]["status"] == "published"


def test_no_secret_in_any_log_or_database_row_at_debug_level(live, demo_seed, campaign_run, worker_killed_run):
    # scans what both runs wrote; the fixtures make sure they ran (and finished) even when run alone
    secret = demo_seed.api_keys[0].key.rsplit(".", 1)[1]
    leaks = []
    total = 0
    for path in live.root.rglob("*"):
        if path.is_file() and path.suffix not in (".jpg", ".png", ".mp4"):
            data = path.read_bytes()
            total += len(data)
            if secret.encode() in data:
                leaks.append(str(path.relative_to(live.root)))
    assert total > 1_000_000  # DEBUG logs, the metadata DB (XComs, rendered fields, trigger kwargs)
    assert leaks == []
