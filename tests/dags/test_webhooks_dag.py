"""The ``markaestro_webhooks`` maintenance DAG: register, no-op, rotate; the secret stays in the Variable."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from .conftest import drain_task_logs, load_dag, rendered_fields, return_value, task_log_text, task_states, xcoms

DAG_ID = "markaestro_webhooks"


@pytest.fixture
def receiver():
    """A webhook receiver on loopback that records every delivery (headers + raw body)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/markaestro", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _signature_ok(secret: str, delivery: dict) -> bool:
    headers = delivery["headers"]
    message = headers["x-markaestro-timestamp"].encode() + b"." + delivery["body"]
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-markaestro-signature"])


def _endpoints(url: str) -> list:
    from airflow_provider_markaestro.hook import MarkaestroHook

    with MarkaestroHook() as hook:
        return [e for e in hook.list_webhook_endpoints() if e.url == url]


def _variable(name: str) -> str | None:
    from airflow.models.variable import Variable

    return Variable.get(name, default_var=None)


def test_webhooks_dag_registers_then_noop_then_rotates_and_never_leaks_the_secret(markaestro, receiver, capfd, caplog):
    url, received = receiver
    dag = load_dag(DAG_ID, "markaestro_webhooks.py")
    var = f"markaestro_webhook_secret_{uuid.uuid4().hex[:8]}"
    events = ["post.published", "post.failed"]
    conf = {"webhook_url": url, "events": events, "secret_variable": var}
    secrets: list[str] = []
    rows: list[dict] = []  # every XCom of every run, read right after the run
    streams: list[str] = []  # what the tasks logged (dag.test() runs them in-process, logging to stdout)

    def run(**overrides):
        dr = dag.test(logical_date=None, run_conf={**conf, **overrides})
        assert dr.state == "success", task_states(dr)
        rows.extend(xcoms(DAG_ID, dr.run_id))
        streams.append(drain_task_logs(capfd, caplog))
        return return_value(DAG_ID, dr.run_id, "register_webhook")

    # 1. nothing registered yet -> register, secret into the Variable
    first = run()
    assert first["action"] == "registered" and first["url"] == url and sorted(first["events"]) == sorted(events)
    assert set(first) == {"endpoint_id", "url", "events", "action"}
    (endpoint,) = _endpoints(url)
    assert endpoint.id == first["endpoint_id"] and endpoint.status == "active"
    secret = _variable(var)
    assert secret and secret.startswith("whsec_")
    secrets.append(secret)

    # 2. same URL and events, secret stored -> nothing happens
    second = run()
    assert second == {**first, "action": "unchanged"}
    assert [e.id for e in _endpoints(url)] == [first["endpoint_id"]]
    assert _variable(var) == secret

    # 3. other events -> a new endpoint, the old one disabled, the new secret stored
    third = run(events=["post.published", "post.failed", "post.action_required"])
    assert third["action"] == "rotated" and third["endpoint_id"] != first["endpoint_id"]
    status = {e.id: (e.status, sorted(e.events)) for e in _endpoints(url)}
    assert status == {
        first["endpoint_id"]: ("disabled", sorted(events)),
        third["endpoint_id"]: ("active", sorted(["post.published", "post.failed", "post.action_required"])),
    }
    new_secret = _variable(var)
    assert new_secret and new_secret.startswith("whsec_") and new_secret != secret
    secrets.append(new_secret)

    # 4. the endpoint was disabled behind our back -> register again
    from airflow_provider_markaestro.hook import MarkaestroHook

    with MarkaestroHook() as hook:
        hook.disable_webhook_endpoint(third["endpoint_id"])
    fourth = run(events=third["events"])
    assert fourth["action"] == "rotated" and fourth["endpoint_id"] not in (first["endpoint_id"], third["endpoint_id"])
    assert [e.id for e in _endpoints(url) if e.status == "active"] == [fourth["endpoint_id"]]
    secrets.append(_variable(var))

    # The Variable holds the real signing secret: a delivery to the receiver verifies with it.
    from airflow_provider_markaestro import api

    with MarkaestroHook() as hook:
        post = hook.create_post(api.post_body("threads", "Webhook check"))
        hook.publish_post(post.id)
    deadline = time.monotonic() + 15
    while not any(d["headers"].get("x-markaestro-event") == "post.published" for d in received):
        assert time.monotonic() < deadline, received
        time.sleep(0.1)
    delivery = next(d for d in received if d["headers"]["x-markaestro-event"] == "post.published")
    assert _signature_ok(secrets[-1], delivery)
    assert not any(_signature_ok(s, delivery) for s in secrets[:-1])
    deliveries = httpx.get(f"{markaestro.url}/_emulator/webhook-deliveries").json()["deliveries"]
    assert deliveries and {d["endpointId"] for d in deliveries} == {fourth["endpoint_id"]}  # stale ones get none

    # The secrets are in no XCom and in no task log.
    assert len({r["run_id"] for r in rows}) == 4
    # dag.test() runs tasks in-process: their log is the captured stream; files under
    # $AIRFLOW_HOME/logs exist only when an executor ran them, and are checked when present.
    logs = "\n".join(streams) + task_log_text(DAG_ID)
    rendered = rendered_fields(DAG_ID)
    assert "Registered endpoint" in logs and "nothing to do" in logs  # the logs are the real ones
    for s in secrets:
        assert all(s not in r["raw"] for r in rows)
        assert s not in logs
        assert s not in rendered
