"""``PublishTrigger``: waits in the triggerer for a publish run and its post to settle.

It is given the run id (and post id) at defer time and never re-derives them, so a triggerer that
restarts mid-wait resumes polling the same run. It carries its own absolute deadline and yields a
``timeout`` event instead of relying on ``defer(timeout=…)``, which would skip the completion
handler. Kwargs are JSON primitives only; the connection is read with ``aget_connection``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_markaestro.exceptions import MarkaestroAPIError, MarkaestroError
from airflow_provider_markaestro.publish_state import FAILED, evaluate

EVENT_STATUSES = frozenset({"success", "failed", "timeout", "error"})


class PublishTrigger(BaseTrigger):
    """Poll ``GET /job-runs/{id}`` then ``GET /posts/{id}`` until the publish settles.

    :param conn_id: Markaestro connection id.
    :param job_run_id: the run to follow (may be empty when only the post is known).
    :param post_id: the post the run publishes (read from the run when empty).
    :param poll_interval: seconds between polls.
    :param deadline: absolute Unix time after which a ``timeout`` event is sent.
    :param cancel_on_kill: when a user clears or fails the deferred task, stop a publish that has
        not started yet. Markaestro has no cancel route; deleting a post that is still ``draft``
        or ``scheduled`` makes its queued run end "Post not found" (contract §7.3.5). A post that
        is already publishing or published is never touched.
    """

    def __init__(
        self,
        conn_id: str,
        job_run_id: str | None,
        post_id: str | None,
        poll_interval: float,
        deadline: float,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.cancel_on_kill = bool(cancel_on_kill)
        self.conn_id = conn_id
        self.job_run_id = job_run_id or None
        self.post_id = post_id or None
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_markaestro.triggers.PublishTrigger",
            {
                "conn_id": self.conn_id,
                "job_run_id": self.job_run_id,
                "post_id": self.post_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _hook(self):
        from airflow_provider_markaestro.hook import MarkaestroHook

        return MarkaestroHook(markaestro_conn_id=self.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        transport = await hook.atransport()
        await transport.open()
        try:
            yield TriggerEvent(await self._wait(hook))
        finally:
            await asyncio.shield(hook.aclose())  # a second cancel must not interrupt the close

    async def on_kill(self) -> None:
        """Best effort: a user stopped the task, so stop a publish that has not started."""
        if not self.cancel_on_kill:
            return
        hook = self._hook()
        try:
            post_id = self.post_id
            if not post_id and self.job_run_id:
                post_id = (await hook.aget_job_run(self.job_run_id)).resource_id
            if not post_id:
                return
            post = await hook.aget_post(post_id)
            if post.status in ("draft", "scheduled"):
                await hook.adelete_post(post_id)
                self.log.warning("Task killed: deleted post %s before it was published", post_id)
            else:
                self.log.info("Task killed: post %s is %s, nothing to cancel", post_id, post.status)
        except Exception as exc:  # best effort: never let a cancel failure mask the kill
            self.log.warning("Task killed: could not cancel the publish of post %s: %s", self.post_id, exc)
        finally:
            await hook.aclose()

    async def _wait(self, hook: Any) -> dict[str, Any]:
        post_id = self.post_id
        polls = 0
        while True:
            try:
                run = await hook.aget_job_run(self.job_run_id) if self.job_run_id else None
                post_id = post_id or (run.resource_id if run else None)
                post = None
                if post_id and (run is None or run.is_terminal):
                    post = await hook.aget_post(post_id)
            except MarkaestroAPIError as exc:
                return _event("error", f"{exc}", {"http_status": exc.status_code, "error_code": exc.error_code},
                              self.conn_id)
            except MarkaestroError as exc:
                return _event("error", str(exc), {}, self.conn_id)
            outcome = evaluate(run, post)
            if outcome.done:
                status = "failed" if outcome.state == FAILED else "success"
                return {"status": status, "state": outcome.state, "message": outcome.message,
                        "result": outcome.summary}
            remaining = self.deadline - time.time()
            if remaining <= 0:
                return _event("timeout", f"still waiting at the deadline: {outcome.message}", outcome.summary,
                              self.conn_id)
            delay = min(first_polls_delay(polls, self.poll_interval), remaining)
            polls += 1
            self.log.info("Markaestro publish not settled yet (%s); next poll in %.1fs", outcome.message, delay)
            await asyncio.sleep(delay)


def first_polls_delay(polls_done: int, poll_interval: float) -> float:
    """Most publishes settle in seconds: poll at 0.5 s, 1 s, 2 s … up to ``poll_interval``."""
    return min(poll_interval, 0.5 * (2**polls_done))


def _event(status: str, message: str, result: dict[str, Any], conn_id: str) -> dict[str, Any]:
    return {"status": status, "state": status, "message": message, "result": result, "conn_id": conn_id}

