"""DAGs used only by the live-stack tests (real scheduler, LocalExecutor workers, triggerer)."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_markaestro.operators import CreatePostOperator, PublishPostOperator
from airflow_provider_markaestro.sensors import JobRunSensor


class CreateThenDie(CreatePostOperator):
    """Simulates a worker killed right after the server created the post, before anything was saved."""

    def run(self, context):
        if context["ti"].try_number == 1:
            original = self.hook.create_post

            def create_and_die(*args, **kwargs):
                original(*args, **kwargs)
                os.kill(os.getpid(), 9)

            self.hook.create_post = create_and_die
        return super().run(context)


with DAG(
    dag_id="markaestro_worker_killed",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
):
    create = CreateThenDie(task_id="create", channel="linkedin", caption="Survives a dead worker, once.")
    publish = PublishPostOperator(task_id="publish", post_id=create.output)
    JobRunSensor(task_id="wait", job_run_id=publish.output, post_id=create.output, deferrable=True,
                 poke_interval=1)
