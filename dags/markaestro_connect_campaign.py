"""Connect-API campaign: schedule a campaign folder's image posts in Markaestro.

For teams whose API key carries only the Connect scopes (``posts.read``, ``posts.write``,
``media.write``). Same campaign folder as ``markaestro_campaign`` (``campaign.yaml`` + media, local,
``file://``, ``s3://``…), but instead of publishing now and waiting, every post is **scheduled**:
Markaestro's own scheduler publishes it at ``scheduled_at``, so the DAG ends as soon as the posts
exist.

Flow: load + validate the campaign → per product connection, list its social accounts and plan
one Connect post per (campaign post, caption) for every matching account → upload each image once
per product (Connect upload URL + single-use PUT) → create the posts with ``scheduled_at`` → record
them in ``<campaign>/_markaestro/connect-ledger.json`` and report per account. A re-run schedules
nothing twice (the ledger), and a retried create task reattaches to what it created.

The ledger also keeps a hash of what each post was scheduled with (caption and images, by path and
content identity). A post edited in ``campaign.yaml`` after it was scheduled is **not** scheduled
again (that would be a second post on the same account): the plan logs a warning, and the report
lists it under ``held_back`` with its post id and a warning table. The scheduled post keeps its old
content; delete or reschedule it in Markaestro, and give the new version a new post key.

Connect limits that shape the plan:

* **Images only.** Posts with a video are skipped with a log line; publish them with the
  ``markaestro_campaign`` DAG (Public API).
* **One caption per request.** A post whose channels have different captions (``overrides``)
  becomes one Connect post per caption.
* **No settings, no delivery mode.** Instagram/TikTok ``settings`` from the manifest are not sent;
  scheduled posts go out through the platform API (TikTok through the creator inbox).

Params: ``campaign_url``; ``schedule_at`` (ISO-8601, empty = the run's ``run_after`` plus
``schedule_offset_minutes``, 60 by default). Templates use ``dag_run.run_after``, never ``ds``:
runs triggered from the UI or the REST API have no logical date.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_markaestro.connect_operators import ConnectCreatePostOperator, ConnectUploadImageOperator
from airflow_provider_markaestro.fanout import fail_run_when_any_task_fails, require_loaded

SAMPLE_CAMPAIGN = (Path(__file__).resolve().parent / "campaigns" / "spring_launch").as_uri()
CAMPAIGN_URL = os.environ.get("MARKAESTRO_CAMPAIGN_URL", SAMPLE_CAMPAIGN)
CONNECT_LEDGER = "_markaestro/connect-ledger.json"
RETRY_DELAY = timedelta(seconds=30)

#: Why a ``held_back`` row was not scheduled again (the report's ``error`` column).
HELD_BACK_REASON = (
    "caption or images changed since it was scheduled: not scheduled again, the scheduled post keeps its old "
    "content (delete or reschedule it in Markaestro); give the new version a new post key to schedule it"
)

#: Rendered in the create task at run time (never at parse time).
SCHEDULED_AT = (
    "{{ params.schedule_at or (dag_run.run_after"
    " + macros.timedelta(minutes=params.schedule_offset_minutes | int)).isoformat() }}"
)


class ManifestConnectCreatePostOperator(ConnectCreatePostOperator):
    """Captions and accounts come from the bucket's manifest: published as written, never rendered
    by Jinja (a caption "{{ conn.x.password }}" must not become a secret). Only the schedule is."""

    template_fields = ("scheduled_at", "markaestro_conn_id")


def _ledger_path(campaign):
    return campaign.folder() / CONNECT_LEDGER


def read_connect_ledger(campaign) -> dict:
    """``{"<post_key>|<account token>": {"post_id", "status", "channel", "scheduled_at", "content_hash", …}}``.

    ``content_hash`` (:func:`connect_content`) is missing from entries written before it existed:
    those are never taken for edited."""
    import json

    path = _ledger_path(campaign)
    try:
        path.fs.invalidate_cache(path.parent.path)
    except Exception:
        pass
    try:
        with path.open("rb") as fh:
            text = fh.read().decode("utf-8")
    except FileNotFoundError:
        return {}
    return json.loads(text) if text.strip() else {}


def write_connect_ledger(campaign, rows: list[dict]) -> dict:
    import json
    from datetime import datetime, timezone

    ledger = read_connect_ledger(campaign)
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    for row in rows:
        ledger[f"{row['post_key']}|{row['account']}"] = {
            "post_id": row["post_id"], "status": row["status"], "channel": row["channel"],
            "product_id": row["product_id"], "scheduled_at": row["scheduled_at"], "updated_at": now,
        }
        if row.get("content_hash"):
            ledger[f"{row['post_key']}|{row['account']}"]["content_hash"] = row["content_hash"]
    path = _ledger_path(campaign)
    path.fs.makedirs(path.parent.path, exist_ok=True)
    with path.open("wb") as fh:
        fh.write((json.dumps(ledger, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    return ledger


def connect_content(campaign, post, caption: str) -> str:
    """Hash of what a Connect post request sends for ``post`` with ``caption``: the caption and the
    images by path and by the store's content identity (a file replaced under its name is new
    content). Delivery mode and settings are left out: Connect sends neither."""
    from airflow_provider_markaestro.campaign import content_hash

    return content_hash(caption, campaign.media_identity(post), None, None)


def plan_connect(campaign_json: str) -> dict:
    """Uploads and Connect creates still needed; posts with video are skipped (Connect is images only).

    A (post, account) already in the ledger is never scheduled again; if its content changed since
    (stored ``content_hash`` differs), it is also logged as a warning and listed under ``held_back``."""
    import logging

    from airflow_provider_markaestro import rules
    from airflow_provider_markaestro.campaign import Campaign
    from airflow_provider_markaestro.hook import MarkaestroHook

    log = logging.getLogger("airflow.task")
    campaign = Campaign.from_json(campaign_json)
    ledger = read_connect_ledger(campaign)
    posts, uploads, skipped, held = [], [], [], []
    seen_uploads: set[tuple[str, str]] = set()
    for alias, ref in campaign.products.items():
        product_posts = campaign.posts_for_product(alias)
        if not product_posts:
            continue
        with MarkaestroHook(markaestro_conn_id=ref.conn_id) as hook:
            accounts = hook.connect_list_social_accounts()
        log.info("Product %s (connection %s): %d social account(s): %s", alias, ref.conn_id, len(accounts),
                 ", ".join(f"{a.platform}/{a.username}" for a in accounts))
        for post in product_posts:
            videos = [rel for rel in post.media if rules.media_kind(rel) == "video"]
            if videos:
                log.info("Skipping post %s: the Connect API publishes images only and %s %s a video; "
                         "publish it with the markaestro_campaign DAG (Public API)",
                         post.key, ", ".join(videos), "is" if len(videos) == 1 else "are")
                skipped.append({"post_key": post.key, "product": alias, "reason": "video", "media": videos})
                continue
            by_caption: dict[str, list[str]] = {}
            for channel in post.channels:
                matching = [a for a in accounts if a.platform == channel]
                if not matching:
                    log.info("Post %s: product %s has no %s account", post.key, alias, channel)
                for account in matching:
                    prev = ledger.get(f"{post.key}|{account.id}") or {}
                    if prev.get("post_id"):
                        stored = prev.get("content_hash")
                        if stored is not None and stored != connect_content(campaign, post, post.caption_for(channel)):
                            log.warning("Post %s was already scheduled to %s (post %s); its content changed in the "
                                        "manifest since and is NOT scheduled again: the scheduled post keeps its old "
                                        "content (delete or reschedule it in Markaestro); give the new version a new "
                                        "post key to schedule it", post.key, account.id, prev["post_id"])
                            held.append({
                                "post_key": post.key, "account": account.id,
                                "product_id": prev.get("product_id") or account.id.split("#", 1)[0],
                                "channel": prev.get("channel") or channel,
                                "post_id": prev["post_id"], "status": prev.get("status") or "",
                                "scheduled_at": prev.get("scheduled_at"), "outcome": "held_back",
                                "error": HELD_BACK_REASON,
                            })
                        else:
                            log.info("Post %s → %s was scheduled by an earlier run (post %s)", post.key, account.id,
                                     prev["post_id"])
                        continue
                    by_caption.setdefault(post.caption_for(channel), []).append(account.id)
                if campaign.settings_for(post, channel):
                    log.info("Post %s: %s settings are not sent (Connect has none)", post.key, channel)
            for caption, tokens in by_caption.items():
                posts.append({"post_key": post.key, "product": alias, "conn_id": ref.conn_id, "caption": caption,
                              "media": list(post.media), "social_accounts": tokens,
                              "content_hash": connect_content(campaign, post, caption)})
                for rel in post.media:
                    if (ref.conn_id, rel) not in seen_uploads:
                        seen_uploads.add((ref.conn_id, rel))
                        uploads.append({"markaestro_conn_id": ref.conn_id, "file_path": str(campaign.folder() / rel),
                                        "storage_conn_id": campaign.conn_id, "mime_type": rules.mime_type_for(rel)})
    log.info("%d Connect post request(s) for %d account(s), %d image upload(s), %d post(s) skipped, "
             "%d account post(s) held back (edited after they were scheduled)",
             len(posts), sum(len(p["social_accounts"]) for p in posts), len(uploads), len(skipped), len(held))
    return {"posts": posts, "uploads": uploads, "skipped": skipped, "held_back": held}


def create_kwargs(plan: dict, media_ids: list[str] | None) -> list[dict]:
    # one slice read: iterating a mapped output fetches item by item and ends on a logged 404
    ids = list(media_ids[:]) if media_ids else []
    by_file = {(u["markaestro_conn_id"], u["file_path"].rsplit("/", 1)[-1]): mid
               for u, mid in zip(plan["uploads"], ids, strict=True)}
    return [{"markaestro_conn_id": p["conn_id"], "caption": p["caption"],
             "media_ids": [by_file[(p["conn_id"], rel)] for rel in p["media"]],
             "social_accounts": p["social_accounts"]} for p in plan["posts"]]


def _table(rows: list[dict]) -> str:
    return "\n".join(f"{r['post_key']:<22} {r['channel']:<10} {r['account']:<64} {r['post_id'] or '-':<22} "
                     f"{r['status']:<10} {r['scheduled_at'] or ''} {r['error']}".rstrip() for r in rows)


def report(campaign_json: str, plan: dict, context) -> dict:
    """Per-account table, the Connect ledger, and a failure if any account failed.

    ``held_back`` lists the (post, account) pairs edited after they were scheduled (not scheduled
    again, see :func:`plan_connect`), also logged as a warning table."""
    import logging

    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_markaestro.campaign import Campaign

    log = logging.getLogger("airflow.task")
    require_loaded(campaign_json)
    campaign = Campaign.from_json(campaign_json)
    posts = plan["posts"]
    results = []
    if posts:
        pulled = context["ti"].xcom_pull(task_ids="create_post", map_indexes=list(range(len(posts))))
        results = [pulled] if len(posts) == 1 and not isinstance(pulled, (list, tuple)) else list(pulled)
    rows, hashes = [], []
    for entry, result in zip(posts, results, strict=True):
        result = result or {}
        done = {c.get("account"): c for c in result.get("created") or []}
        failed = {e.get("account"): e.get("error") for e in result.get("errors") or []}
        for token in entry["social_accounts"]:
            row = done.get(token) or {}
            rows.append({
                "post_key": entry["post_key"], "account": token, "product_id": token.split("#", 1)[0],
                "channel": row.get("channel") or token.split("#", 1)[-1].split(":")[1],
                "post_id": row.get("id"), "status": row.get("status") or ("failed" if token in failed else "unknown"),
                "scheduled_at": result.get("scheduled_at"),
                "error": failed.get(token) or ("" if row else "the create task did not run or returned nothing"),
            })
            hashes.append(entry.get("content_hash"))
    created = [r for r in rows if r["post_id"]]
    if created:
        write_connect_ledger(campaign, [{**r, "content_hash": h} for r, h in zip(rows, hashes) if r["post_id"]])
    log.info("Campaign %s via Connect: %d account post(s), %d skipped post(s)\n%s", campaign.name, len(rows),
             len(plan["skipped"]), _table(rows))
    kept = list(plan.get("held_back") or [])
    if kept:
        log.warning("Campaign %s via Connect: %d account post(s) edited after they were scheduled, NOT scheduled "
                    "again (the scheduled posts keep their old content)\n%s", campaign.name, len(kept), _table(kept))
    out = {"campaign": campaign.name, "scheduled": len(created), "failed": len(rows) - len(created),
           "accounts": rows, "skipped": plan["skipped"], "held_back": kept}
    if len(created) != len(rows):
        context["ti"].xcom_push(key="return_value", value=out)
        raise AirflowFailException(f"{len(rows) - len(created)} account post(s) were not scheduled: " + "; ".join(
            f"{r['post_key']} → {r['account']}: {r['error']}" for r in rows if not r["post_id"]))
    return out


@dag(
    dag_id="markaestro_connect_campaign",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["markaestro", "connect", "example"],
    params={
        "campaign_url": Param(CAMPAIGN_URL, type="string", description="Campaign folder URL"),
        "schedule_at": Param(None, type=["null", "string"],
                             description="When Markaestro publishes (ISO-8601); empty = run_after + offset"),
        "schedule_offset_minutes": Param(60, type="integer", minimum=0,
                                         description="Used when schedule_at is empty"),
    },
    doc_md=__doc__,
)
def markaestro_connect_campaign():
    @task
    def load_campaign(campaign_url: str) -> str:
        from airflow_provider_markaestro.fanout import load_validated

        return load_validated(campaign_url)

    @task
    def plan_posts(campaign: str) -> dict:
        return plan_connect(campaign)

    @task
    def upload_calls(plan: dict) -> list[dict]:
        return plan["uploads"]

    @task(trigger_rule="none_failed")  # text-only campaigns have nothing to upload
    def create_calls(plan: dict, media_ids: list[str] | None) -> list[dict]:
        return create_kwargs(plan, media_ids)

    @task(trigger_rule="all_done")
    def record_and_report(campaign: str, plan: dict, **context) -> dict:
        return report(campaign, plan, context)

    campaign = load_campaign("{{ params.campaign_url }}")
    plan = plan_posts(campaign)
    # Retries are safe: both operators reattach to what an earlier try did (module docstring of
    # connect_operators), and content errors fail at once without spending them.
    uploaded = ConnectUploadImageOperator.partial(
        task_id="upload_image", map_index_template="{{ task.file_path }}", retries=2, retry_delay=RETRY_DELAY
    ).expand_kwargs(upload_calls(plan))
    created = ManifestConnectCreatePostOperator.partial(
        task_id="create_post", scheduled_at=SCHEDULED_AT, map_index_template="{{ task.caption[:40] }}",
        retries=2, retry_delay=RETRY_DELAY,
    ).expand_kwargs(create_calls(plan, uploaded.output))
    created >> record_and_report(campaign, plan)
    fail_run_when_any_task_fails()


markaestro_connect_campaign()
