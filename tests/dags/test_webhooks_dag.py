"""The ``markaestro_webhooks`` maintenance DAG: register, no-op, rotate; the secret stays in the Variable."""

from __future__ import annotations

import uuid

from .conftest import drain_task_logs, load_dag, rendered_fields, return_value, task_log_text, task_states, xcoms

DAG_ID = "markaestro_webhooks"
URL = "https://hooks.example.com/markaestro"


def _endpoints() -> list:
    from airflow_provider_markaestro.hook import MarkaestroHook

    with MarkaestroHook() as hook:
        return [e for e in hook.list_webhook_endpoints() if e.url == URL]


def _variable(name: str) -> str | None:
    from airflow.models.variable import Variable

    return Variable.get(name, default_var=None)


def test_webhooks_dag_registers_then_noop_then_rotates_and_never_leaks_the_secret(markaestro, capfd, caplog):
    dag = load_dag(DAG_ID, "markaestro_webhooks.py")
    var = f"markaestro_webhook_secret_{uuid.uuid4().hex[:8]}"
    events = ["post.published", "post.failed"]
    conf = {"webhook_url": URL, "events": events, "secret_variable": var}
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
    assert first["action"] == "registered" and first["url"] == URL and sorted(first["events"]) == sorted(events)
    assert set(first) == {"endpoint_id", "url", "events", "action"}
    (endpoint,) = _endpoints()
    assert endpoint.id == first["endpoint_id"] and endpoint.status == "active"
    secret = _variable(var)
    assert secret and secret.startswith("whsec_")
    secrets.append(secret)

    # 2. same URL and events, secret stored -> nothing happens
    second = run()
    assert second == {**first, "action": "unchanged"}
    assert [e.id for e in _endpoints()] == [first["endpoint_id"]]
    assert _variable(var) == secret

    # 3. other events -> a new endpoint, the old one disabled, the new secret stored
    third = run(events=["post.published", "post.failed", "post.action_required"])
    assert third["action"] == "rotated" and third["endpoint_id"] != first["endpoint_id"]
    status = {e.id: (e.status, sorted(e.events)) for e in _endpoints()}
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
    assert [e.id for e in _endpoints() if e.status == "active"] == [fourth["endpoint_id"]]
    secrets.append(_variable(var))

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
