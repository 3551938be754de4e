"""The HTML index at `/`: what the server is, where its surfaces are, the recent posts; never a secret."""

from __future__ import annotations

from airflow_provider_markaestro.emulator import EmulatorServer

from .support import RAW, P, Api, png


def test_index_page_links_health_and_api_bases(server: EmulatorServer) -> None:
    page = RAW.get(f"{server.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Markaestro emulator" in page.text
    assert "href='/_emulator/health'" in page.text
    assert P in page.text and "/api/connect/v1" in page.text
    assert "mk_live_" not in page.text


def test_index_page_lists_created_posts_without_secrets(api: Api, server: EmulatorServer) -> None:
    asset = api.upload_ok("pic.png", png(64, 64), "image/png")
    first = api.create_ok({"channel": "threads", "caption": "first <b>post</b>", "mediaAssetIds": [asset["id"]]})
    second = api.create_ok({"channel": "linkedin", "caption": "second post"})
    hook = api.post(f"{P}/webhook-endpoints", json={"url": "https://hooks.example.com/m", "events": ["post.published"]})
    assert hook.status_code == 201, hook.text
    page = RAW.get(f"{server.url}/")
    assert page.status_code == 200
    for post in (first, second):
        assert f"href='/app/posts/{post['id']}'" in page.text
        assert RAW.get(f"{server.url}/app/posts/{post['id']}").status_code == 200
    assert page.text.index(second["id"]) < page.text.index(first["id"])  # newest first
    assert "&lt;b&gt;" in page.text and "<b>post" not in page.text
    for secret in ("mk_live_", "whsec_", "token=", hook.json()["webhookEndpoint"]["secret"]):
        assert secret not in page.text
