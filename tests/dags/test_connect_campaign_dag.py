"""``markaestro_connect_campaign``: the sample campaign scheduled through the Connect API."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest

from airflow_provider_markaestro.connect_operators import normalize_scheduled_at

from .conftest import SAMPLE, drain_task_logs, emulator_posts, load_dag, return_value, task_states, xcoms

DAG_ID = "markaestro_connect_campaign"
NORTHWIND = "XcBRSCV9iDiWG7UeyMHq"
# (post key, channel) pairs the sample campaign schedules on Connect: no video post, one per account.
EXPECTED = {
    ("launch-carousel", "instagram"), ("launch-carousel", "facebook"), ("launch-announcement", "linkedin"),
    ("cafe-thread", "threads"), ("office-cat", "facebook"), ("office-cat", "threads"),
}
IMAGES = {"rocket.jpg", "astronaut.png", "hubble-deep-field.jpg", "coffee.jpg", "chelsea.jpg"}


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

    ledger = json.loads((campaign_folder / "_markaestro" / "connect-ledger.json").read_text())
    assert {e["post_id"] for e in ledger.values()} == {p["id"] for p in posts}

    # Run again: the ledger says everything is scheduled, nothing is uploaded or created.
    again = dag.test(logical_date=None, run_conf=conf)
    assert again.state == "success", task_states(again)
    assert len(emulator_posts(markaestro)) == len(EXPECTED)
    assert task_states(again).get("create_post") in (None, ["skipped"])
    assert task_states(again).get("upload_image") in (None, ["skipped"])


def test_connect_campaign_with_a_missing_folder_fails_once_and_clearly(markaestro, tmp_path):
    dag = load_dag(DAG_ID, "markaestro_connect_campaign.py")
    dr = dag.test(logical_date=None, run_conf={"campaign_url": (tmp_path / "nowhere").as_uri()})
    states = task_states(dr)
    assert dr.state == "failed", states
    assert states["load_campaign"] == ["failed"] and states["record_and_report"] == ["skipped"]
    assert emulator_posts(markaestro) == []


def test_a_caption_from_the_bucket_is_published_as_written_never_rendered(markaestro, tmp_path):
    folder = tmp_path / "jinja"
    folder.mkdir()
    caption = "Sale {{ 7 * 7 }} {{ conn.markaestro_default.password }} {% raw %}"
    (folder / "campaign.yaml").write_text(
        "name: jinja\nproducts: {northwind: {conn_id: markaestro_default}}\n"
        f"posts:\n  - key: braces\n    caption: {json.dumps(caption)}\n    channels: [linkedin]\n")
    dr = load_dag(DAG_ID, "markaestro_connect_campaign.py").test(run_conf={"campaign_url": folder.as_uri()})
    assert dr.state == "success", task_states(dr)
    assert [p["caption"] for p in emulator_posts(markaestro)] == [caption]
