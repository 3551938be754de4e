"""campaign.py: manifest (YAML/JSON/CSV), folder listing, validation reporting everything at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from campaign_testlib import BROKEN_DIR, ROOT, SAMPLE_DIR, write_campaign

from airflow_provider_markaestro import campaign as cm
from airflow_provider_markaestro.campaign import Campaign, CampaignValidationError, load_campaign

SAMPLE_MEDIA_ORDER = ["rocket.jpg", "astronaut.png", "hubble-deep-field.jpg", "launch-reel.mp4", "coffee.jpg", "chelsea.jpg"]
SAMPLE_LISTING = ["astronaut.png", "chelsea.jpg", "coffee.jpg", "hubble-deep-field.jpg", "launch-reel.mp4", "rocket.jpg"]


def problems_of(location) -> list[str]:
    with pytest.raises(CampaignValidationError) as info:
        load_campaign(location)
    return [str(p) for p in info.value.problems]


# ------------------------------------------------------------------ the sample campaign


def test_sample_campaign_loads():
    camp = load_campaign(str(SAMPLE_DIR))
    assert camp.name == "spring-launch"
    assert camp.manifest == "campaign.yaml"
    assert camp.location == SAMPLE_DIR.as_uri()
    assert {a: p.conn_id for a, p in camp.products.items()} == {"northwind": "markaestro_default"}
    keys = [p.key for p in camp.posts]
    assert len(keys) >= 5 and len(set(keys)) == len(keys)
    assert camp.media_files() == SAMPLE_MEDIA_ORDER
    assert list(camp.files) == SAMPLE_LISTING  # CREDITS.md and campaign.yaml are not media
    assert camp.files["launch-reel.mp4"].kind == "video"
    assert camp.files["rocket.jpg"].size == (SAMPLE_DIR / "rocket.jpg").stat().st_size
    channels = {c for p in camp.posts for c in p.channels}
    assert channels == {"instagram", "facebook", "linkedin", "threads", "tiktok"}
    thread = next(p for p in camp.posts if p.channels == ["threads"] and "\u0301" in p.caption)
    assert "☕" in thread.caption and "🚀" in thread.caption
    reel = next(p for p in camp.posts if p.key == "launch-reel")
    assert camp.settings_for(reel, "instagram") == {"__type": "instagram", "postType": "reel"}
    tiktok = next(p for p in camp.posts if "tiktok" in p.channels)
    assert tiktok.media == ["launch-reel.mp4"]
    assert tiktok.delivery_mode_for("tiktok") == "platform_inbox"
    assert camp.settings_for(tiktok, "tiktok")["privacyLevel"] == "SELF_ONLY"
    linkedin = next(p for p in camp.posts if p.channels == ["linkedin"])
    assert linkedin.media == []


def test_sample_credits_kept():
    credits = (SAMPLE_DIR / "CREDITS.md").read_text()
    for f in SAMPLE_LISTING:
        assert f in credits
    shared = Path("/work/shared/sample-media")
    if shared.exists():  # the committed copies are the real files, byte for byte
        for f in SAMPLE_LISTING:
            assert (SAMPLE_DIR / f).read_bytes() == (shared / f).read_bytes()


def test_location_forms_give_the_same_campaign():
    from airflow.sdk import ObjectStoragePath

    a = load_campaign(str(SAMPLE_DIR))
    b = load_campaign(SAMPLE_DIR.as_uri())
    c = load_campaign(ObjectStoragePath(SAMPLE_DIR.as_uri()))
    d = load_campaign(str(SAMPLE_DIR) + "/")
    assert a == b == c == d


def test_campaign_is_json_serializable():
    camp = load_campaign(SAMPLE_DIR)
    text = camp.to_json()
    assert Campaign.from_json(text) == camp
    assert Campaign.from_json(json.loads(text)) == camp
    json.dumps(camp.model_dump(mode="json"))  # what XCom stores


def test_yaml_and_json_manifests_are_equivalent(tmp_path):
    data = yaml.safe_load((SAMPLE_DIR / "campaign.yaml").read_text(encoding="utf-8"))
    folder = tmp_path / "spring_launch"
    shutil.copytree(SAMPLE_DIR, folder)
    (folder / "campaign.yaml").unlink()
    (folder / "campaign.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    from_json = load_campaign(folder)
    from_yaml = load_campaign(SAMPLE_DIR)
    assert from_json.manifest == "campaign.json"
    strip = lambda posts: [p.model_dump(exclude={"source"}) for p in posts]  # noqa: E731
    assert strip(from_json.posts) == strip(from_yaml.posts)
    assert from_json.posts[0].source == "campaign.json posts[0] (key=launch-carousel)"
    assert from_json.products == from_yaml.products


def test_schema_file_is_up_to_date(tmp_path):
    committed = ROOT / "airflow_provider_markaestro" / "campaign_schema.json"
    generated = cm.export_json_schema(tmp_path / "schema.json")
    assert committed.read_text(encoding="utf-8") == generated.read_text(encoding="utf-8"), (
        "regenerate with: python -c \"from airflow_provider_markaestro.campaign import export_json_schema; "
        "export_json_schema('airflow_provider_markaestro/campaign_schema.json')\""
    )


def test_schema_accepts_the_sample_and_rejects_typos():
    import jsonschema

    schema = json.loads((ROOT / "airflow_provider_markaestro" / "campaign_schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    sample = yaml.safe_load((SAMPLE_DIR / "campaign.yaml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(sample)) == []
    sample["posts"][0]["overrides"]["instagram"]["settings"]["post_type"] = "feed"
    sample["posts"][1]["channels"] = ["myspace"]
    assert len(list(validator.iter_errors(sample))) == 2


def test_import_is_light():
    code = "import sys, airflow_provider_markaestro.campaign; print(sorted(m for m in ('airflow', 'airflow.sdk', 'yaml', 'httpx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ listing


def test_listing_ignores_markers_hidden_subfolders_and_non_media(tmp_path):
    folder = write_campaign(tmp_path / "c", "posts: []\n", media=("rocket.jpg", "launch-reel.mp4"))
    (folder / ".hidden.jpg").write_bytes((SAMPLE_DIR / "coffee.jpg").read_bytes())
    (folder / "sub").mkdir()
    shutil.copyfile(SAMPLE_DIR / "coffee.jpg", folder / "sub" / "coffee.jpg")
    (folder / "_markaestro").mkdir()
    (folder / "_markaestro" / "ledger.json").write_text("{}")
    (folder / "README.txt").write_text("notes")
    assert list(cm.list_media(folder)) == ["launch-reel.mp4", "rocket.jpg"]
    camp = load_campaign(folder)
    assert list(camp.files) == ["launch-reel.mp4", "rocket.jpg"]
    assert camp.posts == [] and camp.media_files() == []
    assert camp.products == {"default": cm.ProductRef(conn_id="markaestro_default")}
    assert camp.name == "c"


def test_open_media_streams_binary():
    with cm.open_media(SAMPLE_DIR.as_uri(), "launch-reel.mp4") as fh:
        head = fh.read(12)
    assert head[4:8] == b"ftyp"
    with pytest.raises(ValueError, match="sub-folders"):
        cm.open_media(SAMPLE_DIR, "../secret.jpg")


# ------------------------------------------------------------------ validation


def test_broken_fixture_reports_every_problem_at_once():
    problems = problems_of(BROKEN_DIR)
    text = "\n".join(problems)
    expected = [
        "campaign.yaml posts[0] (key=too-many-images) media: 11 items given (11 images), at most 10 allowed for instagram",
        "campaign.yaml posts[1] (key=lonely-carousel) media: one image given where an Instagram carousel needs at least two",
        "campaign.yaml posts[2] (key=lonely-carousel) key: duplicate post key 'lonely-carousel'",
        "campaign.yaml posts[2] (key=lonely-carousel) channels: unknown channel 'myspace'",
        "campaign.yaml posts[2] (key=lonely-carousel) media[0]: missing.jpg: not found in the campaign folder",
        "campaign.yaml posts[2] (key=lonely-carousel) media[1]: notes.txt: file type .txt is not allowed",
        "campaign.yaml posts[3] (key=emoji-thread) caption: 502 characters given",
        "at most 500 allowed for threads",
        "campaign.yaml posts[4] (key=blank-linkedin) caption: blank caption given, linkedin requires a non-blank caption",
        "campaign.yaml posts[5] (key=mixed-tiktok) product: unknown product alias 'southwind'",
        "campaign.yaml posts[5] (key=mixed-tiktok) overrides.tiktok.settings.privacy_level: unknown tiktok setting",
        "campaign.yaml posts[5] (key=mixed-tiktok) overrides.tiktok.settings.privacyLevel: 'EVERYONE' given",
        "campaign.yaml posts[5] (key=mixed-tiktok) media: 1 image + 1 video given, tiktok cannot combine a video with images",
    ]
    for e in expected:
        assert e in text, e
    assert len(problems) == 12


def test_a_wrongly_typed_field_does_not_hide_the_posts_other_problems(tmp_path):
    folder = write_campaign(tmp_path / "c", media=("rocket.jpg",))
    (folder / "campaign.yaml").write_text(
        "posts:\n"
        "  - {key: A B, caption: 123, media: [missing.jpg], channels: [threads], overrides: {linkedin: {caption: x}}}\n"
        "  - {key: ok, caption: fine, channels: [threads]}\n"
    )
    problems = problems_of(folder)
    where = "campaign.yaml posts[0] (key=A B)"
    assert [p for p in problems if p.startswith(f"{where} caption:")]  # the type error itself
    for field in ("key: 'A B' is not a slug", "media[0]: missing.jpg: not found", "overrides.linkedin: the post does not target"):
        assert any(p.startswith(f"{where} {field}") for p in problems), (field, problems)
    assert not any("caption: blank" in p or "requires" in p for p in problems), problems  # nothing about the dropped caption
    assert len(problems) == 4


def test_a_type_error_reports_no_problem_of_the_defaults_it_would_fall_back_to(tmp_path):
    folder = write_campaign(tmp_path / "c", media=("rocket.jpg",))
    (folder / "campaign.yaml").write_text(
        "posts:\n"
        "  - {key: a, caption: hi, channels: {threads: true}}\n"  # not 'all' channels' rules
        f"  - {{key: b, caption: {'x' * 600}, channels: [threads], overrides: {{threads: {{caption: short, delivery_mode: 5}}}}}}\n"
        "  - {key: c, caption: '', media: rocket.jpg, channels: [facebook]}\n"  # no 'empty caption and 0 media'
        "  - {key: c, caption: 5, channels: [threads]}\n"  # the duplicate key is still found
    )
    problems = problems_of(folder)
    assert not any("requires" in p or "600 characters" in p or "0 media" in p for p in problems), problems
    assert any("posts[3] (key=c) key: duplicate post key 'c'" in p for p in problems), problems
    assert any("overrides.threads.delivery_mode" in p for p in problems), problems


def test_oversize_and_empty_files_use_listing_sizes(tmp_path):
    folder = write_campaign(tmp_path / "c", media=("rocket.jpg",))
    with open(folder / "huge.png", "wb") as fh:  # sparse: 10 MiB + 1 byte without writing them
        fh.truncate(10 * 1024 * 1024 + 1)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "campaign.yaml").write_text(
        "posts:\n"
        "  - {key: big, caption: Big, media: [huge.png, rocket.jpg], channels: [facebook]}\n"
        "  - {key: empty, caption: Empty, media: [empty.mp4], channels: [facebook]}\n"
    )
    problems = problems_of(folder)
    assert problems == [
        "campaign.yaml posts[0] (key=big) media[0]: huge.png: image of 10,485,761 bytes (10.0 MiB) given, at most 10,485,760 bytes (10.0 MiB) allowed",
        "campaign.yaml posts[1] (key=empty) media[0]: empty.mp4: file is empty (0 bytes)",
    ]


def test_caption_override_is_checked_per_channel(tmp_path):
    folder = write_campaign(
        tmp_path / "c",
        {
            "posts": [
                {
                    "key": "long",
                    "caption": "short",
                    "media": ["rocket.jpg"],
                    "channels": ["facebook", "threads"],
                    "overrides": {"threads": {"caption": "é" * 10 + "🚀" * 246}, "facebook": {"caption": "x" * 3999}},
                }
            ]
        },
        name="campaign.json",
    )
    assert problems_of(folder) == [
        "campaign.json posts[0] (key=long) overrides.threads.caption: 502 characters given (UTF-16 code units, as the server counts), at most 500 allowed for threads"
    ]


def test_structural_errors_do_not_hide_other_posts(tmp_path):
    folder = write_campaign(
        tmp_path / "c",
        "products: {northwind: {conn: x}}\n"
        "posts:\n"
        "  - {key: ok-post, caption: Fine, channels: [threads], colour: red}\n"
        "  - {key: Bad Key, caption: Fine, channels: threads}\n"
        "  - {key: no-media, caption: Hi, channels: [instagram]}\n"
        "  - 42\n",
    )
    problems = problems_of(folder)
    text = "\n".join(problems)
    assert "campaign.yaml products.northwind.conn: Extra inputs are not permitted" in text
    assert "campaign.yaml products.northwind.conn_id: Field required" in text
    assert "campaign.yaml posts[0] (key=ok-post) colour: Extra inputs are not permitted" in text
    assert "campaign.yaml posts[1] (key=Bad Key) key: 'Bad Key' is not a slug" in text
    assert "campaign.yaml posts[2] (key=no-media) media: 0 items given, instagram requires at least 1 media item" in text
    assert "campaign.yaml posts[3] (post): must be a mapping, got int" in text


def test_delivery_modes_and_pinterest(tmp_path):
    folder = write_campaign(
        tmp_path / "c",
        "defaults: {delivery_mode: platform_inbox}\n"
        "posts:\n"
        "  - {key: a, caption: Hi, media: [rocket.jpg], channels: [instagram, tiktok]}\n"
        "  - {key: b, caption: Hi, media: [rocket.jpg], channels: [pinterest]}\n"
        "  - {key: c, caption: Hi, channels: [threads], delivery_mode: mail}\n",
    )
    problems = problems_of(folder)
    assert problems == [
        "campaign.yaml posts[0] (key=a) defaults.delivery_mode: platform_inbox given, instagram only supports direct_publish or manual_reminder",
        "campaign.yaml posts[1] (key=b) channels: pinterest has no API destination (only manual reminders without a destination), campaigns cannot target it",
        "campaign.yaml posts[2] (key=c) delivery_mode: 'mail' given, must be one of direct_publish, platform_inbox, manual_reminder",
    ]


def test_channels_all_means_every_destination_channel(tmp_path):
    folder = write_campaign(tmp_path / "c", "posts:\n  - {key: a, caption: Hi, media: [rocket.jpg], channels: all}\n")
    camp = load_campaign(folder)
    assert camp.posts[0].channels == ["facebook", "instagram", "tiktok", "threads", "linkedin"]
    (folder / "campaign.yaml").write_text("posts:\n  - {key: a, caption: Hi}\n")  # default channels = all
    problems = problems_of(folder)
    assert problems == [
        "campaign.yaml posts[0] (key=a) media: 0 items given, instagram requires at least 1 media item",
        "campaign.yaml posts[0] (key=a) media: 0 items given, tiktok requires at least 1 media item",
    ]


def test_manifest_file_problems(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (p,) = problems_of(empty)
    assert "no manifest found" in p
    bad_yaml = write_campaign(tmp_path / "bad", "posts:\n  - key: a\n    caption: [unclosed\n", media=())
    (p,) = problems_of(bad_yaml)
    assert p.startswith("campaign.yaml line ") and "invalid YAML" in p
    bad_json = write_campaign(tmp_path / "badj", '{"posts": [,]}', name="campaign.json", media=())
    (p,) = problems_of(bad_json)
    assert p.startswith("campaign.json line 1 column 12") and "invalid JSON" in p
    two = write_campaign(tmp_path / "two", "posts: []\n", media=())
    (two / "campaign.json").write_text("{}")
    (p,) = problems_of(two)
    assert "several manifests" in p
    (p,) = problems_of(tmp_path / "nowhere")
    assert "campaign folder not found" in p


# ------------------------------------------------------------------ CSV content calendar

CSV_TEXT = (
    "\ufeffpost_key,caption,media,channels,product,delivery_mode,caption.instagram,settings.instagram.postType,"
    "settings.tiktok.privacyLevel,settings.tiktok.disableComment,settings.instagram.collaborators\n"
    'carousel,"Two frames 🚀",rocket.jpg|astronaut.png,instagram|facebook,,,"Two frames 🚀 #ig",carousel,,,alice|bob\n'
    "reel,Reel,launch-reel.mp4,instagram|tiktok,,,,reel,SELF_ONLY,true,\n"
    ",,,,,,,,,,\n"
    '"text-only","  Line one\n  Line two  ",,linkedin|threads,,manual_reminder,,,,,\n'
)


def test_csv_calendar_standalone(tmp_path):
    folder = write_campaign(tmp_path / "cal", CSV_TEXT, name="campaign.csv")
    camp = load_campaign(folder)
    assert camp.manifest == "campaign.csv" and camp.name == "cal"
    assert [p.key for p in camp.posts] == ["carousel", "reel", "text-only"]
    carousel, reel, text = camp.posts
    assert carousel.media == ["rocket.jpg", "astronaut.png"]
    assert carousel.channels == ["instagram", "facebook"]
    assert carousel.caption_for("instagram") == "Two frames 🚀 #ig"
    assert carousel.caption_for("facebook") == "Two frames 🚀"
    assert camp.settings_for(carousel, "instagram") == {"__type": "instagram", "postType": "feed", "collaborators": ["alice", "bob"]}
    assert camp.settings_for(reel, "tiktok") == {"__type": "tiktok", "privacyLevel": "SELF_ONLY", "disableComment": True}
    assert text.caption == "  Line one\n  Line two  "  # verbatim, never stripped
    assert text.delivery_mode == "manual_reminder"
    assert camp.media_files() == ["rocket.jpg", "astronaut.png", "launch-reel.mp4"]


def test_csv_calendar_problems_name_rows(tmp_path):
    text = (
        "post_key,caption,media,channels,settings.tiktok.privacy,colour\n"
        "ok,Fine,rocket.jpg,facebook,,\n"
        "one,Only one,rocket.jpg,instagram,,\n"
        "one,Again,rocket.jpg|launch-reel.mp4,tiktok,,\n"
    )
    folder = write_campaign(tmp_path / "cal", text, name="campaign.csv")
    problems = problems_of(folder)
    assert problems[0].startswith("campaign.csv row 1 column 'settings.tiktok.privacy': unknown column")
    assert problems[1].startswith("campaign.csv row 1 column 'colour': unknown column")
    assert "campaign.csv row 4 (key=one) key: duplicate post key 'one' (first used at campaign.csv row 3 (key=one))" in problems
    assert "campaign.csv row 4 (key=one) media: 1 image + 1 video given, tiktok cannot combine a video with images" in problems
    assert len(problems) == 4


def test_csv_problem_fields_are_column_names(tmp_path):
    text = (
        "post_key,caption,media,channels,caption.threads,settings.tiktok.privacyLevel,settings.instagram.postType\n"
        "a,Hi,launch-reel.mp4,threads|tiktok|instagram," + "🚀" * 251 + ",EVERYONE,story\n"
    )
    folder = write_campaign(tmp_path / "cal", text, name="campaign.csv")
    assert problems_of(folder) == [
        "campaign.csv row 2 (key=a) caption.threads: 502 characters given (UTF-16 code units, as the server counts), at most 500 allowed for threads",
        "campaign.csv row 2 (key=a) settings.tiktok.privacyLevel: 'EVERYONE' given, must be one of PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR, SELF_ONLY",
    ]


def test_yaml_manifest_with_csv_calendar(tmp_path):
    folder = write_campaign(tmp_path / "mix", CSV_TEXT, name="posts.csv")
    (folder / "campaign.yaml").write_text(
        "name: mixed\nproducts: {northwind: {conn_id: mk_northwind}}\ncalendar: posts.csv\n"
        "posts:\n  - {key: extra, caption: Extra, channels: [threads]}\n"
    )
    camp = load_campaign(folder)
    assert [p.key for p in camp.posts] == ["extra", "carousel", "reel", "text-only"]
    assert camp.products["northwind"].conn_id == "mk_northwind"
    # a stray campaign.csv beside a YAML manifest is reported, not silently ignored
    shutil.copyfile(folder / "posts.csv", folder / "campaign.csv")
    (p,) = problems_of(folder)
    assert "campaign.csv is in the folder but not used" in p


def test_campaign_not_modified_on_disk(tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(SAMPLE_DIR, folder)
    before = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}
    load_campaign(folder)
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == before
    assert not (folder / "_markaestro").exists()
    assert os.listdir(folder)


def test_an_override_for_a_channel_the_post_does_not_target_is_a_problem(tmp_path):
    folder = write_campaign(tmp_path / "c", {"posts": [{
        "key": "a", "caption": "Hi", "media": ["rocket.jpg"], "channels": ["facebook"],
        "overrides": {"threads": {"caption": "never sent"}},
    }]}, name="campaign.json")
    assert problems_of(folder) == [
        "campaign.json posts[0] (key=a) overrides.threads: the post does not target threads (its channels: "
        "facebook); add threads to channels or remove the override"
    ]
