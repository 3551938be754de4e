"""``JobRunSensor``: waits for a publish run, then reads the post for the verdict.

``published`` succeeds; ``platform_action_required`` succeeds but is reported as such (a manual
reminder or a TikTok draft waiting in the creator's inbox is not "published"); ``failed`` fails the
task naming the destination and the platform's reason. Poke mode and deferrable mode share
:func:`publish_state.evaluate`, so they reach the same end state for the same server behaviour.

``soft_fail`` skips on a timeout only: an authentication or API error always fails the task.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_markaestro.exceptions import MarkaestroAPIError, status_is_retryable
from airflow_provider_markaestro.hook import MarkaestroHook
from airflow_provider_markaestro.links import (
    JOB_RUN_URL_XCOM_KEY,
    POST_URL_XCOM_KEY,
    MarkaestroJobRunLink,
    MarkaestroPostLink,
)
from airflow_provider_markaestro.operators import default_deferrable
from airflow_provider_markaestro.publish_state import ACTION_REQUIRED, FAILED, PUBLISHED, WAITING, evaluate
from airflow_provider_markaestro.triggers import EVENT_STATUSES, PublishTrigger, first_polls_delay

if TYPE_CHECKING:
    from airflow.sdk import Context


def _report(task: BaseOperator, context: Context, state: str, message: str, result: dict[str, Any]) -> dict[str, Any]:
    """Log the verdict and push it as XCom ``publish_result`` (also when failing, so a downstream
    report can say why); raise on failure. Returns the plain-JSON result."""
    result = {**result, "outcome": state, "message": message}
    context["ti"].xcom_push(key="publish_result", value=result)
    if state == FAILED:
        task.log.error("Markaestro publish failed: %s", message)
        raise AirflowFailException(f"Markaestro publish failed: {message}")
    if state == ACTION_REQUIRED:
        task.log.warning("Markaestro: %s (not published yet)", message)
    else:
        task.log.info("Markaestro: %s", message)
    return result


def handle_publish_event(
    task: BaseOperator, context: Context, event: dict[str, Any] | None, *, soft_fail: bool
) -> dict[str, Any]:
    """Validate a trigger event on resume and turn it into a result or the right exception."""
    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        raise AirflowException(f"Markaestro trigger sent an unexpected event: {event!r}")
    status, message = event["status"], str(event.get("message", ""))
    result = event.get("result") or {}
    if status == "timeout":
        if soft_fail:
            raise AirflowSkipException(f"Markaestro publish wait timed out (soft_fail): {message}")
        raise AirflowSensorTimeout(f"Markaestro publish wait timed out: {message}")
    if status == "error":
        text = f"Markaestro API error on connection {event.get('conn_id')!r}: {message}"
        http_status = (result or {}).get("http_status")
        # same rule as poke mode: an answer that will not change fails now instead of spending retries
        permanent = isinstance(http_status, int) and not status_is_retryable(http_status)
        raise (AirflowFailException if permanent else AirflowException)(text)
    state = event.get("state")
    if state not in ({FAILED} if status == "failed" else {PUBLISHED, ACTION_REQUIRED}):  # fail closed
        raise AirflowException(f"Markaestro trigger sent an unexpected event: {event!r}")
    return _report(task, context, state, message, result)


def wait_for_publish(
    task: BaseOperator,
    context: Context,
    job_run_id: str | None,
    post_id: str | None,
    poll_interval: float,
    timeout: float,
    deferrable: bool,
    *,
    soft_fail: bool,
    cancel_on_kill: bool = True,
) -> dict[str, Any]:
    """Check once; if not settled, defer (deferrable) or poll in the worker until the deadline."""
    hook: MarkaestroHook = task.hook  # type: ignore[attr-defined]
    deadline = time.time() + timeout
    polls = 0
    while True:
        outcome = _poll_once(hook, job_run_id, post_id)
        if outcome.done:
            return _report(task, context, outcome.state, outcome.message, outcome.summary)
        if deferrable:
            task.defer(
                trigger=PublishTrigger(
                    conn_id=hook.markaestro_conn_id,
                    job_run_id=job_run_id,
                    post_id=post_id or outcome.summary.get("post_id"),
                    poll_interval=poll_interval,
                    deadline=deadline,
                    cancel_on_kill=cancel_on_kill,
                ),
                method_name="execute_complete",
            )
        if time.time() >= deadline:
            if soft_fail:
                raise AirflowSkipException(f"Markaestro publish wait timed out: {outcome.message}")
            raise AirflowSensorTimeout(f"Markaestro publish wait timed out: {outcome.message}")
        delay = min(first_polls_delay(polls, poll_interval), max(0.0, deadline - time.time()))
        polls += 1
        task.log.info("Markaestro: %s; next check in %.1fs", outcome.message, delay)
        time.sleep(delay)


def cancel_unstarted_publish(task: BaseOperator, hook: MarkaestroHook, job_run_id: str | None,
                             post_id: str | None) -> None:
    """``on_kill`` in the worker: delete a post whose publish has not started (best effort)."""
    try:
        post_id = post_id or (hook.get_job_run(job_run_id).resource_id if job_run_id else None)
        if post_id and hook.get_post(post_id).status in ("draft", "scheduled"):
            hook.delete_post(post_id)
            task.log.warning("Task killed: deleted post %s before it was published", post_id)
    except Exception as exc:
        task.log.warning("Task killed: could not cancel the publish of post %s: %s", post_id, exc)


def _poll_once(hook: MarkaestroHook, job_run_id: str | None, post_id: str | None):
    try:
        run = hook.get_job_run(job_run_id) if job_run_id else None
        post_id = post_id or (run.resource_id if run else None)
        post = hook.get_post(post_id) if post_id and (run is None or run.is_terminal) else None
    except MarkaestroAPIError as exc:  # the transport already retried 429/5xx: Airflow may retry those
        failure = AirflowException if exc.is_retryable else AirflowFailException
        raise failure(f"{exc} [connection {hook.markaestro_conn_id!r}]") from exc
    return evaluate(run, post)


class JobRunSensor(BaseSensorOperator):
    """Wait for a Markaestro publish job run and report where the post ended up.

    :param job_run_id: the run returned by :class:`PublishPostOperator` (templated).
    :param post_id: the post, when known (templated); read from the run otherwise.
    :param deferrable: wait in the triggerer (no worker slot). Defaults to
        ``[operators] default_deferrable``.
    :param soft_fail: skip instead of failing when the wait times out (only then).
    :param cancel_on_kill: when a user kills the waiting task, delete the post if its publish has
        not started (Markaestro has no cancel route). Never touches a publishing or published post.
    """

    template_fields: Sequence[str] = ("job_run_id", "post_id", "markaestro_conn_id")
    operator_extra_links = (MarkaestroPostLink(), MarkaestroJobRunLink())

    def __init__(
        self,
        *,
        job_run_id: str | None = None,
        post_id: str | None = None,
        markaestro_conn_id: str = MarkaestroHook.default_conn_name,
        deferrable: bool | None = None,
        soft_fail: bool = False,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 10)
        kwargs.setdefault("timeout", 6 * 3600)
        super().__init__(**kwargs)  # soft_fail handled here: the base class would also skip on API errors
        self.job_run_id = job_run_id
        self.post_id = post_id
        self.markaestro_conn_id = markaestro_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.skip_on_timeout = soft_fail
        self.cancel_on_kill = cancel_on_kill

    @cached_property
    def hook(self) -> MarkaestroHook:
        return MarkaestroHook(markaestro_conn_id=self.markaestro_conn_id)

    def execute(self, context: Context) -> Any:
        if not (self.job_run_id or self.post_id):
            raise AirflowFailException("JobRunSensor needs job_run_id or post_id")
        try:
            self._push_links(context)
            if self.deferrable:
                return wait_for_publish(self, context, self.job_run_id, self.post_id, float(self.poke_interval),
                                        float(self.timeout), True, soft_fail=self.skip_on_timeout,
                                        cancel_on_kill=self.cancel_on_kill)
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            if self.skip_on_timeout:
                raise AirflowSkipException(str(exc)) from exc
            raise
        finally:
            self.hook.close()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        outcome = _poll_once(self.hook, self.job_run_id, self.post_id)
        if outcome.state == WAITING:
            self.log.info("Markaestro: %s", outcome.message)
            return False
        return PokeReturnValue(True, _report(self, context, outcome.state, outcome.message, outcome.summary))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return handle_publish_event(self, context, event, soft_fail=self.skip_on_timeout)

    def on_kill(self) -> None:
        if self.cancel_on_kill:
            cancel_unstarted_publish(self, self.hook, self.job_run_id, self.post_id)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        # Skip the base sensor's resume, which would turn any error into a skip under soft_fail.
        return BaseOperator.resume_execution(self, next_method, next_kwargs, context)

    def _push_links(self, context: Context) -> None:
        # An empty link where there is no id, instead of Airflow logging "XCom not found" as an error.
        ti = context["ti"]
        ti.xcom_push(key=JOB_RUN_URL_XCOM_KEY,
                     value=self.hook.web_link("job-runs", self.job_run_id) if self.job_run_id else "")
        ti.xcom_push(key=POST_URL_XCOM_KEY, value=self.hook.web_link("posts", self.post_id) if self.post_id else "")
