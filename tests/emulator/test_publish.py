"""§7.4/§7.5/§8.8: publish preconditions and the run/post lifecycle per delivery mode.

Time is moved with the admin clock instead of sleeping. The lifecycle tests run on the slow server
(queued, running and TikTok inbox phases of 10 s each, support.SLOW_CLOCK): emulator time is wall
clock + offset, so with the demo's 0.2 s / 0.3 s / 0.5 s a loaded CI runner could let a run leave the
phase under test between two requests. Each advance lands just past a boundary, leaving ~10 s of slack.
"""

from __future__ import annotations

from collections.abc import Callable


from airflow_provider_markaestro.emulator import EmulatorServer

from .support import RAW, KEY_NORTHWIND, MP4, NORTHWIND, P, SLOW_INBOX, SLOW_QUEUED, SLOW_RUNNING, Api, png, slow_seed_dict

QUEUED, RUNNING, INBOX = SLOW_QUEUED, SLOW_RUNNING, SLOW_INBOX


def _publish(api: Api, post_id: str) -> dict[str, object]:
    response = api.publish(post_id)
    assert response.status_code == 202, response.text
    assert "x-ratelimit-limit" in response.headers
    run: dict[str, object] = response.json()["run"]
    return run


def test_direct_publish_lifecycle(slow_api: Api) -> None:
    api = slow_api
    post = api.create_ok({"channel": "linkedin", "caption": "We shipped."})
    run = _publish(api, post["id"])
    assert list(run) == ["id", "type", "status", "resourceType", "resourceId", "createdAt"]
    assert (run["type"], run["status"], run["resourceType"], run["resourceId"]) == ("publish_post", "queued", "post", post["id"])
    queued = api.run(str(run["id"]))
    assert (queued["status"], queued["message"], queued["startedAt"], queued["details"]) == ("queued", "Publish queued", None, {})
    assert api.post_of(post["id"])["status"] == "draft"  # unchanged at queue time

    api.advance(QUEUED + 0.01)
    running = api.run(str(run["id"]))
    assert (running["status"], running["message"]) == ("running", "Publish started")
    assert api.post_of(post["id"])["status"] == "publishing"

    api.advance(RUNNING)
    done = api.run(str(run["id"]))
    assert (done["status"], done["message"]) == ("succeeded", "Post published")
    assert done["startedAt"] < done["finishedAt"]
    published = api.post_of(post["id"])
    assert published["status"] == "published"
    assert published["externalId"].startswith("urn:li:share:") and done["details"] == {
        "externalId": published["externalId"],
        "externalUrl": published["externalUrl"],
    }
    assert published["publishResults"] == [
        {"channel": "linkedin", "success": True, "externalId": published["externalId"], "externalUrl": published["externalUrl"]}
    ]
    conflict = api.publish(post["id"])
    assert conflict.status_code == 409
    assert conflict.json() == {"error": "VALIDATION_POST_ALREADY_PUBLISHING", "message": "Post is already published"}
    assert "x-ratelimit-limit" in conflict.headers


def test_manual_reminder_lifecycle_and_confirmation(slow_api: Api) -> None:
    api = slow_api
    image = api.upload_ok("a.png", png(2, 2), "image/png")["id"]
    post = api.create_ok({"channel": "instagram", "caption": "Monday", "mediaAssetIds": [image]})
    run = _publish(api, post["id"])
    again = api.publish(post["id"])  # still queued: the same run comes back
    assert again.status_code == 202 and again.json()["run"] == run
    api.advance(QUEUED + 0.01)
    assert api.post_of(post["id"])["status"] == "draft"  # manual posts do not go `publishing`
    api.advance(RUNNING)
    done = api.run(str(run["id"]))
    assert (done["status"], done["message"], done["details"]) == ("succeeded", "Post is ready for manual posting", {"actionRequired": True})
    ready = api.post_of(post["id"])
    assert (ready["status"], ready["nextAction"]) == ("platform_action_required", "post_manually_from_reminder")
    assert ready["publishResults"] == [
        {"channel": "instagram", "success": False, "actionRequired": True, "nextAction": "post_manually_from_reminder"}
    ]
    conflict = api.publish(post["id"])
    assert (conflict.status_code, conflict.json()["message"]) == (409, "Post is already ready for platform action")

    confirmed = api.admin("POST", f"/posts/{post['id']}/mark-posted", json={"externalUrl": "https://www.instagram.com/p/Cx1/"})
    assert confirmed.status_code == 200 and confirmed.json()["publishedVia"] == "manual"
    final = api.post_of(post["id"])
    assert (final["status"], final["nextAction"], final["externalId"]) == ("published", "", "Cx1")
    assert api.admin("POST", f"/posts/{post['id']}/mark-posted").status_code == 409


def test_tiktok_inbox_lifecycle(slow_api: Api) -> None:
    api = slow_api
    video = api.upload_ok("v.mp4", MP4, "video/mp4")["id"]
    post = api.create_ok({"channel": "tiktok", "mediaAssetIds": [video], "deliveryMode": "platform_inbox"})
    run = _publish(api, post["id"])
    api.advance(QUEUED + RUNNING + 0.01)
    done = api.run(str(run["id"]))
    assert (done["status"], done["message"]) == ("succeeded", "Publish handed off to platform")
    publish_id = done["details"]["externalId"]
    assert done["details"] == {"pending": True, "externalId": publish_id} and publish_id.startswith("v_inbox_file~v2.")
    handed_off = api.post_of(post["id"])
    assert (handed_off["status"], handed_off["externalId"]) == ("publishing", publish_id)
    assert handed_off["publishResults"] == [{"channel": "tiktok", "success": False, "pending": True, "externalId": publish_id}]
    assert api.publish(post["id"]).json()["message"] == "Post is already publishing"

    api.advance(INBOX)
    inbox = api.post_of(post["id"])
    assert (inbox["status"], inbox["nextAction"]) == ("platform_action_required", "open_tiktok_inbox_and_complete_posting")
    assert inbox["publishResults"] == [{"channel": "tiktok", "success": True, "pending": False, "externalId": publish_id}]


def test_tiktok_direct_post_goes_live(slow_api: Api) -> None:
    api = slow_api
    video = api.upload_ok("v.mp4", MP4, "video/mp4")["id"]
    post = api.create_ok(
        {
            "channel": "tiktok",
            "mediaAssetIds": [video],
            "deliveryMode": "direct_publish",
            "settings": {"__type": "tiktok", "postMode": "direct_post", "privacyLevel": "SELF_ONLY"},
        }
    )
    run = _publish(api, post["id"])
    api.advance(QUEUED + RUNNING + 0.01)
    assert api.run(str(run["id"]))["details"]["externalId"].startswith("v_pub_file~v2.")
    api.advance(INBOX)
    live = api.post_of(post["id"])
    assert live["status"] == "published" and live["externalUrl"].startswith("https://www.tiktok.com/@northwind.coffee/video/")


def test_failing_and_slow_destinations(start_server: Callable[..., EmulatorServer]) -> None:
    seed = slow_seed_dict()
    destinations = {d["provider"]: d for d in seed["products"][0]["destinations"]}
    destinations["threads"]["behaviour"] = {"fail_reason": "Threads API error: media fetch failed"}
    # running = publish_seconds + media_processing_seconds = 60 s (instead of RUNNING)
    destinations["linkedin"]["behaviour"] = {"publish_seconds": 40, "media_processing_seconds": 20}
    server = start_server(seed)
    api = Api(server, KEY_NORTHWIND)
    try:
        post = api.create_ok({"channel": "threads", "caption": "will fail"})
        first = _publish(api, post["id"])
        api.advance(QUEUED + RUNNING + 0.01)
        failed = api.run(str(first["id"]))
        assert (failed["status"], failed["message"], failed["details"]) == ("failed", "Threads API error: media fetch failed", {})
        assert failed["finishedAt"] is not None
        after = api.post_of(post["id"])
        assert after["status"] == "failed"
        assert after["publishResults"] == [{"channel": "threads", "success": False, "error": "Threads API error: media fetch failed"}]
        retry = _publish(api, post["id"])  # failed posts may be published again: a new run
        assert retry["id"] != first["id"] and retry["status"] == "queued"

        slow = api.create_ok({"channel": "linkedin", "caption": "slow"})
        run = _publish(api, slow["id"])
        api.advance(QUEUED + 50)  # past publish_seconds alone: media processing keeps it running
        assert api.run(str(run["id"]))["status"] == "running"
        assert api.post_of(slow["id"])["status"] == "publishing"
        api.advance(11)
        assert api.run(str(run["id"]))["status"] == "succeeded"
    finally:
        api.close()


def test_publish_and_run_visibility(api: Api, orbit: Api, readonly: Api) -> None:
    post = api.create_ok({"channel": "threads", "caption": "mine"})
    run = _publish(api, post["id"])
    for response in (orbit.publish(post["id"]), orbit.get(f"{P}/job-runs/{run['id']}"), api.get(f"{P}/job-runs/nope")):
        assert response.status_code == 404 and response.json()["error"] == "NOT_FOUND"
    assert readonly.publish(post["id"]).json()["error"] == "FORBIDDEN"
    assert readonly.get(f"{P}/job-runs/{run['id']}").json()["error"] == "FORBIDDEN"


def test_html_pages_escape_content(api: Api, server: EmulatorServer) -> None:
    post = api.create_ok({"channel": "threads", "caption": "<script>alert(1)</script>"})
    run = _publish(api, post["id"])
    page = RAW.get(f"{server.url}/app/posts/{post['id']}")
    assert page.status_code == 200 and "&lt;script&gt;" in page.text and "<script>" not in page.text
    run_page = RAW.get(f"{server.url}/app/job-runs/{run['id']}")
    assert "Publish queued" in run_page.text and NORTHWIND not in run_page.text
    assert RAW.get(f"{server.url}/app/posts/unknown").status_code == 404
