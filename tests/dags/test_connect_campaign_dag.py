"""``markaestro_connect_campaign``: the sample campaign scheduled through the Connect API."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import httpx
import pytest

from airflow_provider_markaestro.connect_operators import normalize_scheduled_at

from tests.campaign.campaign_testlib import write_campaign

from .conftest import SAMPLE, drain_task_logs, emulator_posts, load_dag, return_value, task_states, xcoms

DAG_ID = "markaestro_connect_campaign"
NORTHWIND = "XcBRSCV9iDiWG7UeyMHq"
# (post key, channel) pairs the sample campaign schedules on Connect: no video post, one per account.
EXPECTED = {
    ("launch-carousel", "instagram"), ("launch-carousel", "facebook"), ("launch-announcement", "linkedin"),
    ("cafe-thread", "threads"), ("office-cat", "facebook"), ("office-cat", "threads"),
}
IMAGES = {"rocket.jpg", "astronaut.png", "hubble-deep-field.jpg", "coffee.jpg", "chelsea.jpg"}
LEDGER = ("_markaestro", "connect-ledger.json")


def connect_creates(emulator) -> list[dict]:
    """Every Connect ``POST /posts`` the emulator received."""
    log = httpx.get(f"{emulator.url}/_emulator/requests").json()["requests"]
    return [r for r in log if r["method"] == "POST" and r["path"] == "/api/connect/v1/posts"]


@pytest.fixture
def campaign_folder(tmp_path):
    folder = tmp_path / "spring_launch"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("_markaestro"))
    return folder


def test_connect_campaign_schedules_one_post_per_account_images_only(markaestro, campaign_folder, capfd, caplog):
    dag = load_dag(DAG_ID, "markaestro_connect_campaign.py")
    conf = {"campaign_url": campaign_folder.as_uri()}

    dr = dag.test(logical_date=None, run_conf=conf)
    assert dr.state == "success", task_states(dr)
    out = drain_task_logs(capfd, caplog)
    assert "Skipping post launch-reel: the Connect API publishes images only" in out
    assert "Skipping post launch-tiktok" in out

    expected_at = normalize_scheduled_at(dr.run_after + timedelta(minutes=60))
    report = return_value(DAG_ID, dr.run_id, "record_and_report")
    assert {(r["post_key"], r["channel"]) for r in report["accounts"]} == EXPECTED
    assert report["failed"] == 0 and report["scheduled"] == len(EXPECTED)
    assert {s["post_key"] for s in report["skipped"]} == {"launch-reel", "launch-tiktok"}
    assert all(r["account"].startswith(f"{NORTHWIND}#") and r["scheduled_at"] == expected_at
               for r in report["accounts"])

    uploads = {x["map_index"]: x["value"] for x in xcoms(DAG_ID, dr.run_id)
               if x["task_id"] == "upload_image" and x["key"] == "return_value"}
    assert len(uploads) == len(IMAGES)  # each image uploaded once, although two posts share none

    posts = emulator_posts(markaestro)
    assert len(posts) == len(EXPECTED)  # one Markaestro post per (campaign post, account)
    assert {p["id"] for p in posts} == {r["post_id"] for r in report["accounts"]}
    for post in posts:
        assert post["status"] == "scheduled" and post["scheduledAt"] == expected_at, post
        assert set(post["mediaAssetIds"]) <= set(uploads.values())
    by_channel = {}
    for p in posts:
        by_channel.setdefault(p["channel"], []).append(p)
    assert sorted(by_channel) == ["facebook", "instagram", "linkedin", "threads"]
    (instagram,) = by_channel["instagram"]
    assert instagram["caption"].endswith("#spacelaunch #northwind") and len(instagram["mediaAssetIds"]) == 3
    (linkedin,) = by_channel["linkedin"]
    assert linkedin["mediaAssetIds"] == []

    ledger = json.loads(campaign_folder.joinpath(*LEDGER).read_text())
    assert {e["post_id"] for e in ledger.values()} == {p["id"] for p in posts}
    assert all(e["content_hash"] for e in ledger.values())  # what each post was scheduled with
    assert report["held_back"] == []

    # Run again: the ledger says everything is scheduled, nothing is uploaded or created.
    again = dag.test(logical_date=None, run_conf=conf)
    assert again.state == "success", task_states(again)
    assert len(emulator_posts(markaestro)) == len(EXPECTED)
    assert task_states(again).get("create_post") in (None, ["skipped"])
    assert task_states(again).get("upload_image") in (None, ["skipped"])
    assert return_value(DAG_ID, again.run_id, "record_and_report")["held_back"] == []  # nothing was edited


def test_a_caption_edited_after_scheduling_is_held_back_not_dropped_silently(markaestro, campaign_folder,
                                                                              capfd, caplog):
    dag = load_dag(DAG_ID, "markaestro_connect_campaign.py")
    conf = {"campaign_url": campaign_folder.as_uri()}
    first = dag.test(logical_date=None, run_conf=conf)
    assert first.state == "success", task_states(first)
    (cafe,) = [r for r in return_value(DAG_ID, first.run_id, "record_and_report")["accounts"]
               if r["post_key"] == "cafe-thread"]
    drain_task_logs(capfd, caplog)

    manifest = campaign_folder / "campaign.yaml"
    old = "Cafe\\u0301 ☕🚀 — the launch crew runs on coffee."
    assert old in manifest.read_text(encoding="utf-8")
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(old, "Coffee first, launch second. ☕"),
                        encoding="utf-8")
    creates = len(connect_creates(markaestro))

    edited = dag.test(logical_date=None, run_conf=conf)
    assert edited.state == "success", task_states(edited)
    assert len(connect_creates(markaestro)) == creates  # never a second post on the same account
    (post,) = [p for p in emulator_posts(markaestro) if p["id"] == cafe["post_id"]]
    assert post["status"] == "scheduled" and post["caption"].endswith("the launch crew runs on coffee.")

    report = return_value(DAG_ID, edited.run_id, "record_and_report")
    assert report["accounts"] == [] and report["scheduled"] == 0
    (held,) = report["held_back"]
    assert held == {
        "post_key": "cafe-thread", "product_id": NORTHWIND, "account": cafe["account"], "channel": "threads",
        "post_id": cafe["post_id"], "status": cafe["status"], "scheduled_at": cafe["scheduled_at"],
        "outcome": "held_back", "error": held["error"],
    }
    assert "keeps its old content" in held["error"] and "new post key" in held["error"]
    assert "Markaestro" in held["error"]
    out = drain_task_logs(capfd, caplog)
    assert (f"Post cafe-thread was already scheduled to {cafe['account']} (post {cafe['post_id']}); "
            "its content changed in the manifest since and is NOT scheduled again") in out
    assert "1 account post(s) edited after they were scheduled, NOT scheduled again" in out
    assert out.count("is NOT scheduled again") == 1  # one warning per held-back entry, only the edited post

    # A ledger written before content hashes existed: the same edit is never taken for one.
    path = campaign_folder.joinpath(*LEDGER)
    ledger = json.loads(path.read_text())
    path.write_text(json.dumps({k: {f: v for f, v in e.items() if f != "content_hash"} for k, e in ledger.items()}))
    legacy = dag.test(logical_date=None, run_conf=conf)
    assert legacy.state == "success", task_states(legacy)
    assert len(connect_creates(markaestro)) == creates
    assert return_value(DAG_ID, legacy.run_id, "record_and_report")["held_back"] == []


def test_connect_campaign_with_a_missing_folder_fails_once_and_clearly(markaestro, tmp_path):
    dag = load_dag(DAG_ID, "markaestro_connect_campaign.py")
    dr = dag.test(logical_date=None, run_conf={"campaign_url": (tmp_path / "nowhere").as_uri()})
    states = task_states(dr)
    assert dr.state == "failed", states
    assert states["load_campaign"] == ["failed"] and states["record_and_report"] == ["skipped"]
    assert emulator_posts(markaestro) == []


def test_a_caption_from_the_bucket_is_published_as_written_never_rendered(markaestro, tmp_path):
    caption = "Sale {{ 7 * 7 }} {{ conn.markaestro_default.password }} {% raw %}"
    folder = write_campaign(
        tmp_path / "jinja", media=(),
        manifest="name: jinja\nproducts: {northwind: {conn_id: markaestro_default}}\n"
        f"posts:\n  - key: braces\n    caption: {json.dumps(caption)}\n    channels: [linkedin]\n")
    dr = load_dag(DAG_ID, "markaestro_connect_campaign.py").test(run_conf={"campaign_url": folder.as_uri()})
    assert dr.state == "success", task_states(dr)
    assert [p["caption"] for p in emulator_posts(markaestro)] == [caption]
