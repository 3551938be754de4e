"""The campaign DAG's steps between the bucket and the operators.

``campaign`` knows the manifest and the ledger and never talks to Markaestro; this module asks each
product's connection for its destinations, decides what to upload and create, and records what went
out. Every function takes and returns plain JSON because each one is an Airflow task's body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_markaestro import rules
from airflow_provider_markaestro.campaign import Campaign, plan_posts, read_ledger, record_results
from airflow_provider_markaestro.hook import MarkaestroHook

log = logging.getLogger(__name__)

POSTS_ASSET_ALIAS = "markaestro-published-posts"


def _campaign(value: str | Mapping[str, Any] | Campaign) -> Campaign:
    return value if isinstance(value, Campaign) else Campaign.from_json(value)


def require_loaded(campaign_json: Any) -> None:
    """A report task runs after failures too; with no campaign there is nothing to record."""
    if campaign_json is None:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException("The campaign did not load (see load_campaign): nothing to record or report.")


def fail_run_when_any_task_fails() -> None:
    """Add a leaf that fails the DAG run when any other task failed. Call it last in a ``@dag`` body.

    The report task runs after failures (``all_done``) so what did go out is always recorded; as a
    leaf it would then decide the run's state alone and a run whose uploads failed would show green.
    This guard (Airflow's "watcher" pattern) is skipped when nothing failed.
    """
    from airflow.sdk import task
    from airflow.sdk.exceptions import AirflowFailException

    @task(trigger_rule="one_failed")
    def fail_run_if_a_task_failed() -> None:
        raise AirflowFailException("A task of this run failed (see the failed tasks of this run); "
                                   "whatever did go out is recorded in the campaign ledger.")

    guard = fail_run_if_a_task_failed().operator
    for other in guard.dag.tasks:
        if other is not guard:
            other >> guard


def discover_targets(campaign_json: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per product alias with posts: its connection, bound product id and destinations."""
    campaign = _campaign(campaign_json)
    targets = []
    for alias, ref in campaign.products.items():
        if not campaign.posts_for_product(alias):
            continue
        with MarkaestroHook(markaestro_conn_id=ref.conn_id) as hook:
            product = hook.get_bound_product()
            destinations = [d.to_json() for d in hook.list_destinations(product.id)]
        log.info("Product %s (%s, connection %s): %d destination(s)", alias, product.id, ref.conn_id,
                 len(destinations))
        targets.append({"alias": alias, "conn_id": ref.conn_id, "product_id": product.id,
                        "product_name": product.name, "destinations": destinations})
    return targets


def _pending(campaign: Campaign, target: Mapping[str, Any], ledger: Mapping[str, Any],
             asset_ids: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    ids = asset_ids if asset_ids is not None else {rel: rel for rel in campaign.media_files()}
    return plan_posts(campaign, target["alias"], target["product_id"], target["destinations"], ids, ledger)


def _media_url(campaign: Campaign, rel: str) -> str:
    return str(campaign.folder() / rel)


def uploads_needed(campaign_json: str | Mapping[str, Any], targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """UploadMediaOperator kwargs: each file once per product, only for posts still to send."""
    campaign = _campaign(campaign_json)
    ledger = read_ledger(campaign.location, campaign.conn_id)
    uploads = []
    for target in targets:
        needed: dict[str, None] = {}
        for entry in _pending(campaign, target, ledger):
            for rel in entry["media_asset_ids"]:  # placeholders: the relative paths themselves
                needed.setdefault(rel, None)
        for rel in needed:
            uploads.append({
                "markaestro_conn_id": target["conn_id"],
                "file_path": _media_url(campaign, rel),
                "storage_conn_id": campaign.conn_id,
                "mime_type": rules.mime_type_for(rel),
            })
    log.info("%d upload(s) needed", len(uploads))
    return uploads


def plan_create_calls(
    campaign_json: str | Mapping[str, Any],
    targets: list[dict[str, Any]],
    uploads: list[dict[str, Any]],
    asset_ids: list[str],
) -> list[dict[str, Any]]:
    """One entry per (post, destination) to send: ``create`` holds CreatePostOperator kwargs."""
    campaign = _campaign(campaign_json)
    ledger = read_ledger(campaign.location, campaign.conn_id)
    uploaded = {(u["markaestro_conn_id"], u["file_path"]): a for u, a in zip(uploads, asset_ids, strict=True)}
    media_of = {post.key: post.media for post in campaign.posts}
    plan = []
    for target in targets:
        conn_id = target["conn_id"]
        ids = {rel: uploaded.get((conn_id, _media_url(campaign, rel)), "") for rel in campaign.media_files()}
        for entry in _pending(campaign, target, ledger, ids):
            plan.append({
                "post_key": entry["post_key"],
                "product_alias": target["alias"],
                "product_id": entry["product_id"],
                "destination_id": entry["destination_id"],
                "channel": entry["channel"],
                "markaestro_conn_id": conn_id,
                "create": {
                    "markaestro_conn_id": conn_id,
                    "channel": entry["channel"],
                    "caption": entry["caption"],
                    "media_asset_ids": entry["media_asset_ids"],
                    "media_kinds": [rules.media_kind(rel) or "unknown" for rel in media_of[entry["post_key"]]],
                    "destination_id": entry["destination_id"],
                    "delivery_mode": entry["delivery_mode"],
                    "settings": entry["settings"],
                    "product_id": entry["product_id"],
                    "reuse_post_id": entry.get("previous_post_id"),
                },
            })
    log.info("%d post(s) to create over %d product(s)", len(plan), len(targets))
    return plan


def summarize(plan: list[dict[str, Any]], results: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """One row per planned (post, destination): what the wait task saw, or why nothing is known."""
    rows = []
    for entry, result in zip(plan, results, strict=True):
        result = result or {}
        rows.append({
            "post_key": entry["post_key"],
            "product_id": entry["product_id"],
            "destination_id": entry["destination_id"],
            "channel": entry["channel"],
            "post_id": result.get("post_id"),
            "status": result.get("status") or "unknown",
            "outcome": result.get("outcome") or "not_settled",
            "error": result.get("error") or ("" if result else "the post was not created or not waited for"),
            "external_url": result.get("external_url") or "",
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ("post_key", "channel", "destination_id", "post_id", "status")
    widths = [max([len(h)] + [len(str(r.get(h) or "")) for r in rows]) for h in header]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    for r in rows:
        line = "  ".join(str(r.get(h) or "").ljust(w) for h, w in zip(header, widths))
        if r.get("error"):
            line += f"  ({r['error']})"
        lines.append(line)
    return "\n".join(lines)


def record_and_report(campaign_json: str | Mapping[str, Any], plan: list[dict[str, Any]],
                      context: Mapping[str, Any], wait_task_id: str = "wait_for_publish") -> dict[str, Any]:
    """Write the ledger, log a per-destination table, emit one asset event per product with new posts.

    Runs even when some publishes failed (trigger rule ``all_done``), so what did go out is always
    recorded; it then fails the task if any destination failed, so the run shows red.
    """
    from airflow.sdk import AssetAlias
    from airflow.sdk.exceptions import AirflowFailException

    require_loaded(campaign_json)
    campaign = _campaign(campaign_json)
    results = context["ti"].xcom_pull(task_ids=wait_task_id, key="publish_result",
                                      map_indexes=list(range(len(plan)))) if plan else []
    if len(plan) == 1 and not isinstance(results, list):
        results = [results]
    rows = summarize(plan, list(results))
    record_results(campaign.location,
                   [{**r, "content_hash": e.get("content_hash")} for e, r in zip(plan, rows) if r["post_id"]],
                   campaign.conn_id)
    log.info("Campaign %s: %d post(s) this run\n%s", campaign.name, len(rows), format_table(rows) if rows else "")
    new_by_product: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["outcome"] in ("published", "platform_action_required"):
            new_by_product.setdefault(row["product_id"], []).append(row)
    for product_id, product_rows in new_by_product.items():
        context["outlet_events"][AssetAlias(POSTS_ASSET_ALIAS)].add(
            product_posts_asset(product_id),
            extra={"campaign": campaign.name, "posts": len(product_rows),
                   "post_ids": [r["post_id"] for r in product_rows]},
        )
    counts = {k: sum(1 for r in rows if r["outcome"] == k)
              for k in ("published", "platform_action_required", "failed", "not_settled")}
    report = {"campaign": campaign.name, "counts": counts, "posts": rows}
    failed = [r for r in rows if r["outcome"] in ("failed", "not_settled")]
    if failed:
        context["ti"].xcom_push(key="return_value", value=report)
        raise AirflowFailException(
            f"{len(failed)} destination(s) did not publish: "
            + "; ".join(f"{r['post_key']} → {r['destination_id']}: {r['error'] or r['status']}" for r in failed)
        )
    return report


def product_posts_asset(product_id: str):
    """The asset downstream DAGs (analytics) schedule on: new posts of one product."""
    from airflow.sdk import Asset

    return Asset(name=f"markaestro-posts-{product_id}", uri=f"markaestro://products/{product_id}/posts")
