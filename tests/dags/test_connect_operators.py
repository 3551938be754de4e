"""The Connect operators against the emulator, called the way the Task Runner calls them
(``execute(context)`` with a task state store shared by the tries of one task instance)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_markaestro.connect_operators import (
    ConnectCreatePostOperator,
    ConnectUploadImageOperator,
    account_channel,
    normalize_scheduled_at,
)
from airflow_provider_markaestro.exceptions import MarkaestroError

from .conftest import SAMPLE, emulator_posts

NORTHWIND = "XcBRSCV9iDiWG7UeyMHq"
ORBIT = "M7ZBfd3DdKqiXM9h3TZi"
NW_THREADS = f"{NORTHWIND}#threads:threads:25123456789012345"
NW_LINKEDIN = f"{NORTHWIND}#linkedin:linkedin:2414183"
NW_INSTAGRAM = f"{NORTHWIND}#instagram:instagram:17841400000000000"
ORBIT_FACEBOOK = f"{ORBIT}#meta:facebook:207711938844551"
WHEN = "2031-05-04T09:30:00Z"


class FakeTI:
    dag_id, run_id, task_id, map_index = "dag", "run", "task", -1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class FakeStateStore(dict):
    def set(self, key: str, value: Any) -> None:
        assert value is not None
        self[key] = value


def context(store: FakeStateStore) -> dict[str, Any]:
    return {"ti": FakeTI(), "task_state_store": store}


def requests_to(emulator, path_part: str, method: str = "POST") -> list[dict]:
    log = httpx.get(f"{emulator.url}/_emulator/requests").json()["requests"]
    return [r for r in log if r["method"] == method and path_part in r["path"]]


def create_op(**kwargs) -> ConnectCreatePostOperator:
    kwargs.setdefault("task_id", "create")
    return ConnectCreatePostOperator(**kwargs)


# --- no HTTP at all -------------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    ("2031-05-04T09:30:00Z", "2031-05-04T09:30:00.000Z"),
    ("2031-05-04 11:30:00.123456+02:00", "2031-05-04T09:30:00.123Z"),  # rendered dag_run.run_after
    ("2031-05-04T09:30:00", "2031-05-04T09:30:00.000Z"),  # naive = UTC
    ("", None),
    (None, None),
])
def test_normalize_scheduled_at(given, expected):
    assert normalize_scheduled_at(given) == expected


def test_account_channel_is_the_second_segment_of_the_destination():
    assert account_channel(NW_INSTAGRAM) == "instagram"
    assert account_channel(ORBIT_FACEBOOK) == "facebook"
    assert account_channel("instagram") is None


def test_create_checks_every_account_before_any_request(markaestro):
    op = create_op(caption="x" * 501, media_ids=[], social_accounts=[NW_THREADS, NW_INSTAGRAM, NW_LINKEDIN],
                   scheduled_at=WHEN)
    with pytest.raises(AirflowFailException) as info:
        op.execute(context(FakeStateStore()))
    text = str(info.value)
    assert NW_THREADS in text and "501" in text and "500" in text  # threads caption limit
    assert NW_INSTAGRAM in text and "media" in text  # instagram needs media
    assert NW_LINKEDIN not in text  # 501 characters are fine on LinkedIn
    assert requests_to(markaestro, "/", method="GET") == [] and requests_to(markaestro, "/") == []


@pytest.mark.parametrize("kwargs, message", [
    ({"scheduled_at": "next tuesday"}, "not an ISO-8601"),
    ({"scheduled_at": WHEN, "is_draft": True}, "contradicts"),
    ({"social_accounts": ["not-a-channel"]}, "unknown channel"),
])
def test_create_refuses_bad_arguments_before_any_request(markaestro, kwargs, message):
    op = create_op(caption="hello", **kwargs)
    with pytest.raises(AirflowFailException, match=message):
        op.execute(context(FakeStateStore()))
    assert requests_to(markaestro, "/") == []


def test_upload_refuses_video_before_any_request(markaestro):
    op = ConnectUploadImageOperator(task_id="up", file_path=str(SAMPLE / "launch-reel.mp4"))
    with pytest.raises(AirflowFailException, match="images only"):
        op.execute(context(FakeStateStore()))
    assert requests_to(markaestro, "/") == []


# --- against the emulator's Connect routes ----------------------------------------------------


def test_upload_then_schedule_and_a_retry_reattaches(markaestro):
    store = FakeStateStore()
    coffee = (SAMPLE / "coffee.jpg").as_uri()
    media_id = ConnectUploadImageOperator(task_id="up", file_path=coffee).execute(context(store))
    assert media_id.startswith("ast_")
    again = ConnectUploadImageOperator(task_id="up", file_path=coffee).execute(context(store))
    assert again == media_id and len(requests_to(markaestro, "/media/create-upload-url")) == 1

    result = create_op(caption="Cold brew ☕", media_ids=[media_id], social_accounts=["threads", "linkedin"],
                       scheduled_at=WHEN).execute(context(store))
    assert result["scheduled_at"] == "2031-05-04T09:30:00.000Z" and result["errors"] == []
    assert [c["account"] for c in result["created"]] == [NW_THREADS, NW_LINKEDIN]
    assert {c["status"] for c in result["created"]} == {"scheduled"}
    posts = {p["id"]: p for p in emulator_posts(markaestro)}
    assert set(posts) == set(result["post_ids"])
    for post in posts.values():
        assert post["status"] == "scheduled" and post["scheduledAt"] == "2031-05-04T09:30:00.000Z"
        assert post["caption"] == "Cold brew ☕" and post["mediaAssetIds"] == [media_id]

    # a retry of the same task instance creates nothing
    retried = create_op(caption="Cold brew ☕", media_ids=[media_id], social_accounts=["threads", "linkedin"],
                        scheduled_at=WHEN).execute(context(store))
    assert retried["post_ids"] == result["post_ids"]
    assert len(requests_to(markaestro, "/api/connect/v1/posts")) == 1
    assert len(emulator_posts(markaestro)) == 2


def test_lost_answer_after_commit_is_found_on_retry_not_posted_twice(markaestro):
    httpx.post(f"{markaestro.url}/_emulator/faults", json={
        "method": "POST", "path_regex": "^/api/connect/v1/posts$", "action": "drop_after_commit"}).raise_for_status()
    store = FakeStateStore()
    kwargs = dict(caption="Launch day is here.", social_accounts=[NW_THREADS, NW_LINKEDIN], scheduled_at=WHEN)
    with pytest.raises(MarkaestroError):  # the connection drops after the server committed
        create_op(**kwargs).execute(context(store))
    committed = emulator_posts(markaestro)
    assert len(committed) == 2

    result = create_op(**kwargs).execute(context(store))  # the Airflow retry
    assert sorted(result["post_ids"]) == sorted(p["id"] for p in committed)
    assert {c["account"] for c in result["created"]} == {NW_THREADS, NW_LINKEDIN}
    assert len(emulator_posts(markaestro)) == 2
    assert len(requests_to(markaestro, "/api/connect/v1/posts")) == 1  # never resent


def test_partial_failure_fails_then_allow_partial_keeps_the_created_post(markaestro):
    store = FakeStateStore()
    kwargs = dict(caption="Hello from two brands", social_accounts=[NW_THREADS, ORBIT_FACEBOOK], scheduled_at=WHEN)
    ctx = context(store)
    with pytest.raises(AirflowFailException, match="VALIDATION_PRODUCT_SCOPE_MISMATCH"):
        create_op(**kwargs).execute(ctx)
    pushed = ctx["ti"].xcoms["return_value"]
    assert pushed["errors"] == [{"account": ORBIT_FACEBOOK, "error": "VALIDATION_PRODUCT_SCOPE_MISMATCH"}]
    assert [c["account"] for c in pushed["created"]] == [NW_THREADS]

    result = create_op(allow_partial=True, **kwargs).execute(context(store))
    assert result["post_ids"] == pushed["post_ids"]  # reattached; only the failed account was resent
    assert result["errors"] == pushed["errors"]
    assert len(emulator_posts(markaestro)) == 1
