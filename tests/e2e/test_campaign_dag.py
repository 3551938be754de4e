"""The example campaign DAG end to end in real Airflow (``dag.test()``) against the emulator."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.campaign.campaign_testlib import write_campaign
from tests.conftest import xcom_values

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dags" / "campaigns" / "spring_launch"


@pytest.fixture(scope="module")
def campaign_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "markaestro_campaign.py"))
    assert not bag.import_errors
    return bag.dags["markaestro_campaign"]


@pytest.fixture
def bucket(tmp_path) -> Path:
    folder = tmp_path / "bucket" / "spring_launch"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("_markaestro"))
    return folder


def _posts(emulator) -> list[dict]:
    return httpx.get(f"{emulator.url}/_emulator/posts").json()["posts"]


def _ti_states(dr) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in dr.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def _expected_pairs(demo_seed) -> set[tuple[str, str]]:
    import yaml

    manifest = yaml.safe_load((SAMPLE / "campaign.yaml").read_text())
    destinations = {d.channel: d for d in demo_seed.products[0].destinations}
    pairs = set()
    for post in manifest["posts"]:
        for channel in post["channels"]:
            d = destinations[channel]
            pairs.add((post["key"], f"{d.provider}:{channel}:{d.account_id}"))
    return pairs


def test_campaign_runs_end_to_end_without_a_logical_date_and_never_posts_twice(
    markaestro, demo_seed, campaign_dag, bucket
):
    import json

    dr = campaign_dag.test(logical_date=None, run_conf={"campaign_url": bucket.as_uri()})
    assert dr.state == "success", _ti_states(dr)
    assert dr.logical_date is None

    ledger = json.loads((bucket / "_markaestro" / "ledger.json").read_text())
    pairs = {tuple(key.split("|", 1)) for key in ledger}
    assert pairs == _expected_pairs(demo_seed)
    assert len(pairs) >= 5 and len({e["channel"] for e in ledger.values()}) >= 4
    for entry in ledger.values():
        expected = "platform_action_required" if entry["channel"] == "tiktok" else "published"
        assert entry["status"] == expected, entry

    posts = _posts(markaestro)
    assert len(posts) == len(pairs)  # exactly one emulator post per (post, destination)
    assert {p["id"] for p in posts} == {e["post_id"] for e in ledger.values()}
    threads = next(p for p in posts if p["channel"] == "threads" and "Cafe" in p["caption"])
    assert threads["caption"] == "Cafe\u0301 ☕🚀 — the launch crew runs on coffee."  # byte for byte

    assert _asset_events(dr) == {f"markaestro://products/{demo_seed.products[0].id}/posts": len(pairs)}
    # each media file went up once, although several posts and destinations use it
    import yaml

    manifest = yaml.safe_load((SAMPLE / "campaign.yaml").read_text())
    media = {m for post in manifest["posts"] for m in post.get("media", [])}
    uploads = [r for r in _requests(markaestro) if r["method"] == "POST" and r["status"] == 201
               and r["path"] in ("/api/public/v1/media", "/api/public/v1/media/upload-sessions")]
    assert len(uploads) == len(media)
    report = xcom_values(dr, "return_value")[("record_and_report", -1)]
    assert report["counts"] == {"published": len(pairs) - 1, "platform_action_required": 1, "failed": 0,
                                "not_settled": 0}

    # A second run (with a logical date this time) sends nothing new and makes no mutating call.
    calls = len(_requests(markaestro))
    again = campaign_dag.test(run_conf={"campaign_url": bucket.as_uri()})
    assert again.state == "success", _ti_states(again)
    assert len(_posts(markaestro)) == len(pairs)
    assert _ti_states(again).get("create_post") in (None, ["skipped"])
    assert [r for r in _requests(markaestro)[calls:] if r["method"] != "GET"] == []
    assert _asset_events(again) == {}

    # A post added to the manifest is the only thing the next run sends; a post edited after it
    # went out is not sent again, and the report says so instead of dropping the edit silently.
    manifest = bucket / "campaign.yaml"
    manifest.write_text(manifest.read_text().replace("the launch crew runs on coffee", "the crew runs on tea") + """
  - key: late-addition
    caption: "One more thing."
    channels: [linkedin, threads]
""")
    third = campaign_dag.test(run_conf={"campaign_url": bucket.as_uri()})
    assert third.state == "success", _ti_states(third)
    new = [p for p in _posts(markaestro) if p["caption"] == "One more thing."]
    assert len(_posts(markaestro)) == len(pairs) + 2 and {p["channel"] for p in new} == {"linkedin", "threads"}
    third_report = xcom_values(third, "return_value")[("record_and_report", -1)]
    assert {r["post_key"] for r in third_report["posts"]} == {"late-addition"}
    held = third_report["held_back"]
    assert [(r["post_key"], r["channel"], r["outcome"]) for r in held] == [("cafe-thread", "threads", "held_back")]
    assert held[0]["post_id"] == threads["id"] and "new post key" in held[0]["error"]


def _requests(emulator) -> list[dict]:
    return httpx.get(f"{emulator.url}/_emulator/requests").json()["requests"]


def _asset_events(dag_run) -> dict[str, int]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (session.query(AssetModel.uri, AssetEvent.extra)
                .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetEvent.source_dag_id == dag_run.dag_id, AssetEvent.source_run_id == dag_run.run_id)
                .all())
    return {uri: extra["posts"] for uri, extra in rows}


def test_malformed_manifest_fails_before_any_http_call(markaestro, campaign_dag):
    broken = ROOT / "tests" / "campaign" / "fixtures" / "broken_campaign"
    before = len(_requests(markaestro))
    dr = campaign_dag.test(run_conf={"campaign_url": broken.as_uri()})
    assert dr.state == "failed"
    states = _ti_states(dr)
    assert states["load_campaign"] == ["failed"]
    assert states["record_and_report"] == ["skipped"]  # no second, confusing error on top of the real one
    assert states["fail_run_if_a_task_failed"] == ["failed"]
    assert _requests(markaestro)[before:] == []


def test_a_run_whose_api_calls_fail_is_red_even_though_the_report_succeeds(markaestro, set_conn, campaign_dag, bucket):
    wrong = "mk_live_HkAD4hoHWR1H0UbdnwOe.cli_00000000-0000-4000-8000-000000000000." + "x" * 32
    set_conn("markaestro_default", markaestro.url, wrong)
    dr = campaign_dag.test(run_conf={"campaign_url": bucket.as_uri()})
    states = _ti_states(dr)
    assert states["discover_destinations"] == ["failed"]
    assert states["record_and_report"] == ["success"]  # it still records (nothing) and reports
    assert dr.state == "failed"
    assert _posts(markaestro) == []


def test_a_run_where_nothing_fails_leaves_the_guard_skipped(markaestro, campaign_dag, tmp_path):
    folder = write_campaign(tmp_path / "empty", media=(),
                            manifest="name: empty\nproducts: {main: {conn_id: markaestro_default}}\nposts: []\n")
    before = len(_requests(markaestro))
    dr = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert dr.state == "success", _ti_states(dr)
    assert _ti_states(dr)["fail_run_if_a_task_failed"] == ["skipped"]
    assert _requests(markaestro)[before:] == []  # nothing to send: not a single API call


def test_two_products_fan_out_and_a_product_without_a_matching_destination_sends_nothing(
    markaestro, demo_seed, campaign_dag, tmp_path
):
    folder = write_campaign(tmp_path / "two_products", media=("launch-reel.mp4",), manifest="""
name: two-products
products:
  northwind: {conn_id: markaestro_default}
  orbit: {conn_id: markaestro_orbit}
posts:
  - key: both-brands
    caption: "Same words, two brands."
    channels: [facebook]
  - key: tiktok-only
    caption: "Orbit has no TikTok account."
    media: [launch-reel.mp4]
    channels: [tiktok]
    product: orbit
""")
    dr = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert dr.state == "success", _ti_states(dr)
    posts = _posts(markaestro)
    assert sorted((p["productId"], p["channel"]) for p in posts) == sorted(
        [(demo_seed.products[0].id, "facebook"), (demo_seed.products[1].id, "facebook")]
    )
    # the TikTok-only post of a product without TikTok caused no upload and no create
    assert not [r for r in _requests(markaestro) if r["path"] == "/api/public/v1/media"]


def _mutating(emulator, since: int) -> list[dict]:
    return [r for r in _requests(emulator)[since:] if r["method"] != "GET" and not r["path"].startswith("/_emulator")]


def test_publishes_whose_answers_were_lost_still_wait_on_their_own_post(markaestro, demo_seed, campaign_dag, bucket):
    """Two lost publish answers: the retry finds the post already publishing (409) and returns no
    run id. Each wait must still follow its own post, and the ledger must hold every pair."""
    import json

    httpx.post(f"{markaestro.url}/_emulator/faults", json={
        "method": "POST", "path_regex": "/publish$", "action": "drop_after_commit", "count": 2,
    }).raise_for_status()
    dr = campaign_dag.test(run_conf={"campaign_url": bucket.as_uri()})
    assert dr.state == "success", _ti_states(dr)
    ledger = json.loads((bucket / "_markaestro" / "ledger.json").read_text())
    posts = _posts(markaestro)
    assert {tuple(k.split("|", 1)) for k in ledger} == _expected_pairs(demo_seed)
    assert len(posts) == len(ledger)
    by_id = {p["id"]: p for p in posts}
    for key, entry in ledger.items():  # each pair's result is its own post's, not a neighbour's
        assert by_id[entry["post_id"]]["destinationId"] == key.split("|", 1)[1]
        assert entry["status"] == by_id[entry["post_id"]]["status"]
        assert entry["content_hash"]

    since = len(_requests(markaestro))
    again = campaign_dag.test(run_conf={"campaign_url": bucket.as_uri()})
    assert again.state == "success", _ti_states(again)
    assert _mutating(markaestro, since) == [] and len(_posts(markaestro)) == len(posts)


def test_a_run_that_lost_track_of_its_posts_never_sends_them_again(markaestro, demo_seed, set_conn, campaign_dag,
                                                                  tmp_path):
    """The waits fail (the API is down after publishing): the run is red and records each created
    post as ``created``; the next run reads them back and sends nothing a second time."""
    import json

    folder = write_campaign(tmp_path / "lost", media=(), manifest="""
name: lost-track
products: {northwind: {conn_id: markaestro_default}}
posts:
  - key: note
    caption: "Posted once, whatever happens."
    channels: [linkedin, threads]
""")
    set_conn("markaestro_default", markaestro.url, demo_seed.api_keys[0].key, max_retries=1)
    httpx.post(f"{markaestro.url}/_emulator/faults", json={
        "method": "GET", "path_regex": "/job-runs/", "action": "error_before_commit", "status": 503, "count": 1000,
    }).raise_for_status()
    dr = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert dr.state == "failed"
    assert set(_ti_states(dr)["wait_for_publish"]) == {"failed"}
    ledger = json.loads((folder / "_markaestro" / "ledger.json").read_text())
    assert len(ledger) == 2 and {e["status"] for e in ledger.values()} == {"created"}
    posts = _posts(markaestro)
    assert len(posts) == 2 and {e["post_id"] for e in ledger.values()} == {p["id"] for p in posts}

    httpx.delete(f"{markaestro.url}/_emulator/faults").raise_for_status()
    since = len(_requests(markaestro))
    again = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert again.state == "success", _ti_states(again)
    assert _mutating(markaestro, since) == [] and len(_posts(markaestro)) == 2
    ledger = json.loads((folder / "_markaestro" / "ledger.json").read_text())
    assert {e["status"] for e in ledger.values()} == {"published"}


def test_a_post_left_as_a_draft_is_published_by_the_next_run_not_created_again(markaestro, demo_seed, set_conn,
                                                                              campaign_dag, tmp_path):
    """Every publish fails (5xx): the drafts are recorded; the next run publishes those very posts."""
    import json

    folder = write_campaign(tmp_path / "drafts", media=("rocket.jpg",), manifest="""
name: drafts
products: {northwind: {conn_id: markaestro_default}}
posts:
  - key: rocket
    caption: "Lift-off."
    media: [rocket.jpg]
    channels: [threads]
""")
    set_conn("markaestro_default", markaestro.url, demo_seed.api_keys[0].key, max_retries=1)
    httpx.post(f"{markaestro.url}/_emulator/faults", json={
        "method": "POST", "path_regex": "/publish$", "action": "error_before_commit", "status": 503, "count": 1000,
    }).raise_for_status()
    dr = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert dr.state == "failed" and set(_ti_states(dr)["publish_post"]) == {"failed"}
    [draft] = _posts(markaestro)
    assert draft["status"] == "draft"

    httpx.delete(f"{markaestro.url}/_emulator/faults").raise_for_status()
    since = len(_requests(markaestro))
    again = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert again.state == "success", _ti_states(again)
    [post] = _posts(markaestro)
    assert post["id"] == draft["id"] and post["status"] == "published"
    sent = _mutating(markaestro, since)
    assert [r["path"] for r in sent] == [f"/api/public/v1/posts/{draft['id']}/publish"]  # no upload, no create
    ledger = json.loads((folder / "_markaestro" / "ledger.json").read_text())
    assert [e["status"] for e in ledger.values()] == ["published"]


def test_a_lost_ledger_does_not_duplicate_posts_sent_within_a_day(markaestro, campaign_dag, tmp_path):
    """Creates use a key derived from the campaign, product, post key, destination and content, so
    a run that finds no ledger at all replays the posts instead of creating them again."""
    folder = write_campaign(tmp_path / "no_ledger", media=("rocket.jpg",), manifest="""
name: no-ledger
products: {northwind: {conn_id: markaestro_default}}
posts:
  - key: words
    caption: "Said once."
    channels: [linkedin, threads]
  - key: picture
    caption: "Shown once."
    media: [rocket.jpg]
    channels: [threads]
""")
    first = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert first.state == "success", _ti_states(first)
    posts = _posts(markaestro)
    assert len(posts) == 3
    shutil.rmtree(folder / "_markaestro")
    os.utime(folder / "rocket.jpg", (1, 1))  # a re-sync or checkout changes the mtime, not the bytes

    again = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert again.state == "success", _ti_states(again)
    # the upload replayed the same asset (same file, same key), so the create replayed the same post
    assert sorted(p["id"] for p in _posts(markaestro)) == sorted(p["id"] for p in posts)
    assert (folder / "_markaestro" / "ledger.json").exists()


def test_a_run_that_died_before_its_report_never_sends_its_posts_again(markaestro, campaign_dag, tmp_path,
                                                                       monkeypatch):
    """Each create notes its post in the bucket at once; a run whose report never wrote the ledger
    (here: the ledger write fails, as if the run died) is picked up by the next run."""
    import json

    from airflow_provider_markaestro import fanout

    folder = write_campaign(tmp_path / "died", media=("rocket.jpg",), manifest="""
name: died
products: {northwind: {conn_id: markaestro_default}}
posts:
  - key: picture
    caption: "Out before the crash."
    media: [rocket.jpg]
    channels: [threads, facebook]
""")

    def crash(*args, **kwargs):
        raise RuntimeError("the run died before writing its ledger")

    with monkeypatch.context() as patched:
        patched.setattr(fanout, "record_results", crash)
        first = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert first.state == "failed" and set(_ti_states(first)["record_and_report"]) == {"failed"}
    assert not (folder / "_markaestro" / "ledger.json").exists()
    assert len(list((folder / "_markaestro" / "created").glob("*.json"))) == 2
    posts = _posts(markaestro)
    assert len(posts) == 2 and {p["status"] for p in posts} == {"published"}

    since = len(_requests(markaestro))
    again = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert again.state == "success", _ti_states(again)
    assert _mutating(markaestro, since) == [] and len(_posts(markaestro)) == 2
    ledger = json.loads((folder / "_markaestro" / "ledger.json").read_text())
    assert {e["post_id"] for e in ledger.values()} == {p["id"] for p in posts}
    assert {e["status"] for e in ledger.values()} == {"published"}
    assert list((folder / "_markaestro" / "created").glob("*.json")) == []


def test_a_caption_from_the_bucket_is_published_as_written_never_rendered(markaestro, campaign_dag, tmp_path):
    """Anyone who can write the bucket must not be able to publish a secret through Jinja."""
    import json

    caption = "Sale {{ 7 * 7 }} {{ conn.markaestro_default.password }} {% raw %}"
    folder = write_campaign(
        tmp_path / "jinja", media=(),
        manifest="name: jinja\nproducts: {northwind: {conn_id: markaestro_default}}\n"
        f"posts:\n  - key: braces\n    caption: {json.dumps(caption)}\n    channels: [linkedin]\n")
    dr = campaign_dag.test(run_conf={"campaign_url": folder.as_uri()})
    assert dr.state == "success", _ti_states(dr)
    assert [p["caption"] for p in _posts(markaestro)] == [caption]
