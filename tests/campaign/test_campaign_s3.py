"""The same campaign read from S3 (a real moto server on loopback) through ObjectStoragePath."""

from __future__ import annotations

import json

import pytest
from campaign_testlib import BROKEN_DIR, SAMPLE_DIR, upload_folder

from airflow_provider_markaestro import campaign as cm
from airflow_provider_markaestro.campaign import CampaignValidationError, load_campaign, read_ledger, record_results


@pytest.fixture(scope="module")
def s3_sample(moto_s3):
    upload_folder(moto_s3["client"], moto_s3["bucket"], "spring_launch", SAMPLE_DIR)
    return f"s3://{moto_s3['bucket']}/spring_launch"


def test_s3_listing_ignores_marker_hidden_and_subfolder(moto_s3, s3_sample):
    keys = {o["Key"] for o in moto_s3["client"].list_objects_v2(Bucket=moto_s3["bucket"], Prefix="spring_launch")["Contents"]}
    assert {"spring_launch/", "spring_launch/.DS_Store", "spring_launch/archive/", "spring_launch/archive/old-coffee.jpg"} <= keys
    media = cm.list_media(s3_sample, conn_id=moto_s3["conn_id"])
    assert {k: m.size for k, m in media.items()} == {
        p.name: p.stat().st_size for p in sorted(SAMPLE_DIR.iterdir()) if p.suffix in (".jpg", ".png", ".mp4")
    }
    assert list(media) == sorted(media)


def test_s3_load_matches_local(moto_s3, s3_sample):
    local = load_campaign(SAMPLE_DIR)
    remote = load_campaign(s3_sample, conn_id=moto_s3["conn_id"])
    assert remote.location == s3_sample and remote.conn_id == moto_s3["conn_id"]
    assert remote.media_files() == local.media_files()
    def without_version(files):
        return {rel: f.model_copy(update={"version": ""}) for rel, f in files.items()}

    assert without_version(remote.files) == without_version(local.files)
    # each store says what identifies a file's content: S3 its ETag; local files are hashed
    assert all(f.version.lower().startswith("etag=") for f in remote.files.values()), remote.files
    assert all(f.version.startswith("sha256=") for f in local.files.values()), local.files
    assert remote.posts == local.posts
    again = cm.Campaign.from_json(remote.to_json())
    assert again == remote
    with cm.open_media(again, "launch-reel.mp4") as fh:  # conn_id travels with the campaign
        assert fh.read(4096) == (SAMPLE_DIR / "launch-reel.mp4").read_bytes()[:4096]


def test_s3_object_storage_path_with_conn_id(moto_s3, s3_sample):
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(s3_sample + "/", conn_id=moto_s3["conn_id"])
    assert load_campaign(path).media_files() == load_campaign(SAMPLE_DIR).media_files()


def test_s3_broken_campaign_reports_the_same_problems(moto_s3):
    upload_folder(moto_s3["client"], moto_s3["bucket"], "broken", BROKEN_DIR)
    with pytest.raises(CampaignValidationError) as local:
        load_campaign(BROKEN_DIR)
    with pytest.raises(CampaignValidationError) as remote:
        load_campaign(f"s3://{moto_s3['bucket']}/broken", conn_id=moto_s3["conn_id"])
    assert [str(p) for p in remote.value.problems] == [str(p) for p in local.value.problems]


def test_s3_oversize_file_uses_listing_size(moto_s3):
    client, bucket = moto_s3["client"], moto_s3["bucket"]
    client.put_object(Bucket=bucket, Key="big/campaign.yaml", Body=b"posts:\n  - {key: big, caption: Big, media: [huge.gif], channels: [threads]}\n")
    client.put_object(Bucket=bucket, Key="big/huge.gif", Body=b"\0" * (10 * 1024 * 1024 + 1))
    with pytest.raises(CampaignValidationError) as info:
        load_campaign(f"s3://{bucket}/big", conn_id=moto_s3["conn_id"])
    (p,) = info.value.problems
    assert (p.field, p.given, p.limit) == ("media[0]", 10 * 1024 * 1024 + 1, 10 * 1024 * 1024)


def test_s3_ledger_round_trip(moto_s3, s3_sample):
    conn_id, client, bucket = moto_s3["conn_id"], moto_s3["client"], moto_s3["bucket"]
    assert read_ledger(s3_sample, conn_id=conn_id) == {}
    record_results(
        s3_sample,
        [{"post_key": "cafe-thread", "destination_id": "threads:threads:1", "post_id": "p1", "status": "failed", "product_id": "prod", "channel": "threads"}],
        conn_id=conn_id,
    )
    record_results(
        s3_sample,
        [
            {"post_key": "cafe-thread", "destination_id": "threads:threads:1", "post_id": "p2", "status": "published", "product_id": "prod", "channel": "threads"},
            {"post_key": "launch-tiktok", "destination_id": "tiktok:tiktok:x", "post_id": "p3", "status": "platform_action_required", "product_id": "prod", "channel": "tiktok"},
        ],
        conn_id=conn_id,
    )
    body = client.get_object(Bucket=bucket, Key="spring_launch/_markaestro/ledger.json")["Body"].read()
    ledger = json.loads(body)
    assert ledger == read_ledger(s3_sample, conn_id=conn_id)
    assert ledger["cafe-thread|threads:threads:1"]["post_id"] == "p2"
    assert ledger["launch-tiktok|tiktok:tiktok:x"]["status"] == "platform_action_required"
    ledger_keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="spring_launch/_markaestro/")["Contents"]]
    assert ledger_keys == ["spring_launch/_markaestro/ledger.json"]  # temp object moved away
    # the ledger does not disturb the campaign
    assert load_campaign(s3_sample, conn_id=conn_id).media_files() == load_campaign(SAMPLE_DIR).media_files()
