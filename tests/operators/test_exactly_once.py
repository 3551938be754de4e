"""Exactly-once publishing through real Airflow runs: retries, lost answers and 409s never duplicate a post."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_markaestro.operators import CreatePostOperator, PublishPostOperator
from airflow_provider_markaestro.sensors import JobRunSensor

from ..hook.conftest import wait_for_requests


def _posts(emulator) -> list[dict]:
    return httpx.get(f"{emulator.url}/_emulator/posts").json()["posts"]


def _fault(emulator, **fault) -> None:
    httpx.post(f"{emulator.url}/_emulator/faults", json=fault).raise_for_status()


def _dag(name: str) -> DAG:
    return DAG(
        dag_id=f"{name}_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
    )


def _chain(dag: DAG, caption: str):
    with dag:
        create = CreatePostOperator(task_id="create", channel="linkedin", caption=caption)
        publish = PublishPostOperator(task_id="publish", post_id=create.output)
        JobRunSensor(task_id="wait", job_run_id=publish.output, post_id=create.output, deferrable=True,
                     poke_interval=1)
    return dag


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "error_after_commit", "status": 504},
        {"action": "error_after_commit", "status": 502},
        {"action": "drop_after_commit"},
    ],
    ids=["504", "502", "connection-reset"],
)
def test_answer_lost_after_the_server_created_the_post_gives_one_post(markaestro, set_conn, demo_seed, run_dag,
                                                                       fault):
    # One transport attempt: the lost answer fails the task and Airflow's own retry sends it again.
    set_conn("markaestro_default", markaestro.url, demo_seed.api_keys[0].key, max_retries=1)
    _fault(markaestro, method="POST", path_regex=r"^/api/public/v1/posts$", count=1, **fault)
    dr = run_dag(_chain(_dag("lost_answer"), "One post, whatever the network does."))
    assert dr.state == "success"
    create = next(ti for ti in dr.get_task_instances() if ti.task_id == "create")
    assert create.try_number == 2  # the first attempt really failed
    posts = _posts(markaestro)
    assert len(posts) == 1 and posts[0]["status"] == "published"


def test_read_timeout_after_commit_is_retried_with_the_same_key(markaestro, set_conn, demo_seed, run_dag):
    set_conn("markaestro_default", markaestro.url, demo_seed.api_keys[0].key, timeout=0.5)
    _fault(markaestro, method="POST", path_regex=r"^/api/public/v1/posts$", action="delay", delay_seconds=1.5,
           count=1)
    dr = run_dag(_chain(_dag("timeout"), "Slow network, single post."))
    assert dr.state == "success"
    # the timed-out POST finishes on the server too (a replay of the same key), never a second post
    assert len(wait_for_requests(markaestro, "POST", "/api/public/v1/posts", 2)) == 2
    assert len(_posts(markaestro)) == 1


def test_publish_answer_lost_reattaches_to_the_same_run(markaestro, set_conn, demo_seed, run_dag):
    set_conn("markaestro_default", markaestro.url, demo_seed.api_keys[0].key, max_retries=1)
    _fault(markaestro, method="POST", path_regex=r"^/api/public/v1/posts/[^/]+/publish$",
           action="error_after_commit", status=504, count=1)
    dr = run_dag(_chain(_dag("publish_lost"), "Publish once."))
    assert dr.state == "success"
    runs = httpx.get(f"{markaestro.url}/_emulator/job-runs").json()["runs"]
    assert len(runs) == 1 and len(_posts(markaestro)) == 1


def test_publish_answered_409_reattaches_to_the_post_instead_of_failing(markaestro, run_dag):
    from airflow_provider_markaestro import api
    from airflow_provider_markaestro.hook import MarkaestroHook

    with MarkaestroHook() as hook:  # someone (an earlier run, a colleague) already published it
        post = hook.create_post(api.post_body("linkedin", "Published elsewhere first."))
        hook.publish_post(post.id)
    httpx.post(f"{markaestro.url}/_emulator/clock/advance", json={"seconds": 5}).raise_for_status()
    with _dag("conflict") as dag:
        PublishPostOperator(task_id="publish", post_id=post.id, wait_for_completion=True, deferrable=True,
                            poll_interval=0.2)
    dr = run_dag(dag)
    assert dr.state == "success"
    runs = httpx.get(f"{markaestro.url}/_emulator/job-runs").json()["runs"]
    assert len(runs) == 1 and len(_posts(markaestro)) == 1
    from tests.conftest import xcom_values

    (result,) = xcom_values(dr, "publish_result").values()
    assert result["status"] == "published" and result["post_id"] == post.id


def test_publish_racing_the_worker_reattaches_in_the_same_try(seeded_emulator, set_conn, demo_seed, run_dag):
    """§4.4 race row: the post moves on between the route's two reads and the publish gets a
    400 VALIDATION_POST_ALREADY_PUBLISHING; the task follows the post instead of failing."""
    import threading
    import time

    from airflow_provider_markaestro import api
    from airflow_provider_markaestro.hook import MarkaestroHook

    def slow_runs_and_a_race_window(seed: dict) -> None:
        seed["clock"].update(publish_race_window_seconds=2.0, run_queued_seconds=30, run_running_seconds=30)

    server = seeded_emulator(slow_runs_and_a_race_window)
    set_conn("markaestro_default", server.url, demo_seed.api_keys[0].key)
    with MarkaestroHook() as hook:  # a colleague's publish, still queued when our task starts
        post = hook.create_post(api.post_body("linkedin", "Two publishers, one post."))
        hook.publish_post(post.id)

    def worker_finishes_it_mid_request() -> None:
        deadline = time.monotonic() + 120
        while httpx.get(f"{server.url}/_emulator/health").json()["publishesInRaceWindow"] == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        httpx.post(f"{server.url}/_emulator/clock/advance", json={"seconds": 120}).raise_for_status()

    racer = threading.Thread(target=worker_finishes_it_mid_request, daemon=True)
    racer.start()
    dag = _dag("race")
    dag.default_args["retries"] = 0  # the race must not cost a try
    with dag:
        PublishPostOperator(task_id="publish", post_id=post.id, wait_for_completion=True, deferrable=False,
                            poll_interval=0.2)
    dr = run_dag(dag)
    racer.join(timeout=5)
    assert dr.state == "success"
    raced = [r for r in httpx.get(f"{server.url}/_emulator/requests").json()["requests"]
             if r["path"].endswith("/publish")]
    assert [r["status"] for r in raced] == [202, 400]  # the race really happened
    assert len(httpx.get(f"{server.url}/_emulator/job-runs").json()["runs"]) == 1
    from tests.conftest import xcom_values

    (result,) = xcom_values(dr, "publish_result").values()
    assert result["status"] == "published" and result["post_id"] == post.id
