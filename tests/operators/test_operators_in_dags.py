"""Operators and the sensor in real ``dag.test()`` runs: end states, failures, soft_fail, links."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_markaestro.operators import CreatePostOperator, PublishPostOperator, UploadMediaOperator
from airflow_provider_markaestro.sensors import JobRunSensor
from tests.conftest import task_states, xcom_values

THREADS_FAILURE = "Threads API error: the account is restricted"


def _dag(name: str, retries: int = 0) -> DAG:
    return DAG(dag_id=f"{name}_{uuid.uuid4().hex[:8]}", schedule=None,
               start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
               default_args={"retries": retries, "retry_delay": timedelta(seconds=0)})


def _requests(server) -> list[dict]:
    return httpx.get(f"{server.url}/_emulator/requests").json()["requests"]


def _failing_threads(seed: dict) -> None:
    for dest in seed["products"][0]["destinations"]:
        if dest["provider"] == "threads":
            dest["behaviour"] = {"fail_reason": THREADS_FAILURE}
    seed["clock"]["run_queued_seconds"] = 0.05
    seed["clock"]["run_running_seconds"] = 0.05


@pytest.fixture
def behaviours(seeded_emulator, set_conn, demo_seed):
    """An emulator whose Northwind Threads destination rejects every publish."""
    server = seeded_emulator(_failing_threads)
    set_conn("markaestro_default", server.url, demo_seed.api_keys[0].key)
    return server


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize(
    ("channel", "media", "expected_state", "expected_status"),
    [
        ("linkedin", False, "success", "published"),
        ("tiktok", True, "success", "platform_action_required"),
        ("threads", False, "failed", "failed"),
    ],
)
def test_poke_and_deferrable_reach_the_same_end_state(behaviours, run_dag, deferrable, channel, media,
                                                       expected_state, expected_status, tmp_path):
    from pathlib import Path

    reel = Path(__file__).resolve().parents[2] / "dags" / "campaigns" / "spring_launch" / "launch-reel.mp4"
    with _dag(f"endstate_{channel}") as dag:
        ids = []
        if media:
            ids = [UploadMediaOperator(task_id="upload", file_path=str(reel)).output]
        create = CreatePostOperator(task_id="create", channel=channel, caption=f"{channel} end state",
                                    media_asset_ids=ids, delivery_mode="direct_publish")
        publish = PublishPostOperator(task_id="publish", post_id=create.output)
        JobRunSensor(task_id="wait", job_run_id=publish.output, post_id=create.output, deferrable=deferrable,
                     poke_interval=0.2, timeout=60)
    dr = run_dag(dag)
    assert task_states(dr)["wait"] == [expected_state]
    (result,) = xcom_values(dr, "publish_result").values()
    assert result["status"] == expected_status
    if expected_status == "failed":
        assert result["error"] == THREADS_FAILURE and result["destination_id"].startswith("threads:threads:")
        assert "publish" in result["message"] and THREADS_FAILURE in result["message"]
    links = xcom_values(dr, "_link_MarkaestroPostLink")
    assert links[("wait", -1)] == f"{behaviours.url}/app/posts/{result['post_id']}"
    assert httpx.get(links[("wait", -1)]).status_code == 200


def test_timeout_skips_only_with_soft_fail(seeded_emulator, set_conn, demo_seed, run_dag):
    server = seeded_emulator(lambda seed: seed["clock"].update(run_queued_seconds=120))
    set_conn("markaestro_default", server.url, demo_seed.api_keys[0].key)
    with _dag("softfail") as dag:
        create = CreatePostOperator(task_id="create", channel="linkedin", caption="never settles in time")
        publish = PublishPostOperator(task_id="publish", post_id=create.output)
        for deferrable in (False, True):
            for soft in (False, True):
                JobRunSensor(task_id=f"wait_{'def' if deferrable else 'poke'}_{'soft' if soft else 'hard'}",
                             job_run_id=publish.output, deferrable=deferrable, soft_fail=soft,
                             poke_interval=0.2, timeout=1, cancel_on_kill=False)
    states = task_states(run_dag(dag))
    assert states["wait_poke_soft"] == ["skipped"] and states["wait_def_soft"] == ["skipped"]
    assert states["wait_poke_hard"] == ["failed"] and states["wait_def_hard"] == ["failed"]


def test_auth_error_fails_even_with_soft_fail(markaestro, set_conn, demo_seed, run_dag):
    set_conn("markaestro_revoked", markaestro.url, demo_seed.api_keys[0].key[:-6] + "ZZZZZZ")
    with _dag("autherror") as dag:
        for deferrable in (False, True):
            JobRunSensor(task_id=f"wait_{deferrable}", job_run_id="A" * 20, markaestro_conn_id="markaestro_revoked",
                         deferrable=deferrable, soft_fail=True, poke_interval=0.2, timeout=30)
    states = task_states(run_dag(dag))
    assert states == {"wait_False": ["failed"], "wait_True": ["failed"]}


def test_content_rejection_fails_at_once_without_spending_retries(markaestro, run_dag):
    before = len(_requests(markaestro))
    with _dag("rejected", retries=3) as dag:
        # The client cannot know the product's destinations: the server's 400 is a business rule,
        # not a transient error, so the task fails on its first try.
        CreatePostOperator(task_id="create", channel="linkedin", caption="Hello",
                           destination_id="linkedin:linkedin:999999")
    dr = run_dag(dag)
    (ti,) = dr.get_task_instances()
    assert str(ti.state) == "failed" and ti.try_number == 1
    sent = [(r["method"], r["path"], r["status"]) for r in _requests(markaestro)[before:]
            if r["path"].startswith("/api/")]
    assert sent == [("POST", "/api/public/v1/posts", 400)]  # it reached the server, once


def test_client_side_validation_fails_before_any_http_call(markaestro, run_dag):
    before = len(_requests(markaestro))
    with _dag("toolong", retries=2) as dag:
        CreatePostOperator(task_id="create", channel="threads", caption="🚀" * 251,
                           destination_id="threads:threads:25123456789012345")
    dr = run_dag(dag)
    (ti,) = dr.get_task_instances()
    assert str(ti.state) == "failed" and ti.try_number == 1
    assert [r for r in _requests(markaestro)[before:] if r["path"].startswith("/api/")] == []


def test_validation_message_names_destination_field_size_and_limit():
    from airflow.sdk.exceptions import AirflowFailException

    op = CreatePostOperator(task_id="t", channel="instagram", caption="x",
                            media_asset_ids=[f"ast_{i}" for i in range(11)], media_kinds=["image"] * 11,
                            destination_id="instagram:instagram:17841400000000000")
    with pytest.raises(AirflowFailException) as exc:
        op.validate_content()
    text = str(exc.value)
    assert "instagram:instagram:17841400000000000" in text and "mediaAssetIds" in text
    assert "11" in text and "10" in text


def test_mapped_tasks_get_their_own_links(markaestro, run_dag):
    with _dag("mapped") as dag:
        created = CreatePostOperator.partial(task_id="create").expand_kwargs(
            [{"channel": "linkedin", "caption": "mapped one"}, {"channel": "threads", "caption": "mapped two"}]
        )
        PublishPostOperator.partial(task_id="publish", wait_for_completion=True, deferrable=True,
                                    poll_interval=0.2).expand(post_id=created.output)
    dr = run_dag(dag)
    assert task_states(dr) == {"create": ["success", "success"], "publish": ["success", "success"]}
    post_links = xcom_values(dr, "_link_MarkaestroPostLink")
    run_links = xcom_values(dr, "_link_MarkaestroJobRunLink")
    assert len({post_links[("create", i)] for i in (0, 1)}) == 2
    assert post_links[("publish", 0)] == post_links[("create", 0)]
    for i in (0, 1):
        assert run_links[("publish", i)].startswith(f"{markaestro.url}/app/job-runs/")
        assert httpx.get(run_links[("publish", i)]).status_code == 200
