"""Resuming from a trigger event: validated, fails closed, and only transient errors spend retries."""

from __future__ import annotations

import logging

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_markaestro.sensors import handle_publish_event


class _Task:
    log = logging.getLogger("test.events")


class _TI:
    def __init__(self) -> None:
        self.pushed: dict = {}

    def xcom_push(self, key, value) -> None:
        self.pushed[key] = value


def _resume(event, soft_fail=False):
    ti = _TI()
    return handle_publish_event(_Task(), {"ti": ti}, event, soft_fail=soft_fail), ti


@pytest.mark.parametrize("event", [
    None,
    "success",
    {"status": "done"},
    {"status": "success", "state": "exploded"},
    {"status": "success", "state": "failed"},
    {"status": "success"},
    {"status": "failed", "state": "published"},
])
def test_an_unknown_or_inconsistent_event_fails_closed(event):
    with pytest.raises(AirflowException, match="unexpected event") as info:
        _resume(event)
    assert not isinstance(info.value, (AirflowSkipException, AirflowSensorTimeout))


def test_success_states_are_reported_and_pushed():
    result, ti = _resume({"status": "success", "state": "platform_action_required", "message": "inbox",
                          "result": {"post_id": "p1"}})
    assert result["outcome"] == "platform_action_required" and ti.pushed["publish_result"]["post_id"] == "p1"


def test_a_failed_publish_fails_without_retries_and_still_pushes_its_result():
    with pytest.raises(AirflowFailException, match="rejected"):
        _resume({"status": "failed", "state": "failed", "message": "rejected", "result": {"post_id": "p1"}})


@pytest.mark.parametrize(("http_status", "permanent"), [(401, True), (404, True), (429, False), (503, False),
                                                        (None, False)])
def test_api_errors_fail_fast_only_when_a_retry_cannot_help(http_status, permanent):
    event = {"status": "error", "state": "error", "message": "boom", "conn_id": "mk",
             "result": {"http_status": http_status} if http_status else {}}
    with pytest.raises(AirflowException, match="connection 'mk'") as info:
        _resume(event, soft_fail=True)  # soft_fail never turns an error into a skip
    assert isinstance(info.value, AirflowFailException) is permanent
    assert not isinstance(info.value, AirflowSkipException)


def test_timeout_skips_only_with_soft_fail():
    event = {"status": "timeout", "state": "timeout", "message": "slow", "result": {}}
    with pytest.raises(AirflowSkipException):
        _resume(event, soft_fail=True)
    with pytest.raises(AirflowSensorTimeout):
        _resume(event)
