"""Maintenance: register or refresh the workspace's Markaestro webhook endpoint.

Run it manually (or from CI) with ``webhook_url`` and ``events``:

* exactly one **active** endpoint with this URL exists, with exactly these events, and the secret is
  in the Airflow Variable → nothing happens (``action: "unchanged"``);
* otherwise a new endpoint is registered (``"registered"``), and when endpoints with this URL
  already existed (other events, disabled, or the secret is missing from the Variable) the active
  ones are disabled after the new one exists, so no delivery is lost (``"rotated"``).

The signing secret (``whsec_…``) is returned by Markaestro **once**, at registration. It is stored
in the Airflow Variable named by ``secret_variable`` (default ``markaestro_webhook_secret``), masked
in logs, and never returned in XCom. Your receiver verifies ``X-Markaestro-Signature`` = hex
HMAC-SHA256(secret, ``<X-Markaestro-Timestamp>.<raw body>``) with it.

Airflow 3.3.2 caveat: at ``logging_level = DEBUG`` the task supervisor logs the body of the
``Variable.set`` request (and, under ``dag.test()`` / ``airflow dags test``, of the mask request),
which contains the secret; the secret masker does not look inside those message objects. Run this
DAG at INFO (the default).

Webhook endpoints are workspace-wide: any product's key with the ``webhooks.manage`` scope manages
them, so one connection (``markaestro_conn_id``) is enough.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

WEBHOOK_EVENTS = ["post.publish.queued", "post.published", "post.action_required", "post.failed"]
DEFAULT_EVENTS = ["post.published", "post.action_required", "post.failed"]
DEFAULT_SECRET_VARIABLE = "markaestro_webhook_secret"


def register_or_refresh(webhook_url: str, events: list[str], secret_variable: str, conn_id: str) -> dict:
    """The task body: idempotent, and the secret never leaves the Variable."""
    import logging

    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException
    from airflow.sdk.log import mask_secret

    from airflow_provider_markaestro.hook import MarkaestroHook

    log = logging.getLogger("airflow.task")
    url = (webhook_url or "").strip()
    wanted = sorted(set(events or []))
    unknown = [e for e in wanted if e not in WEBHOOK_EVENTS]
    if not url or "://" not in url:
        raise AirflowFailException(f"webhook_url {webhook_url!r} is not a URL")
    if not wanted or unknown:
        raise AirflowFailException(f"events must be 1-4 of {', '.join(WEBHOOK_EVENTS)}; got {events!r}")
    if not secret_variable:
        raise AirflowFailException("secret_variable is empty")

    with MarkaestroHook(markaestro_conn_id=conn_id) as hook:
        same_url = [e for e in hook.list_webhook_endpoints() if e.url.strip() == url]
        active = [e for e in same_url if e.status == "active"]
        log.info("Endpoints for %s: %s", url,
                 ", ".join(f"{e.id} ({e.status}: {', '.join(e.events)})" for e in same_url) or "none")
        # Unchanged only when exactly one endpoint receives this URL's events: with two active ones
        # every event is delivered twice, and which secret the Variable holds is unknown.
        if len(active) == 1 and sorted(set(active[0].events)) == wanted:
            keep = active[0]
            if Variable.get(secret_variable, default=None) is not None:
                log.info("Endpoint %s is active with these events and its secret is in Variable %r: nothing to do",
                         keep.id, secret_variable)
                return {"endpoint_id": keep.id, "url": url, "events": list(keep.events), "action": "unchanged"}
            log.warning("Endpoint %s matches but Variable %r holds no secret: registering a new endpoint",
                        keep.id, secret_variable)
        elif len(active) > 1:
            log.warning("%d active endpoints receive events for %s: replacing them with one", len(active), url)

        endpoint = hook.create_webhook_endpoint(url, wanted)
        secret = endpoint.secret or ""
        if not secret:
            hook.disable_webhook_endpoint(endpoint.id)
            raise AirflowFailException(f"Markaestro returned no secret for endpoint {endpoint.id}; disabled it")
        mask_secret(secret)
        try:
            Variable.set(secret_variable, secret,
                         description=f"Markaestro webhook signing secret of endpoint {endpoint.id} ({url})")
        except Exception:
            log.error("Could not store the secret; disabling the new endpoint %s", endpoint.id)
            hook.disable_webhook_endpoint(endpoint.id)
            raise
        del secret
        log.info("Registered endpoint %s for %s (%s); secret stored in Variable %r",
                 endpoint.id, url, ", ".join(endpoint.events), secret_variable)
        for old in active:
            hook.disable_webhook_endpoint(old.id)
            log.info("Disabled stale endpoint %s (%s)", old.id, ", ".join(old.events))
    return {
        "endpoint_id": endpoint.id,
        "url": url,
        "events": list(endpoint.events),
        "action": "rotated" if same_url else "registered",
    }


@dag(
    dag_id="markaestro_webhooks",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["markaestro", "maintenance"],
    params={
        "webhook_url": Param(type="string", minLength=1,
                             description="Where Markaestro POSTs events"),
        "events": Param(DEFAULT_EVENTS, type="array", minItems=1, maxItems=4, uniqueItems=True,
                        items={"type": "string", "enum": WEBHOOK_EVENTS}, description="Events to receive"),
        "secret_variable": Param(DEFAULT_SECRET_VARIABLE, type="string", minLength=1,
                                 description="Airflow Variable that receives the signing secret"),
        "markaestro_conn_id": Param("markaestro_default", type="string", minLength=1,
                                    description="Markaestro connection (a key with webhooks.manage)"),
    },
    doc_md=__doc__,
)
def markaestro_webhooks():
    @task
    def register_webhook(**context) -> dict:
        p = context["params"]
        return register_or_refresh(p["webhook_url"], list(p["events"]), p["secret_variable"], p["markaestro_conn_id"])

    register_webhook()

markaestro_webhooks()
