"""The example campaign DAG end to end in real Airflow (``dag.test()``) against the emulator."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

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

    # A second run (scheduled, with a logical date this time) sends nothing new.
    again = campaign_dag.test(run_conf={"campaign_url": bucket.as_uri()})
    assert again.state == "success", _ti_states(again)
    assert len(_posts(markaestro)) == len(pairs)
    assert _ti_states(again).get("create_post") in (None, ["skipped"])
