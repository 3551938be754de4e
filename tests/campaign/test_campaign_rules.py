"""rules.py: UTF-16 caption counting, every channel rule, settings rules, media types/sizes, messages."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_markaestro import rules
from airflow_provider_markaestro.rules import (
    ContentProblem,
    MarkaestroContentError,
    caption_length,
    check_media_file,
    check_post,
    js_trim,
    media_kind,
    mime_type_for,
)

IG = "instagram:instagram:17841400000000000"


# ------------------------------------------------------------------ caption length (UTF-16)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abc", 3),
        ("🚀", 2),  # outside the BMP: a surrogate pair
        ("☕", 1),  # U+2615 is in the BMP
        ("e\u0301", 2),  # combining acute accent counts on its own
        ("Cafe\u0301 ☕🚀", 9),
        ("🇫🇷", 4),  # flag = two regional indicators, each a surrogate pair
        ("👩\u200d👩\u200d👧", 8),  # ZWJ family: 3 × 2 + 2 joiners
        ("\ud83d", 1),  # a lone surrogate is one JS code unit
    ],
)
def test_caption_length_counts_utf16_code_units(text, expected):
    assert caption_length(text) == expected


def test_caption_length_is_not_normalised():
    composed = "Caf\u00e9"  # é precomposed
    decomposed = "Cafe\u0301"  # e + combining acute
    assert caption_length(composed) == 4
    assert caption_length(decomposed) == 5


def test_emoji_caption_that_python_len_would_pass_is_refused():
    caption = "🚀" * 251  # len() == 251 but 502 UTF-16 code units
    assert len(caption) < 500
    problems = check_post("threads", caption, [], None, "threads:threads:1")
    assert [(p.field, p.given, p.limit) for p in problems] == [("caption", 502, 500)]
    assert check_post("threads", "🚀" * 250, [], None, "threads:threads:1") == []


def test_caption_measured_after_js_trim_but_never_altered():
    caption = "  " + "a" * 500 + "\n\ufeff"
    before = caption
    assert check_post("threads", caption, [], None, "t") == []
    assert caption == before
    assert js_trim("\ufeff x \u00a0") == "x"
    assert js_trim("\x1cx\x1c") == "\x1cx\x1c"  # Python's strip() would remove these, JS trim() does not
    assert js_trim("\u0085x") == "\u0085x"


# ------------------------------------------------------------------ per-channel rules


@pytest.mark.parametrize(
    ("channel", "limit"),
    [("facebook", 4000), ("instagram", 2200), ("tiktok", 2200), ("threads", 500), ("pinterest", 500), ("linkedin", 3000)],
)
def test_caption_max_per_channel(channel, limit):
    media = ["image"] if channel in ("instagram", "tiktok", "pinterest") else []
    assert check_post(channel, "x" * limit, media, None, "dest") == []
    problems = check_post(channel, "x" * (limit + 1), media, None, "dest")
    assert len(problems) == 1
    p = problems[0]
    assert (p.field, p.given, p.limit) == ("caption", limit + 1, limit)
    assert p.code == f"VALIDATION_{channel.upper()}_CAPTION_TOO_LONG"
    assert str(p).startswith("dest caption: ")
    assert f"{limit + 1} characters" in p.message and f"at most {limit}" in p.message and channel in p.message


@pytest.mark.parametrize(
    ("channel", "limit"),
    [("facebook", 10), ("instagram", 10), ("tiktok", 35), ("threads", 10), ("pinterest", 5), ("linkedin", 20)],
)
def test_max_media_items_per_channel(channel, limit):
    assert check_post(channel, "caption", ["image"] * limit, None, "dest") == []
    problems = check_post(channel, "caption", ["image"] * (limit + 1), None, "dest")
    assert [(p.field, p.given, p.limit, p.code) for p in problems] == [
        ("mediaAssetIds", limit + 1, limit, "VALIDATION_TOO_MANY_MEDIA_ASSETS")
    ]


def test_message_names_where_field_size_and_limit():
    (p,) = check_post("instagram", "hi", ["image"] * 11, None, IG)
    assert str(p) == f"{IG} mediaAssetIds: 11 items given (11 images), at most 10 allowed for instagram"


@pytest.mark.parametrize("channel", ["instagram", "tiktok", "pinterest"])
def test_media_required(channel):
    problems = check_post(channel, "caption", [], None, "dest")
    assert [(p.field, p.given, p.limit, p.code) for p in problems] == [
        ("mediaAssetIds", 0, 1, f"VALIDATION_{channel.upper()}_REQUIRES_MEDIA")
    ]


@pytest.mark.parametrize("channel", ["facebook", "threads", "linkedin"])
def test_text_only_allowed(channel):
    assert check_post(channel, "Just words", [], None, "dest") == []


def test_facebook_needs_caption_or_media():
    assert check_post("facebook", "", ["image"], None, "fb") == []
    assert check_post("facebook", "words", [], None, "fb") == []
    for caption in ("", "  \n", None):
        (p,) = check_post("facebook", caption, [], None, "fb")
        assert p.code == "VALIDATION_FACEBOOK_POST_REQUIRES_CONTENT_OR_MEDIA"
        assert "caption" in p.field and "mediaAssetIds" in p.field


@pytest.mark.parametrize("caption", ["", " \t ", "\u3000\ufeff\n"])
def test_linkedin_needs_non_blank_caption_even_with_media(caption):
    """Blank = empty after JavaScript trim(), so U+3000/U+FEFF count as whitespace (Connect does not trim for us)."""
    (p,) = check_post("linkedin", caption, ["image"], None, "li")
    assert p.code == "VALIDATION_LINKEDIN_POST_REQUIRES_CONTENT" and p.field == "caption"
    assert str(p) == "li caption: blank caption given, linkedin requires a non-blank caption"


@pytest.mark.parametrize("channel", ["pinterest", "linkedin"])
def test_video_must_be_the_only_item(channel):
    assert check_post(channel, "c", ["video"], None, "d") == []
    assert check_post(channel, "c", ["image", "image"], None, "d") == []
    (p,) = check_post(channel, "c", ["video", "image"], None, "d")
    assert "video must be the only item" in p.message and p.given == 2 and p.limit == 1


def test_tiktok_video_rules():
    assert check_post("tiktok", "c", ["video"], None, "tt") == []
    assert check_post("tiktok", "c", ["image"] * 35, None, "tt") == []
    (p,) = check_post("tiktok", "c", ["video", "video"], None, "tt")
    assert p.given == 2 and p.limit == 1 and "at most 1" in p.message
    (p,) = check_post("tiktok", "c", ["video", "image"], None, "tt")
    assert "cannot combine a video with images" in p.message


def test_instagram_and_facebook_allow_mixed_media():
    assert check_post("instagram", "c", ["image", "video", "image"], None, "ig") == []
    assert check_post("facebook", "c", ["video", "video", "image"], None, "fb") == []


def test_unknown_media_kinds_count_but_match_no_video_rule():
    assert check_post("tiktok", "c", ["unknown", "unknown"], None, "tt") == []
    (p,) = check_post("pinterest", "c", ["unknown"] * 6, None, "pin")
    assert p.given == 6 and p.limit == 5


def test_unknown_channel():
    (p,) = check_post("myspace", "c", [], None, "x")
    assert p.field == "channel" and "myspace" in p.message


# ------------------------------------------------------------------ settings


def test_instagram_settings_limits():
    ok = {"__type": "instagram", "postType": "feed", "collaborators": ["a", "b", "c"], "altText": ["x"] * 10}
    assert check_post("instagram", "c", ["image"] * 10, ok, IG) == []
    bad = {"collaborators": ["a", "b", "c", "d"], "altText": ["x"] * 11}
    problems = check_post("instagram", "c", ["image"] * 10, bad, IG)
    by_field = {p.field: p for p in problems}
    assert by_field["settings.collaborators"].given == 4 and by_field["settings.collaborators"].limit == 3
    assert by_field["settings.altText"].given == 11 and by_field["settings.altText"].limit == 10
    assert str(by_field["settings.collaborators"]) == f"{IG} settings.collaborators: 4 items given, at most 3 allowed for instagram"


def test_instagram_collaborator_length_and_post_types():
    problems = check_post("instagram", "c", ["image"], {"collaborators": ["x" * 61, "  "]}, IG)
    assert {(p.field, p.given, p.limit) for p in problems} == {
        ("settings.collaborators[0]", 61, 60),
        ("settings.collaborators[1]", 0, 1),
    }
    (p,) = check_post("instagram", "c", ["image"], {"postType": "carousel"}, IG)
    assert p.field == "settings.postType"
    (p,) = check_post("instagram", "c", ["image", "image"], {"postType": "story"}, IG)
    assert "exactly 1" in p.message
    (p,) = check_post("instagram", "c", ["image"], {"postType": "reel"}, IG)
    assert "1 video" in p.message
    assert check_post("instagram", "c", ["video"], {"postType": "reel"}, IG) == []


def test_settings_type_must_match_channel():
    (p,) = check_post("tiktok", "c", ["video"], {"__type": "instagram"}, "tt")
    assert p.code == "VALIDATION_SETTINGS_CHANNEL_MISMATCH" and p.field == "settings.__type"
    (p,) = check_post("facebook", "c", [], {"__type": "instagram"}, "fb")
    assert p.code == "VALIDATION_SETTINGS_CHANNEL_MISMATCH"
    (p,) = check_post("threads", "c", [], {"__type": "pinterest"}, "th")
    assert p.field == "settings.__type"


def test_tiktok_settings_values():
    good = {"__type": "tiktok", "postMode": "direct_post", "privacyLevel": "SELF_ONLY", "disableDuet": True, "photoCoverIndex": 9}
    assert check_post("tiktok", "c", ["image"], good, "tt") == []
    bad = {"postMode": "now", "privacyLevel": "EVERYONE", "disableDuet": "yes", "photoCoverIndex": 10}
    fields = {p.field for p in check_post("tiktok", "c", ["image"], bad, "tt")}
    assert fields == {"settings.postMode", "settings.privacyLevel", "settings.disableDuet", "settings.photoCoverIndex"}


def test_delivery_mode_per_channel():
    assert check_post("tiktok", "c", ["video"], None, "tt", delivery_mode="platform_inbox") == []
    (p,) = check_post("instagram", "c", ["image"], None, IG, delivery_mode="platform_inbox")
    assert p.code == "VALIDATION_DELIVERY_MODE_NOT_SUPPORTED_FOR_CHANNEL"
    assert rules.default_delivery_mode("tiktok") == "platform_inbox"
    assert rules.default_delivery_mode("tiktok", "direct_publish") == "platform_inbox"
    assert rules.default_delivery_mode("tiktok", "manual_reminder") == "manual_reminder"
    assert rules.default_delivery_mode("instagram") == "direct_publish"


def test_all_problems_reported_at_once():
    problems = check_post("instagram", "x" * 2201, ["image"] * 11, {"collaborators": list("abcd")}, IG)
    assert {p.field for p in problems} == {"mediaAssetIds", "caption", "settings.collaborators"}
    err = MarkaestroContentError(problems)
    assert isinstance(err, ValueError)
    text = str(err)
    for p in problems:
        assert str(p) in text
    clone = pickle.loads(pickle.dumps(err))
    assert clone.problems == problems and str(clone) == text


def test_field_names_can_be_renamed():
    (p,) = check_post("instagram", "c", ["image"] * 11, None, "campaign.yaml posts[0]", field_names={"mediaAssetIds": "media"})
    assert str(p).startswith("campaign.yaml posts[0] media: 11 items given (11 images)")


# ------------------------------------------------------------------ media types and sizes


@pytest.mark.parametrize(
    ("name", "mime", "kind"),
    [
        ("a.png", "image/png", "image"),
        ("a.jpg", "image/jpeg", "image"),
        ("a.JPEG", "image/jpeg", "image"),
        ("a.webp", "image/webp", "image"),
        ("a.gif", "image/gif", "image"),
        ("a.mp4", "video/mp4", "video"),
        ("a.mov", "video/quicktime", "video"),
        ("a.webm", "video/webm", "video"),
        ("a.avi", "video/x-msvideo", "video"),
        ("a.mkv", "video/x-matroska", "video"),
        ("a.txt", None, None),
        ("a.heic", None, None),
        ("noext", None, None),
    ],
)
def test_mime_lookup(name, mime, kind):
    assert mime_type_for(name) == mime
    assert media_kind(name) == kind
    if mime:
        assert media_kind(mime) == kind


def test_media_size_caps():
    image_max, video_max = 10 * 1024 * 1024, 250 * 1024 * 1024
    assert rules.MAX_IMAGE_BYTES == image_max and rules.MAX_VIDEO_BYTES == video_max
    assert check_media_file("a.png", image_max, "f") == []
    (p,) = check_media_file("a.png", image_max + 1, "f")
    assert (p.given, p.limit, p.code) == (image_max + 1, image_max, "VALIDATION_FILE_TOO_LARGE_IMAGE")
    assert "a.png" in p.message and "10,485,760" in p.message
    assert check_media_file("a.mp4", video_max, "f") == []
    (p,) = check_media_file("a.mp4", video_max + 1, "f")
    assert p.limit == video_max and "262,144,000" in p.message
    (p,) = check_media_file("a.mp4", 0, "f")
    assert p.given == 0
    (p,) = check_media_file("a.txt", 10, "f")
    assert p.code == "VALIDATION_INVALID_FILE_TYPE" and p.given == ".txt"


def test_content_problem_is_plain_data():
    p = ContentProblem("w", "caption", "m", given=3, limit=2, code="X")
    assert p.to_dict() == {"where": "w", "field": "caption", "message": "m", "given": 3, "limit": 2, "code": "X"}
