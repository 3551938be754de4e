"""plan_posts fan-out (per product, per destination, ledger skipping) and the ledger round trip."""

from __future__ import annotations

import json
import os

import pytest
from campaign_testlib import SAMPLE_DIR, write_campaign

from airflow_provider_markaestro import campaign as cm
from airflow_provider_markaestro.campaign import load_campaign, plan_posts, read_ledger, record_results

DESTINATIONS = [
    {"id": "meta:facebook:104938271234567", "provider": "meta", "channel": "facebook", "deliveryMode": "direct_publish"},
    {"id": "instagram:instagram:17841400000000000", "provider": "instagram", "channel": "instagram", "deliveryMode": "direct_publish"},
    {"id": "instagram:instagram:17841400000000001", "provider": "instagram", "channel": "instagram", "deliveryMode": "direct_publish"},
    {"id": "tiktok:tiktok:-000abcDEFopenid", "provider": "tiktok", "channel": "tiktok", "deliveryMode": "platform_inbox"},
    {"id": "threads:threads:25123456789012345", "provider": "threads", "channel": "threads", "deliveryMode": "direct_publish"},
    {"id": "linkedin:linkedin:2414183", "provider": "linkedin", "channel": "linkedin", "deliveryMode": "direct_publish"},
]
IG0, IG1 = DESTINATIONS[1]["id"], DESTINATIONS[2]["id"]
FB, TT, TH, LI = DESTINATIONS[0]["id"], DESTINATIONS[3]["id"], DESTINATIONS[4]["id"], DESTINATIONS[5]["id"]


@pytest.fixture(scope="module")
def sample():
    return load_campaign(SAMPLE_DIR)


@pytest.fixture(scope="module")
def asset_ids(sample):
    return {rel: f"ast_{i:08d}-0000-4000-8000-000000000000" for i, rel in enumerate(sample.media_files())}


def test_fan_out_one_entry_per_post_and_matching_destination(sample, asset_ids):
    plan = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})
    pairs = [(e["post_key"], e["destination_id"]) for e in plan]
    assert pairs == [
        ("launch-carousel", FB),
        ("launch-carousel", IG0),
        ("launch-carousel", IG1),
        ("launch-reel", FB),
        ("launch-reel", IG0),
        ("launch-reel", IG1),
        ("launch-tiktok", TT),
        ("launch-announcement", LI),
        ("cafe-thread", TH),
        ("office-cat", FB),
        ("office-cat", TH),
    ]
    for e in plan:
        assert set(e) == {
            "post_key", "product_id", "destination_id", "channel", "caption",
            "media_asset_ids", "delivery_mode", "settings", "idempotency_hint", "content_hash",
        }
        assert e["product_id"] == "prod_1"
    by = {(e["post_key"], e["destination_id"]): e for e in plan}
    carousel = by[("launch-carousel", IG0)]
    assert carousel["media_asset_ids"] == [asset_ids["rocket.jpg"], asset_ids["astronaut.png"], asset_ids["hubble-deep-field.jpg"]]
    assert carousel["settings"]["__type"] == "instagram" and carousel["settings"]["postType"] == "feed"
    assert carousel["caption"].endswith("#northwind")
    assert by[("launch-carousel", FB)]["settings"] is None
    assert not by[("launch-carousel", FB)]["caption"].endswith("#northwind")
    tiktok = by[("launch-tiktok", TT)]
    assert tiktok["delivery_mode"] == "platform_inbox"
    assert tiktok["settings"] == {"__type": "tiktok", "privacyLevel": "SELF_ONLY", "disableDuet": True}
    assert {e["delivery_mode"] for e in plan if e["channel"] != "tiktok"} == {"direct_publish"}
    assert by[("cafe-thread", TH)]["caption"] == "Cafe\u0301 ☕🚀 — the launch crew runs on coffee."
    assert by[("launch-announcement", LI)]["media_asset_ids"] == []
    json.dumps(plan)  # XCom-ready


def test_plan_accepts_the_campaign_as_xcom_json(sample, asset_ids):
    direct = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})
    assert plan_posts(sample.to_json(), "northwind", "prod_1", DESTINATIONS, asset_ids, {}) == direct
    assert plan_posts(sample.model_dump(mode="json"), "northwind", "prod_1", DESTINATIONS, asset_ids, {}) == direct


def test_ledger_skips_sent_pairs_and_retries_failed(sample, asset_ids):
    ledger = {
        cm.ledger_key("launch-carousel", IG0): {"post_id": "p1", "status": "published"},
        cm.ledger_key("launch-tiktok", TT): {"post_id": "p2", "status": "platform_action_required"},
        cm.ledger_key("office-cat", TH): {"post_id": "p3", "status": "failed"},
    }
    plan = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, ledger)
    pairs = [(e["post_key"], e["destination_id"]) for e in plan]
    assert ("launch-carousel", IG0) not in pairs
    assert ("launch-tiktok", TT) not in pairs
    assert ("launch-carousel", IG1) in pairs  # the other Instagram account still gets it
    retry = next(e for e in plan if (e["post_key"], e["destination_id"]) == ("office-cat", TH))
    assert retry["previous_post_id"] == "p3"
    assert len(plan) == 9


def test_nothing_to_send_returns_empty_list(sample, asset_ids):
    full = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})
    ledger = {cm.ledger_key(e["post_key"], e["destination_id"]): {"status": "published"} for e in full}
    assert plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, ledger) == []
    assert plan_posts(sample, "northwind", "prod_1", [], asset_ids, {}) == []


def test_idempotency_hint_is_stable_and_follows_content(sample, asset_ids):
    a = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})
    b = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})
    assert [e["idempotency_hint"] for e in a] == [e["idempotency_hint"] for e in b]
    assert len({e["idempotency_hint"] for e in a}) == len(a)
    changed = dict(asset_ids, **{"coffee.jpg": "ast_other"})
    c = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, changed, {})
    diff = [x["post_key"] for x, y in zip(a, c) if x["idempotency_hint"] != y["idempotency_hint"]]
    assert diff == ["cafe-thread"]
    assert all(len(e["idempotency_hint"]) <= 500 for e in a)


def test_missing_asset_id_and_unknown_product(sample, asset_ids):
    partial = {k: v for k, v in asset_ids.items() if k != "chelsea.jpg"}
    with pytest.raises(KeyError, match="chelsea.jpg"):
        plan_posts(sample, "northwind", "prod_1", DESTINATIONS, partial, {})
    with pytest.raises(KeyError, match="southwind"):
        plan_posts(sample, "southwind", "prod_2", DESTINATIONS, asset_ids, {})


def test_posts_without_product_go_to_every_product(tmp_path):
    folder = write_campaign(
        tmp_path / "c",
        "products: {north: {conn_id: mk_north}, south: {conn_id: mk_south}}\n"
        "posts:\n"
        "  - {key: shared, caption: Everyone, channels: [threads]}\n"
        "  - {key: north-only, caption: North, channels: [threads], product: north}\n"
        "  - {key: south-only, caption: South, media: [rocket.jpg], channels: [instagram, threads], product: south}\n",
    )
    camp = load_campaign(folder)
    dests = [DESTINATIONS[4]]
    north = plan_posts(camp, "north", "prod_n", dests, {}, {})
    south = plan_posts(camp, "south", "prod_s", dests, {"rocket.jpg": "ast_r"}, {})
    assert [e["post_key"] for e in north] == ["shared", "north-only"]
    assert [e["post_key"] for e in south] == ["shared", "south-only"]  # no Instagram destination: threads only
    assert {e["product_id"] for e in south} == {"prod_s"}


def test_caption_sent_verbatim(tmp_path):
    caption = "  leading and trailing spaces\u00a0\n"
    folder = write_campaign(tmp_path / "c", {"posts": [{"key": "v", "caption": caption, "channels": ["threads"]}]}, name="campaign.json")
    (entry,) = plan_posts(load_campaign(folder), "default", "prod", [DESTINATIONS[4]], {}, {})
    assert entry["caption"] == caption


def test_tiktok_manual_reminder_override_kept(tmp_path):
    folder = write_campaign(
        tmp_path / "c",
        "posts:\n  - key: t\n    caption: Hi\n    media: [launch-reel.mp4]\n    channels: [tiktok, instagram]\n"
        "    overrides: {tiktok: {deliveryMode: manual_reminder}, instagram: {delivery_mode: manual_reminder}}\n",
    )
    plan = plan_posts(load_campaign(folder), "default", "prod", DESTINATIONS, {"launch-reel.mp4": "ast_v"}, {})
    assert {e["delivery_mode"] for e in plan} == {"manual_reminder"}


# ------------------------------------------------------------------ ledger


def test_ledger_round_trip_local(sample_copy):
    assert read_ledger(sample_copy) == {}
    merged = record_results(
        sample_copy,
        [
            {"post_key": "launch-carousel", "destination_id": IG0, "post_id": "p1", "status": "published", "product_id": "prod_1", "channel": "instagram"},
            {"post_key": "office-cat", "destination_id": TH, "post_id": "p2", "status": "failed", "product_id": "prod_1", "channel": "threads", "error": "boom"},
        ],
    )
    ledger_file = sample_copy / "_markaestro" / "ledger.json"
    assert ledger_file.is_file()
    on_disk = json.loads(ledger_file.read_text())
    assert on_disk == merged == read_ledger(sample_copy.as_uri())
    entry = on_disk[f"launch-carousel|{IG0}"]
    assert {k: entry[k] for k in ("post_id", "status", "product_id", "channel")} == {
        "post_id": "p1", "status": "published", "product_id": "prod_1", "channel": "instagram",
    }
    assert entry["updated_at"].endswith("Z")
    assert on_disk[f"office-cat|{TH}"]["error"] == "boom"
    # merge: the retry succeeds, the earlier entry stays
    record_results(sample_copy, [{"post_key": "office-cat", "destination_id": TH, "post_id": "p3", "status": "published", "product_id": "prod_1", "channel": "threads"}])
    ledger = read_ledger(sample_copy)
    assert set(ledger) == {f"launch-carousel|{IG0}", f"office-cat|{TH}"}
    assert ledger[f"office-cat|{TH}"]["post_id"] == "p3" and "error" not in ledger[f"office-cat|{TH}"]
    assert sorted(p.name for p in (sample_copy / "_markaestro").iterdir()) == ["ledger.json"]  # no temp files left
    # the ledger folder is invisible to the campaign listing
    camp = load_campaign(sample_copy)
    assert "_markaestro" not in camp.files and "ledger.json" not in camp.files


def test_ledger_drives_the_next_plan(sample_copy):
    camp = load_campaign(sample_copy)
    ids = {rel: "ast_" + rel for rel in camp.media_files()}
    first = plan_posts(camp, "northwind", "prod_1", DESTINATIONS, ids, read_ledger(sample_copy))
    record_results(sample_copy, [dict(e, post_id=f"p{i}", status="published") for i, e in enumerate(first)])
    assert plan_posts(camp, "northwind", "prod_1", DESTINATIONS, ids, read_ledger(sample_copy)) == []


def test_a_sent_post_edited_in_the_manifest_is_not_resent_but_warned_about(sample_copy, caplog):
    camp = load_campaign(sample_copy)
    ids = {rel: "ast_" + rel for rel in camp.media_files()}
    first = plan_posts(camp, "northwind", "prod_1", DESTINATIONS, ids, {})
    record_results(sample_copy, [dict(e, post_id=f"p{i}", status="published") for i, e in enumerate(first)])
    manifest = sample_copy / "campaign.yaml"
    manifest.write_text(manifest.read_text().replace("the launch crew runs on coffee", "the crew runs on tea"))
    edited = load_campaign(sample_copy)
    with caplog.at_level("WARNING", logger="airflow_provider_markaestro.campaign"):
        assert plan_posts(edited, "northwind", "prod_1", DESTINATIONS, ids, read_ledger(sample_copy)) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "post cafe-thread was already sent to " + TH in warnings[0]
    assert "new post key" in warnings[0]
    held = cm.held_back(edited, read_ledger(sample_copy))  # what the report lists as not sent again
    assert [(r["post_key"], r["destination_id"], r["post_id"], r["outcome"]) for r in held] == [
        ("cafe-thread", TH, next(f"p{i}" for i, e in enumerate(first) if e["post_key"] == "cafe-thread"), "held_back")
    ]
    assert cm.held_back(camp, read_ledger(sample_copy)) == []  # the unedited manifest holds nothing back


def test_held_back_ignores_unsent_removed_unchanged_and_older_scheme_pairs(sample_copy):
    camp = load_campaign(sample_copy)
    ids = {rel: "ast_" + rel for rel in camp.media_files()}
    first = plan_posts(camp, "northwind", "prod_1", DESTINATIONS, ids, {})
    statuses = ["published", "failed", "publishing", "created", "scheduled"]
    # per pair: unchanged (its own hash), edited (another comparable hash), or an older hash scheme
    hashes = [lambda e: e["content_hash"], lambda e: "c2-old", lambda e: "0123456789abcdef0123456789abcdef"]
    record_results(sample_copy, [dict(e, post_id=f"p{i}", status=statuses[i % 5], content_hash=hashes[i % 3](e))
                                 for i, e in enumerate(first)]
                   + [{"post_key": "gone-from-manifest", "destination_id": TH, "channel": "threads",
                       "post_id": "px", "status": "published", "content_hash": "c2-old"}])
    held = cm.held_back(camp, read_ledger(sample_copy))
    expected = {(e["post_key"], e["destination_id"]) for i, e in enumerate(first)
                if i % 3 == 1 and statuses[i % 5] in ("published", "publishing", "scheduled")}
    assert {(r["post_key"], r["destination_id"]) for r in held} == expected and expected


def test_record_results_requires_keys(sample_copy):
    with pytest.raises(ValueError, match="destination_id"):
        record_results(sample_copy, [{"post_key": "a", "status": "published"}])
    assert record_results(sample_copy, []) == {}
    assert not (sample_copy / "_markaestro").exists()


def test_sent_statuses():
    assert cm.is_sent({"status": "published"}) and cm.is_sent({"status": "platform_action_required"})
    assert not cm.is_sent({"status": "failed"}) and not cm.is_sent(None) and not cm.is_sent({})


def test_an_unsent_post_with_the_same_content_is_reused_with_its_own_media(sample, asset_ids):
    first = {(e["post_key"], e["destination_id"]): e for e in plan_posts(sample, "northwind", "prod_1", DESTINATIONS,
                                                                         asset_ids, {})}
    carousel = first[("launch-carousel", IG0)]
    earlier_media = [f"ast_old{i}" for i in range(len(carousel["media_asset_ids"]))]
    entry = {"post_id": "p9", "status": "failed", "content_hash": carousel["content_hash"],
             "media_asset_ids": earlier_media}
    plan = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids,
                      {cm.ledger_key("launch-carousel", IG0): entry})
    reused = next(e for e in plan if (e["post_key"], e["destination_id"]) == ("launch-carousel", IG0))
    assert reused["reuses_post"] and reused["previous_post_id"] == "p9"
    assert reused["media_asset_ids"] == earlier_media  # no new upload for it

    for changed in ({"content_hash": "c2-edited-since"}, {"status": "missing"}, {"media_asset_ids": earlier_media[:1]}):
        plan = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids,
                          {cm.ledger_key("launch-carousel", IG0): {**entry, **changed}})
        fresh = next(e for e in plan if (e["post_key"], e["destination_id"]) == ("launch-carousel", IG0))
        assert "reuses_post" not in fresh and fresh["media_asset_ids"] == carousel["media_asset_ids"], changed


def test_a_post_deleted_since_is_sent_under_a_new_key(sample, asset_ids):
    key = cm.ledger_key("office-cat", TH)
    fresh = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})
    hint = next(e for e in fresh if (e["post_key"], e["destination_id"]) == ("office-cat", TH))["idempotency_hint"]

    def hint_with(entry):
        plan = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {key: entry})
        return next(e for e in plan if (e["post_key"], e["destination_id"]) == ("office-cat", TH))["idempotency_hint"]

    assert hint_with({"post_id": "p1", "status": "failed", "updated_at": "2026-12-01T00:00:00Z"}) == hint
    gone = hint_with({"post_id": "", "status": "missing", "updated_at": "2026-12-01T00:00:00Z"})
    assert gone != hint  # the old key would replay the deleted post
    assert hint_with({"post_id": "", "status": "missing", "updated_at": "2026-12-02T00:00:00Z"}) != gone


def test_a_post_still_publishing_is_never_joined_by_a_second_one(sample, asset_ids):
    key = cm.ledger_key("office-cat", TH)
    [current] = [e for e in plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})
                 if (e["post_key"], e["destination_id"]) == ("office-cat", TH)]
    media = [f"ast_old{i}" for i in range(len(current["media_asset_ids"]))]

    def planned(content_hash, status="publishing"):
        entry = {"post_id": "p1", "status": status, "content_hash": content_hash, "media_asset_ids": media}
        plan = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {key: entry})
        return [e for e in plan if (e["post_key"], e["destination_id"]) == ("office-cat", TH)]

    for status in ("publishing", "scheduled"):  # Markaestro sends a scheduled run by itself (§8.9 retry)
        [same] = planned(current["content_hash"], status)
        assert same["reuses_post"] and same["previous_post_id"] == "p1"  # follow the post going out
        assert planned("c2-edited-since", status) == []  # not a second post beside the one going out


def test_a_ledger_from_before_content_identity_by_bytes_is_never_taken_for_edited(sample, asset_ids):
    """Older hashes (local media by mtime, no prefix) cannot be compared: an unsent post is reused
    (the create operator checks the post itself), a sent or scheduled one is neither re-sent nor held back."""
    key = cm.ledger_key("office-cat", TH)
    [current] = [e for e in plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})
                 if (e["post_key"], e["destination_id"]) == ("office-cat", TH)]
    legacy = {"post_id": "p1", "channel": "threads", "content_hash": "0123456789abcdef0123456789abcdef",
              "media_asset_ids": [f"ast_old{i}" for i in range(len(current["media_asset_ids"]))]}

    def planned(status):
        plan = plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {key: {**legacy, "status": status}})
        return [e for e in plan if (e["post_key"], e["destination_id"]) == ("office-cat", TH)]

    [failed] = planned("failed")
    assert failed["reuses_post"] and failed["media_asset_ids"] == legacy["media_asset_ids"]  # no new upload
    [scheduled] = planned("scheduled")
    assert scheduled["reuses_post"]  # followed, never a second post beside it
    assert planned("published") == []
    assert cm.held_back(sample, {key: {**legacy, "status": "published"}}) == []


def test_a_media_file_replaced_under_its_name_is_new_content(sample, asset_ids):
    before = {(e["post_key"], e["destination_id"]): e["content_hash"]
              for e in plan_posts(sample, "northwind", "prod_1", DESTINATIONS, asset_ids, {})}
    files = dict(sample.files)
    files["rocket.jpg"] = files["rocket.jpg"].model_copy(update={"version": "mtime=1"})
    replaced = sample.model_copy(update={"files": files})
    after = {(e["post_key"], e["destination_id"]): e["content_hash"]
             for e in plan_posts(replaced, "northwind", "prod_1", DESTINATIONS, asset_ids, {})}
    users = {k for k in before if "rocket.jpg" in next(p.media for p in sample.posts if p.key == k[0])}
    assert users and all(before[k] != after[k] for k in users)
    assert all(before[k] == after[k] for k in before if k not in users)


def test_a_touched_media_file_is_the_same_content_and_new_bytes_are_not(sample_copy):
    """Local files are identified by their bytes: a copy, checkout or re-sync moves the mtime only."""
    image = sample_copy / "rocket.jpg"
    before = load_campaign(sample_copy).files["rocket.jpg"].version
    assert before.startswith("sha256=")
    os.utime(image, (1, 1))
    assert load_campaign(sample_copy).files["rocket.jpg"].version == before
    image.write_bytes(image.read_bytes() + b"\0")
    assert load_campaign(sample_copy).files["rocket.jpg"].version != before
