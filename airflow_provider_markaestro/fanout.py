"""The campaign DAG's steps between the bucket and the operators.

``campaign`` knows the manifest and the ledger and never talks to Markaestro; this module asks each
product's connection for its destinations, decides what to upload and create, and records what went
out. Every function takes and returns plain JSON because each one is an Airflow task's body.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_markaestro import rules
from airflow_provider_markaestro.campaign import (
    Campaign,
    CampaignValidationError,
    fold_created,
    held_back,
    is_sent,
    ledger_key,
    load_campaign,
    plan_posts,
    read_ledger,
    record_created,
    record_results,
)
from airflow_provider_markaestro.exceptions import MarkaestroAPIError, MarkaestroNotFound
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.operators import PUBLISH_XCOM_KEY, CreatePostOperator, UploadMediaOperator

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
    def fail_run_if_a_task_failed(**context) -> None:
        ti = context["ti"]
        try:
            states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        except Exception:  # naming the tasks is a courtesy: the guard fails the run regardless
            log.warning("could not read this run's task states", exc_info=True)
            states = {}
        # keys are task ids (mapped tasks may carry a map-index suffix): name each failed task once
        failed = sorted({key if key in ti.task.dag.task_dict else key.rsplit("_", 1)[0]
                         for key, state in states.items() if state == "failed"})
        raise AirflowFailException(f"This run failed at: {', '.join(failed) or 'an earlier task'} "
                                   "(their logs say why); posts that went out, if any, are in the campaign ledger.")

    guard = fail_run_if_a_task_failed().operator
    for other in guard.dag.tasks:
        if other is not guard:
            other >> guard


def load_validated(campaign_url: str, conn_id: str | None = None) -> str:
    """The campaign as XCom JSON. A manifest problem fails the task at once: a retry would read
    the same folder and find the same problems."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        return load_campaign(campaign_url, conn_id=conn_id).to_json()
    except CampaignValidationError as exc:
        raise AirflowFailException(str(exc)) from None


def uploaded_asset_ids(uploads: list[dict[str, Any]], context: Mapping[str, Any],
                       upload_task_id: str = "upload_media") -> list[str]:
    """The asset id of each upload, by map index (an empty list when nothing was uploaded)."""
    return [a or "" for a in _pull_mapped(context, upload_task_id, len(uploads))]


def discover_targets(campaign_json: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per product alias with posts: its connection, bound product id and destinations.

    Also reconciles the ledger with Markaestro for posts an earlier run left unsettled
    (:func:`reconcile_ledger`), so planning never sends such a post a second time.
    """
    campaign = _campaign(campaign_json)
    targets = []
    if campaign.posts:
        fold_created(campaign.location, campaign.conn_id)  # posts a dead run noted but never recorded
    for alias, ref in campaign.products.items():
        if not campaign.posts_for_product(alias):
            continue
        with MarkaestroHook(markaestro_conn_id=ref.conn_id) as hook:
            product = _bound_product(hook, alias, ref.conn_id)
            destinations = [d.to_json() for d in hook.list_destinations(product.id)]
            reconcile_ledger(campaign, hook, product.id)
        log.info("Product %s (%s, connection %s): %d destination(s)", alias, product.id, ref.conn_id,
                 len(destinations))
        targets.append({"alias": alias, "conn_id": ref.conn_id, "product_id": product.id,
                        "product_name": product.name, "destinations": destinations})
    return targets


def _bound_product(hook: MarkaestroHook, alias: str, conn_id: str):
    """The key's product. A 4xx (a wrong or revoked key, a missing scope) fails the task at once,
    naming the campaign product and its connection: with several products that is the first question."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        return hook.get_bound_product()
    except MarkaestroAPIError as exc:
        if exc.is_retryable:
            raise
        raise AirflowFailException(f"campaign product {alias!r} (connection {conn_id!r}): {exc}") from exc


def reconcile_ledger(campaign: Campaign, hook: MarkaestroHook, product_id: str) -> dict[str, dict[str, Any]]:
    """Bring the ledger up to date for posts an earlier run created but did not see settle.

    A run can end before it knows how a post ended (a wait that failed, a worker that died, a
    report that never ran). Such a ledger entry has a ``post_id`` but no sent status; its post is
    read back so the plan can skip it (it went out after all), reuse it (still a draft, publishing
    or failed: publishing it again is allowed and is not a second post) or create it anew (deleted).
    Makes no call when every entry is settled, which is the normal case. :func:`discover_targets`
    folds the created-post notes into the ledger (:func:`campaign.fold_created`) before this runs.
    """
    ledger = read_ledger(campaign.location, campaign.conn_id)
    updates = []
    for key, entry in ledger.items():
        if entry.get("product_id") != product_id or not entry.get("post_id") or is_sent(entry):
            continue
        post_key, destination_id = key.split("|", 1)
        try:
            post = hook.get_post(entry["post_id"])
        except MarkaestroNotFound:
            updates.append({**entry, "post_key": post_key, "destination_id": destination_id, "post_id": "",
                            "status": "missing", "error": "the post no longer exists in Markaestro"})
            continue
        log.info("Ledger: %s → %s was %s, is now %s (post %s)", post_key, destination_id, entry.get("status"),
                 post.status, post.id)
        updates.append({**entry, "post_key": post_key, "destination_id": destination_id, "status": post.status,
                        "media_asset_ids": list(post.media_asset_ids), "external_url": post.external_url or None,
                        "error": post.failure_reason or None})
    return record_results(campaign.location, updates, campaign.conn_id) if updates else ledger


def _pending(campaign: Campaign, target: Mapping[str, Any], ledger: Mapping[str, Any],
             asset_ids: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The plan of one product; without ``asset_ids`` (the upload step) paths stand in for asset ids
    and edits are not warned about (the plan step does, once)."""
    ids = asset_ids if asset_ids is not None else {rel: rel for rel in campaign.media_files()}
    return plan_posts(campaign, target["alias"], target["product_id"], target["destinations"], ids, ledger,
                      warn_edits=asset_ids is not None)


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
            if entry.get("reuses_post"):  # an earlier run's post keeps its media: nothing to upload
                continue
            for rel in entry["media_asset_ids"]:  # placeholders: the relative paths themselves
                needed.setdefault(rel, None)
        for rel in needed:
            uploads.append({
                "markaestro_conn_id": target["conn_id"],
                "file_path": _media_url(campaign, rel),
                "storage_conn_id": campaign.conn_id,
                "mime_type": rules.mime_type_for(rel),
                "idempotency_key": _upload_key(campaign, target["product_id"], rel),
            })
    log.info("%d upload(s) needed", len(uploads))
    return uploads


def _upload_key(campaign: Campaign, product_id: str, rel: str) -> str:
    """The same file (by the store's content identity) for the same product is one asset, whichever
    run uploads it: its posts then keep their create key too (it covers the asset ids)."""
    media = campaign.files.get(rel)
    identity = [campaign.name, product_id, rel, media.size if media else None, media.version if media else ""]
    return "mku-" + hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:40]


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
    again = 0  # earlier runs' posts (draft, failed…) published again, not created
    for target in targets:
        conn_id = target["conn_id"]
        ids = {rel: uploaded.get((conn_id, _media_url(campaign, rel)), "") for rel in campaign.media_files()}
        for entry in _pending(campaign, target, ledger, ids):
            again += bool(entry.get("reuses_post"))
            plan.append({
                "post_key": entry["post_key"],
                "product_alias": target["alias"],
                "product_id": entry["product_id"],
                "destination_id": entry["destination_id"],
                "channel": entry["channel"],
                "markaestro_conn_id": conn_id,
                "content_hash": entry["content_hash"],
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
                    # the same content for the same destination is one post, whichever run sends it
                    "idempotency_key": entry["idempotency_hint"],
                    "campaign_url": campaign.location,
                    "storage_conn_id": campaign.conn_id,
                    "post_key": entry["post_key"],
                    "content_hash": entry["content_hash"],
                },
            })
    log.info("%d post(s) to send over %d product(s): %d to create, %d already in Markaestro to publish again",
             len(plan), len(targets), len(plan) - again, again)
    return plan


class CampaignUploadMediaOperator(UploadMediaOperator):
    """:class:`UploadMediaOperator` for a file the bucket named: its path is used as listed, never
    rendered by Jinja (an object name may contain ``{{``)."""

    template_fields: Sequence[str] = ()


class CampaignCreatePostOperator(CreatePostOperator):
    """:class:`CreatePostOperator` that notes the new post in the campaign folder at once.

    The ledger is written by the last task of a run; a run that dies between a publish and that
    task would forget a post that may be live. The note (:func:`campaign.record_created`) lets the
    next run read that post back instead of sending it again.
    """

    # Nothing is templated: every value comes from the bucket's manifest, and a caption such as
    # "{{ conn.x.password }}" must be published as written, never rendered by Jinja.
    template_fields: Sequence[str] = ()

    def __init__(self, *, campaign_url: str, post_key: str, content_hash: str,
                 storage_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.campaign_url = campaign_url
        self.storage_conn_id = storage_conn_id
        self.post_key = post_key
        self.content_hash = content_hash

    def run(self, context: Any) -> str:
        post_id = super().run(context)
        record_created(self.campaign_url, {
            "post_key": self.post_key, "destination_id": self.destination_id, "post_id": post_id,
            "product_id": self.product_id, "channel": self.channel, "content_hash": self.content_hash,
            "media_asset_ids": list(self.media_asset_ids or []),
        }, self.storage_conn_id or None)
        return post_id


def _pull_mapped(context: Mapping[str, Any], task_id: str, count: int, key: str = "return_value") -> list[Any]:
    """One value per map index ``0..count-1`` of a mapped task, ``None`` where it pushed nothing.

    Pulling a mapped task's ``.output`` drops the indexes that pushed nothing (a task that failed or
    returned ``None``), which would shift every later value onto the wrong post; explicit map
    indexes keep the positions.
    """
    if count == 0:
        return []
    values = context["ti"].xcom_pull(task_ids=task_id, key=key, map_indexes=list(range(count)))
    return list(values) if isinstance(values, list) else [values]


def publish_kwargs(plan: list[dict[str, Any]] | None, context: Mapping[str, Any],
                   create_task_id: str = "create_post") -> list[dict[str, Any]]:
    """PublishPostOperator kwargs for every planned post that was created (a failed create is skipped)."""
    plan = plan or []
    created = _pull_mapped(context, create_task_id, len(plan))
    return [{"post_id": post_id, "markaestro_conn_id": entry["markaestro_conn_id"]}
            for entry, post_id in zip(plan, created, strict=True) if post_id]


def wait_kwargs(publishes: list[dict[str, Any]] | None, context: Mapping[str, Any],
                publish_task_id: str = "publish_post") -> list[dict[str, Any]]:
    """JobRunSensor kwargs for every publish that went through, paired by map index.

    A publish that found its post already publishing returns no run id: the sensor then follows the
    post alone. A publish that failed pushed no :data:`PUBLISH_XCOM_KEY` and is not waited for.
    """
    publishes = publishes or []
    started = _pull_mapped(context, publish_task_id, len(publishes), key=PUBLISH_XCOM_KEY)
    return [{**call, "job_run_id": info.get("job_run_id")}
            for call, info in zip(publishes, started, strict=True) if info]


def summarize(plan: list[dict[str, Any]], created: list[str | None],
              results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per planned (post, destination): what its wait saw, or how far it got.

    ``created`` holds the post id of each plan entry (``None`` where the create failed) and
    ``results`` the wait results by post id. A post created but not seen to settle is recorded with
    status ``created``: the next run reads it back instead of sending it again.
    """
    rows = []
    for entry, post_id in zip(plan, created, strict=True):
        result = results.get(post_id or "") or {}
        if result:
            error = result.get("error") or ""
        elif post_id:
            error = ("created; this run could not tell whether its publish went out "
                     "(the next run reads the post back and publishes it only if it has not)")
        else:
            error = "the post was not created"
        rows.append({
            "post_key": entry["post_key"],
            "product_id": entry["product_id"],
            "destination_id": entry["destination_id"],
            "channel": entry["channel"],
            "post_id": post_id,
            "status": result.get("status") or ("created" if post_id else "unknown"),
            "outcome": result.get("outcome") or "not_settled",
            "error": error,
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
                      context: Mapping[str, Any], wait_task_id: str = "wait_for_publish",
                      create_task_id: str = "create_post", wait_calls_task_id: str = "wait_calls") -> dict[str, Any]:
    """Write the ledger, log a per-destination table, emit one asset event per product with new posts.

    Runs even when some publishes failed (trigger rule ``all_done``), so what did go out is always
    recorded; it then fails the task if any destination failed, so the run shows red.
    """
    from airflow.sdk import AssetAlias
    from airflow.sdk.exceptions import AirflowFailException

    require_loaded(campaign_json)
    campaign = _campaign(campaign_json)
    created = _pull_mapped(context, create_task_id, len(plan))
    waits = context["ti"].xcom_pull(task_ids=wait_calls_task_id) or []
    results = {r["post_id"]: r for r in _pull_mapped(context, wait_task_id, len(waits), key="publish_result")
               if r and r.get("post_id")}
    rows = summarize(plan, created, results)
    ledger = record_results(
        campaign.location,
        [{**r, "content_hash": e["content_hash"], "media_asset_ids": e["create"]["media_asset_ids"]}
         for e, r in zip(plan, rows) if r["post_id"]],
        campaign.conn_id,
    )
    # from the ledger just written (one read): this run's pairs carry the manifest's content now
    this_run = {ledger_key(r["post_key"], r["destination_id"]) for r in rows}
    kept = [r for r in held_back(campaign, ledger) if ledger_key(r["post_key"], r["destination_id"]) not in this_run]
    fold_created(campaign.location, campaign.conn_id)  # every note is in the ledger now: drop them
    log.info("Campaign %s: %d post(s) this run\n%s", campaign.name, len(rows), format_table(rows) if rows else "")
    if kept:
        log.warning("Campaign %s: %d post(s) edited after they went out, NOT sent again\n%s",
                    campaign.name, len(kept), format_table(kept))
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
    report = {"campaign": campaign.name, "counts": counts, "posts": rows, "held_back": kept}
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
