"""§7.2 `POST /media`: multipart parsing, type/size checks, probed dimensions, storage."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import RAW, KEY_NORTHWIND, MP4, P, RL_HEADERS, Api, assert_error, demo_seed_dict, gif, jpeg, png, webp


@pytest.mark.parametrize(
    ("name", "mime", "data", "size"),
    [
        ("a.png", "image/png", png(7, 5), (7, 5)),
        ("a.gif", "image/gif", gif(300, 200), (300, 200)),
        ("a.jpg", "image/jpeg", jpeg(1080, 1350), (1080, 1350)),
        ("a.webp", "image/webp", webp(640, 480), (640, 480)),
        ("clip.mp4", "video/mp4", MP4, (None, None)),
    ],
)
def test_upload_returns_asset_with_probed_dimensions(api: Api, name: str, mime: str, data: bytes, size: tuple[int, int]) -> None:
    response = api.upload(name, data, mime)
    assert response.status_code == 201 and all(h in response.headers for h in RL_HEADERS)
    asset = response.json()["asset"]
    assert list(asset) == ["id", "type", "mimeType", "sizeBytes", "width", "height", "url", "createdAt"]
    assert asset["id"].startswith("ast_") and len(asset["id"]) == 40
    assert (asset["type"], asset["mimeType"], asset["sizeBytes"]) == (mime.split("/")[0], mime, len(data))
    assert (asset["width"], asset["height"]) == size
    folder = "videos" if mime.startswith("video/") else "public-media"
    assert f"%2F{folder}%2F{asset['id']}." in asset["url"]
    download = RAW.get(asset["url"])
    assert download.status_code == 200 and download.content == data
    assert RAW.get(asset["url"].split("&token=")[0] + "&token=wrong").status_code == 404


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ({"other": ("a.png", b"x", "image/png")}, "VALIDATION_NO_FILE_PROVIDED"),
        ({"file": ("a.png", b"", "image/png")}, "VALIDATION_NO_FILE_PROVIDED"),
        ({"file": ("a.bin", b"x", "application/octet-stream")}, "VALIDATION_INVALID_FILE_TYPE"),
        ({"file": ("a.svg", b"<svg/>", "image/svg+xml")}, "VALIDATION_INVALID_FILE_TYPE"),
        ({"file": ("a.png", b"x" * (10 * 1024 * 1024 + 1), "image/png")}, "VALIDATION_FILE_TOO_LARGE_10MB"),
    ],
)
def test_upload_rejections(api: Api, files: dict[str, tuple[str, bytes, str]], code: str) -> None:
    response = api.post(f"{P}/media", files=files)
    assert response.status_code == 400 and response.json()["error"] == code
    assert "x-ratelimit-limit" not in response.headers


def test_plain_text_field_named_file_is_not_a_file(api: Api) -> None:
    response = api.post(f"{P}/media", data={"file": "not a file"}, files={"x": ("a.png", b"x", "image/png")})
    assert response.json()["error"] == "VALIDATION_NO_FILE_PROVIDED"


def test_non_multipart_body_is_internal_error(api: Api) -> None:
    response = api.post(f"{P}/media", content=png(1, 1), headers={"Content-Type": "image/png"})
    assert response.status_code == 500 and response.json()["error"] == "INTERNAL_ERROR"


def test_storage_quota_is_a_route_built_402(start_server: Callable[..., EmulatorServer]) -> None:
    seed = demo_seed_dict()
    seed["workspace"]["storage_limit_bytes"] = 100
    server = start_server(seed)
    api = Api(server, KEY_NORTHWIND)
    try:
        assert api.upload("a.png", b"\x89PNG" + b"x" * 60, "image/png").status_code == 201
        refused = api.upload("b.png", b"\x89PNG" + b"x" * 60, "image/png")
        assert_error(refused, 402, "QUOTA_EXCEEDED_STORAGE", rid=False, rl=True)
    finally:
        api.close()
