"""Constructor defaults a deployment sets once: ``[operators] default_deferrable``."""

from __future__ import annotations

import pytest

from airflow_provider_markaestro.operators import PublishPostOperator
from airflow_provider_markaestro.sensors import JobRunSensor


@pytest.mark.parametrize("configured", ["True", "False"])
def test_deferrable_follows_the_operators_default_deferrable_setting(monkeypatch, configured):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", configured)
    expected = configured == "True"
    assert JobRunSensor(task_id="wait", job_run_id="r").deferrable is expected
    assert PublishPostOperator(task_id="publish", post_id="p", wait_for_completion=True).deferrable is expected
    # an explicit argument wins over the setting
    assert JobRunSensor(task_id="wait2", job_run_id="r", deferrable=not expected).deferrable is (not expected)
