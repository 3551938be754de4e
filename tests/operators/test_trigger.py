"""PublishTrigger in an event loop against the emulator: serialization, resume, deadline, on_kill."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from airflow_provider_markaestro import api
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.triggers import PublishTrigger


def _first_event(trigger: PublishTrigger) -> dict:
    async def first():
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger yielded nothing")

    return asyncio.run(first())


def _published_post(caption: str, channel: str = "threads") -> tuple[str, str]:
    with MarkaestroHook() as hook:
        post = hook.create_post(api.post_body(channel, caption, []))
        run = hook.publish_post(post.id)
    return post.id, run.id


def _trigger(run_id: str | None, post_id: str | None, deadline_in: float = 30, **kw) -> PublishTrigger:
    return PublishTrigger(conn_id="markaestro_default", job_run_id=run_id, post_id=post_id, poll_interval=0.2,
                          deadline=time.time() + deadline_in, **kw)


def test_serialize_round_trip_is_json_primitives_and_survives_serde(markaestro):
    from airflow.sdk.serde import deserialize, serialize

    trigger = _trigger("R" * 20, "P" * 20)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_markaestro.triggers.PublishTrigger"
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in kwargs.values())
    rebuilt = PublishTrigger(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)


def test_runs_to_a_published_event_with_the_async_connection_only(markaestro, monkeypatch):
    from airflow.sdk import BaseHook

    def forbidden(*args, **kwargs):
        raise AssertionError("the sync connection lookup must not run inside the triggerer loop")

    post_id, run_id = _published_post("trigger: published")
    monkeypatch.setattr(BaseHook, "get_connection", classmethod(forbidden))
    event = _first_event(_trigger(run_id, None))
    assert event["status"] == "success" and event["state"] == "published"
    assert event["result"]["post_id"] == post_id and event["result"]["status"] == "published"


def test_a_restarted_trigger_resumes_the_same_run(markaestro):
    post_id, run_id = _published_post("trigger: restart")
    first = _trigger(run_id, post_id)
    classpath, kwargs = first.serialize()

    async def cancel_mid_wait():
        task = asyncio.ensure_future(first.run().__anext__())
        await asyncio.sleep(0.05)
        task.cancel()  # the triggerer stops: the trigger must close its client on the way out
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_wait())
    before = len(httpx.get(f"{markaestro.url}/_emulator/requests").json()["requests"])
    event = _first_event(PublishTrigger(**kwargs))  # a new triggerer process builds it from kwargs
    assert event["result"]["job_run_id"] == run_id and event["state"] == "published"
    calls = httpx.get(f"{markaestro.url}/_emulator/requests").json()["requests"][before:]
    # it polled the run it was given (and read its post): nothing re-derived, nothing published again
    assert {(r["method"], r["path"]) for r in calls} == {
        ("GET", f"/api/public/v1/job-runs/{run_id}"), ("GET", f"/api/public/v1/posts/{post_id}")}
    assert len(httpx.get(f"{markaestro.url}/_emulator/job-runs").json()["runs"]) == 1


def test_a_run_finished_before_the_first_poll_completes_at_once(markaestro):
    post_id, run_id = _published_post("trigger: already done")
    httpx.post(f"{markaestro.url}/_emulator/clock/advance", json={"seconds": 5}).raise_for_status()
    before = len(httpx.get(f"{markaestro.url}/_emulator/requests").json()["requests"])
    event = _first_event(_trigger(run_id, post_id))
    assert event["state"] == "published"
    polls = httpx.get(f"{markaestro.url}/_emulator/requests").json()["requests"][before:]
    assert [r["path"] for r in polls] == [f"/api/public/v1/job-runs/{run_id}", f"/api/public/v1/posts/{post_id}"]


def _slow_runs(seed: dict) -> None:
    seed["clock"]["run_queued_seconds"] = 60


def test_deadline_yields_a_timeout_event(seeded_emulator, set_conn, demo_seed):
    slow = seeded_emulator(_slow_runs)
    set_conn("markaestro_default", slow.url, demo_seed.api_keys[0].key)
    post_id, run_id = _published_post("trigger: slow")
    event = _first_event(_trigger(run_id, post_id, deadline_in=0.6))
    assert event["status"] == "timeout" and "queued" in event["message"]


def test_api_error_event_names_the_status_without_the_key(markaestro, set_conn, demo_seed):
    set_conn("markaestro_default", markaestro.url, demo_seed.api_keys[0].key[:-4] + "XXXX")
    event = _first_event(_trigger("R" * 20, None))
    assert event["status"] == "error" and event["result"]["http_status"] == 401
    assert demo_seed.api_keys[0].key.rsplit(".", 1)[1] not in str(event)


@pytest.mark.parametrize("cancel", [True, False])
def test_on_kill_deletes_only_a_post_whose_publish_has_not_started(seeded_emulator, set_conn, demo_seed, cancel):
    slow = seeded_emulator(_slow_runs)
    set_conn("markaestro_default", slow.url, demo_seed.api_keys[0].key)
    post_id, run_id = _published_post("trigger: killed")
    asyncio.run(_trigger(run_id, post_id, cancel_on_kill=cancel).on_kill())
    ids = [p["id"] for p in httpx.get(f"{slow.url}/_emulator/posts").json()["posts"]]
    assert (post_id not in ids) is cancel
