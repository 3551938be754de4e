"""Scheduled campaign: publish a bucket folder of content to every destination of each product.

Flow: load + validate the campaign (nothing is sent when anything is wrong) → discover each
product's destinations → upload each media file once per product → one post per
(post, destination) with dynamic task mapping → publish → wait (deferrable) → record what went out
in the bucket's ledger and report per destination. A re-run publishes nothing twice.

The campaign folder is an Airflow ``ObjectStoragePath`` URL: a local ``file://`` folder by default
(the sample content beside this file), ``s3://bucket/prefix`` or ``gs://bucket/prefix`` in
production. Set it per run with the ``campaign_url`` param, or per deployment with the
``MARKAESTRO_CAMPAIGN_URL`` environment variable.

Templates use ``run_id``, never ``ds``: runs triggered from the UI or REST API have no logical date.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import AssetAlias, Param, dag, task

from airflow_provider_markaestro.fanout import (
    CampaignCreatePostOperator,
    CampaignUploadMediaOperator,
    fail_run_when_any_task_fails,
)
from airflow_provider_markaestro.operators import PublishPostOperator
from airflow_provider_markaestro.sensors import JobRunSensor

POSTS_ASSET_ALIAS = "markaestro-published-posts"  # downstream DAGs schedule on the per-product assets

SAMPLE_CAMPAIGN = (Path(__file__).resolve().parent / "campaigns" / "spring_launch").as_uri()
CAMPAIGN_URL = os.environ.get("MARKAESTRO_CAMPAIGN_URL", SAMPLE_CAMPAIGN)


@dag(
    dag_id="markaestro_campaign",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # Transient trouble (5xx, timeouts) that outlasts the hook's own retries gets two more tries,
    # [core] default_task_retry_delay apart; a retry never posts twice (idempotency keys, ids in the
    # task state store). Content and auth errors (4xx) fail at once whatever this says.
    default_args={"retries": 2},
    tags=["markaestro", "example"],
    params={
        "campaign_url": Param(CAMPAIGN_URL, type="string", description="Campaign folder URL (file://, s3://, gs://)"),
        "storage_conn_id": Param(
            os.environ.get("MARKAESTRO_CAMPAIGN_CONN_ID", ""), type="string",
            description="Airflow connection for the bucket (empty: the filesystem's default)",
        ),
    },
    doc_md=__doc__,
)
def markaestro_campaign():
    @task
    def load_campaign(campaign_url: str, storage_conn_id: str) -> str:
        """Read and validate the manifest and media listing; fail before any upload if anything is off."""
        from airflow_provider_markaestro.fanout import load_validated

        return load_validated(campaign_url, storage_conn_id or None)

    @task
    def discover_destinations(campaign: str) -> list[dict]:
        """Each product's connection → its bound product id and destinations (keys are product-bound)."""
        from airflow_provider_markaestro.fanout import discover_targets

        return discover_targets(campaign)

    @task
    def media_to_upload(campaign: str, targets: list[dict]) -> list[dict]:
        """One upload per (product, media file) still needed: shared media is uploaded once per product."""
        from airflow_provider_markaestro.fanout import uploads_needed

        return uploads_needed(campaign, targets)

    @task(trigger_rule="none_failed")  # text-only campaigns have nothing to upload: a skipped upload is fine
    def plan_posts(campaign: str, targets: list[dict], uploads: list[dict], **context) -> list[dict]:
        """One create call per (post, destination) not yet published by an earlier run."""
        from airflow_provider_markaestro.fanout import plan_create_calls, uploaded_asset_ids

        return plan_create_calls(campaign, targets, uploads, uploaded_asset_ids(uploads, context))

    @task
    def create_calls(plan: list[dict]) -> list[dict]:
        return [p["create"] for p in plan]

    @task(trigger_rule="all_done")  # one failed create must not hold back the other posts
    def publish_calls(plan: list[dict] | None, **context) -> list[dict]:
        """PublishPostOperator kwargs for each post that was created (paired by map index)."""
        from airflow_provider_markaestro.fanout import publish_kwargs

        return publish_kwargs(plan, context)

    @task(trigger_rule="all_done")
    def wait_calls(publishes: list[dict] | None, **context) -> list[dict]:
        """JobRunSensor kwargs for each publish that went through (paired by map index)."""
        from airflow_provider_markaestro.fanout import wait_kwargs

        return wait_kwargs(publishes, context)

    @task(trigger_rule="all_done", outlets=[AssetAlias(POSTS_ASSET_ALIAS)])
    def record_and_report(campaign: str, plan: list[dict] | None, **context) -> dict:
        """Record what went out in the bucket ledger, log a per-destination table, emit asset events."""
        from airflow_provider_markaestro.fanout import record_and_report as record

        return record(campaign, plan or [], context)

    campaign_url = "{{ params.campaign_url }}"
    campaign = load_campaign(campaign_url, "{{ params.storage_conn_id }}")
    targets = discover_destinations(campaign)
    uploads = media_to_upload(campaign, targets)
    uploaded = CampaignUploadMediaOperator.partial(
        task_id="upload_media", map_index_template="{{ task.file_path }}"
    ).expand_kwargs(uploads)
    plan = plan_posts(campaign, targets, uploads)
    uploaded >> plan
    created = CampaignCreatePostOperator.partial(
        task_id="create_post", map_index_template="{{ task.channel }} {{ task.destination_id }}"
    ).expand_kwargs(create_calls(plan))
    publishes = publish_calls(plan)
    created >> publishes
    published = PublishPostOperator.partial(task_id="publish_post").expand_kwargs(publishes)
    waits = wait_calls(publishes)
    published >> waits
    waited = JobRunSensor.partial(
        task_id="wait_for_publish", deferrable=True, poke_interval=30, timeout=3600
    ).expand_kwargs(waits)
    report = record_and_report(campaign, plan)
    waited >> report
    fail_run_when_any_task_fails()


markaestro_campaign()
