"""What a publish's job run and post mean together, shared by the sensor's poke and the trigger.

A ``succeeded`` run does not mean the post is live (contract §7.5): a manual reminder, a TikTok
hand-off and a skipped run all succeed. So the verdict always comes from the post once the run is
over, and a post still ``publishing`` (TikTok transferring to the inbox) keeps the wait going.
Anything not recognised fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_markaestro.models import JobRun, JobRunStatus, Post, PostStatus

WAITING = "waiting"
PUBLISHED = "published"
ACTION_REQUIRED = "platform_action_required"
FAILED = "failed"

_KNOWN_RUN = {s.value for s in JobRunStatus}
_WAIT_POST = {PostStatus.DRAFT, PostStatus.SCHEDULED, PostStatus.PUBLISHING}


@dataclass(frozen=True)
class PublishOutcome:
    state: str  # WAITING | PUBLISHED | ACTION_REQUIRED | FAILED
    message: str
    summary: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.state != WAITING


def summarize(post: Post | None, run: JobRun | None) -> dict[str, Any]:
    """The plain-JSON result tasks return and triggers send: ids, status, where and why."""
    result: dict[str, Any] = {"job_run_id": run.id if run else None, "run_status": run.status if run else None}
    if run:
        result["run_message"] = run.message
    if post:
        result.update(
            post_id=post.id,
            status=post.status,
            channel=post.channel,
            destination_id=post.destination_id,
            delivery_mode=post.delivery_mode,
            next_action=post.next_action,
            external_id=post.external_id,
            external_url=post.external_url,
        )
        if post.failure_reason:
            result["error"] = post.failure_reason
    return result


def evaluate(run: JobRun | None, post: Post | None) -> PublishOutcome:
    """Decide from a run (may be unknown) and the post it publishes."""
    summary = summarize(post, run)
    where = _where(post)
    if run is not None:
        if run.status not in _KNOWN_RUN:
            return PublishOutcome(FAILED, f"job run {run.id} has unknown status {run.status!r}", summary)
        if run.status == JobRunStatus.FAILED:
            reason = run.message or (post.failure_reason if post else "") or "no reason given"
            summary.setdefault("error", reason)
            return PublishOutcome(FAILED, f"publish to {where} failed: {reason}", summary)
        if not run.is_terminal:
            return PublishOutcome(WAITING, f"job run {run.id} is {run.status}", summary)
    if post is None:
        return PublishOutcome(WAITING, "waiting for the post", summary)
    status = post.status
    if status == PostStatus.PUBLISHED:
        return PublishOutcome(PUBLISHED, f"published to {where}", summary)
    if status == PostStatus.PLATFORM_ACTION_REQUIRED:
        return PublishOutcome(
            ACTION_REQUIRED, f"{where} needs a human to finish: {post.next_action or 'action required'}", summary
        )
    if status in (PostStatus.FAILED, PostStatus.PARTIAL_FAILED):
        reason = post.failure_reason or (run.message if run else "") or "no reason given"
        summary.setdefault("error", reason)
        return PublishOutcome(FAILED, f"publish to {where} {status}: {reason}", summary)
    if status in _WAIT_POST:
        return PublishOutcome(WAITING, f"post {post.id} is {status}", summary)
    return PublishOutcome(FAILED, f"post {post.id} has unknown status {status!r}", summary)


def _where(post: Post | None) -> str:
    if post is None:
        return "Markaestro"
    return f"{post.channel} destination {post.destination_id or '(manual)'} (post {post.id})"
