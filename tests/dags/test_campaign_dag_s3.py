"""The scheduled ``markaestro_campaign`` DAG over an ``s3://`` bucket (moto server on loopback)."""

from __future__ import annotations

import json

from .conftest import SAMPLE, emulator_posts, load_dag, return_value, task_states


def _expected_pairs(demo_seed) -> set[tuple[str, str]]:
    import yaml

    manifest = yaml.safe_load((SAMPLE / "campaign.yaml").read_text())
    destinations = {d.channel: d for d in demo_seed.products[0].destinations}
    return {
        (post["key"], f"{destinations[ch].provider}:{ch}:{destinations[ch].account_id}")
        for post in manifest["posts"] for ch in post["channels"]
    }


def test_campaign_dag_over_s3_posts_once_per_destination_and_writes_the_ledger(markaestro, demo_seed, s3_conn):
    client, bucket = s3_conn["client"], s3_conn["bucket"]
    prefix = "spring_launch_dag"
    for f in sorted(SAMPLE.iterdir()):
        if f.is_file():
            client.upload_file(str(f), bucket, f"{prefix}/{f.name}")
    conf = {"campaign_url": f"s3://{bucket}/{prefix}", "storage_conn_id": s3_conn["conn_id"]}
    dag = load_dag("markaestro_campaign", "markaestro_campaign.py")

    dr = dag.test(logical_date=None, run_conf=conf)
    assert dr.state == "success", task_states(dr)

    expected = _expected_pairs(demo_seed)
    posts = emulator_posts(markaestro)
    assert len(posts) == len(expected)  # one post per (campaign post, destination)
    assert {(p["channel"], p["destinationId"]) for p in posts} == {(d.split(":")[1], d) for _, d in expected}

    body = client.get_object(Bucket=bucket, Key=f"{prefix}/_markaestro/ledger.json")["Body"].read()
    ledger = json.loads(body)
    assert {tuple(k.split("|", 1)) for k in ledger} == expected
    assert {e["post_id"] for e in ledger.values()} == {p["id"] for p in posts}
    report = return_value("markaestro_campaign", dr.run_id, "record_and_report")
    assert sum(report["counts"].values()) == len(expected) and report["counts"]["failed"] == 0

    # A second run reads the ledger from the bucket and sends nothing new.
    again = dag.test(logical_date=None, run_conf=conf)
    assert again.state == "success", task_states(again)
    assert len(emulator_posts(markaestro)) == len(expected)
    assert task_states(again).get("create_post") in (None, ["skipped"])
