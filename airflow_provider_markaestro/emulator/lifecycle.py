"""Publish-run lifecycle (§7.5, §8.8), driven by due times fixed when the run is queued.

Transitions are stamped with their scheduled times, not with the moment somebody looked, so a
run's startedAt/finishedAt and the post's updatedAt do not depend on polling cadence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clock import iso
from .ids import auto_id
from .models import Destination, FollowUp, JobRun, Post
from .platform import published_ids, tiktok_publish_id
from .throttle import PublishThrottle

# emit(event type, post, data, at, from_api_run): webhooks of §9; the state decides who receives them.
Emit = Callable[[str, Post, dict[str, Any], float, bool], None]

MANUAL, DIRECT, TIKTOK_INBOX, TIKTOK_DIRECT = "manual", "direct", "tiktok_inbox", "tiktok_direct"
PUBLISH_BLOCKING_STATUSES: dict[str, str] = {
    "publishing": "Post is already publishing",
    "published": "Post is already published",
    "platform_action_required": "Post is already ready for platform action",
}
PUBLISHABLE_STATUSES = frozenset({"draft", "scheduled", "failed", "partial_failed", "exported_for_review"})
# §8.9: a retryable failure of a scheduler publish moves the post back to `scheduled` this much later,
# once per listed delay (4 automatic retries); the next failure is final. API runs are never retried.
SCHEDULE_RETRY_DELAYS_SECONDS = (120.0, 300.0, 900.0, 1800.0)


@dataclass(frozen=True)
class Timings:
    """Scaled durations in seconds."""

    run_queued: float
    run_running: float
    tiktok_inbox: float
    schedule_retry_delays: tuple[float, ...]  # §8.9 scheduler retries


def publish_path(post: Post) -> str:
    """Effective path: manual unless platform delivery; TikTok decides inbox vs Direct Post by settings."""
    if post.delivery_mode == "manual_reminder":
        return MANUAL
    if post.channel == "tiktok":
        direct = (post.settings or {}).get("postMode") == "direct_post"
        return TIKTOK_DIRECT if direct else TIKTOK_INBOX
    return DIRECT


def _running_seconds(post: Post, destination: Destination | None, timings: Timings) -> float:
    """Slow destinations stretch the running phase (platform deliveries only)."""
    path = publish_path(post)
    running = timings.run_running
    if path != MANUAL and destination is not None:
        behaviour = destination.behaviour
        if behaviour.publish_seconds is not None:
            running = behaviour.publish_seconds
        if path == DIRECT:
            running += behaviour.media_processing_seconds
    return running


def queue_run(post: Post, destination: Destination | None, timings: Timings, now: float, idempotency_key: str | None) -> JobRun:
    """Create an API publish run and fix its timeline."""
    duration = _running_seconds(post, destination, timings)
    start_at = now + timings.run_queued
    return JobRun(
        id=auto_id(),
        post_id=post.id,
        created_at=now,
        start_at=start_at,
        finish_at=start_at + duration,
        idempotency_key=idempotency_key,
        duration=duration,
        destination_id=post.destination_id,
    )


def scheduler_run(post: Post, destination: Destination | None, timings: Timings, due: float) -> JobRun:
    """The scheduler publishes a due post directly: an invisible run claimed at once, without throttles."""
    duration = _running_seconds(post, destination, timings)
    return JobRun(
        id=auto_id(),
        post_id=post.id,
        created_at=due,
        start_at=due,
        finish_at=due + duration,
        idempotency_key=None,
        duration=duration,
        scheduler=True,
        destination_id=post.destination_id,
    )


def claim_run(
    run: JobRun,
    post: Post | None,
    destination: Destination | None,
    throttle: PublishThrottle | None,
    destination_busy: bool,
    emit: Emit,
) -> None:
    """A worker claims the run: skip, fail, defer (throttle/busy) or start it, in the server's order."""
    at = run.start_at
    run.started_at = at
    if post is None:
        _fail_run(run, at, "Post not found")
        return
    if post.status in PUBLISH_BLOCKING_STATUSES:
        _succeed(run, PUBLISH_BLOCKING_STATUSES[post.status], {"skipped": True, "postStatus": post.status, "externalId": post.external_id})
        run.finished_at = at
        return
    path = publish_path(post)
    if path != MANUAL and destination is None:
        _fail_run(run, at, "No connected platform account")
        error = f"{post.channel} integration is not configured or disabled"
        _set_post(post, at, status="failed", next_action="", results=[{"channel": post.channel, "success": False, "error": error}])
        emit("post.failed", post, {"postId": post.id, "channel": post.channel, "status": "failed", "error": error}, at, not run.scheduler)
        return
    if path != MANUAL and throttle is not None and destination is not None:
        deferral = throttle.claim(destination.id, post.channel, at, destination_busy)
        if deferral is not None:
            run.status, run.message = "queued", deferral.message
            run.start_at = deferral.until
            run.finish_at = deferral.until + run.duration
            return
    run.status, run.message = "running", "Publish started"
    run.finish_at = at + run.duration
    if path != MANUAL:
        _set_post(post, at, status="publishing")


def finish_run(run: JobRun, post: Post | None, destination: Destination | None, timings: Timings, emit: Emit) -> None:
    """Apply the outcome table of §7.5 for the post's delivery path and the destination's behaviour."""
    at = run.finish_at
    run.finished_at = at
    api_run = not run.scheduler
    if post is None:  # deleted while the run was in flight
        run.status, run.message, run.details = "failed", "Post not found", {}
        return
    path = publish_path(post)
    if path == MANUAL:
        _succeed(run, "Post is ready for manual posting", {"actionRequired": True})
        _set_post(
            post,
            at,
            status="platform_action_required",
            next_action="post_manually_from_reminder",
            results=[{"channel": post.channel, "success": False, "actionRequired": True, "nextAction": "post_manually_from_reminder"}],
        )
        data = {"postId": post.id, "channel": post.channel, "status": "platform_action_required", "nextAction": "post_manually_from_reminder"}
        emit("post.action_required", post, data, at, api_run)
        return
    assert destination is not None, "claim_run fails platform deliveries without a destination"
    behaviour = destination.behaviour
    post.platform_attempts += 1
    if behaviour.fails(post.platform_attempts):
        assert behaviour.fail_reason is not None
        if run.scheduler and behaviour.fail_retryable and post.schedule_retries < len(timings.schedule_retry_delays):
            _reschedule(run, post, at, timings.schedule_retry_delays[post.schedule_retries], behaviour.fail_reason)
            return
        run.status, run.message, run.details = "failed", behaviour.fail_reason, {}
        _set_post(post, at, status="failed", next_action="", results=[{"channel": post.channel, "success": False, "error": behaviour.fail_reason}])
        emit("post.failed", post, {"postId": post.id, "channel": post.channel, "status": "failed", "error": behaviour.fail_reason}, at, api_run)
        return
    if path == DIRECT:
        external_id, external_url = published_ids(destination)
        _succeed(run, "Post published", {"externalId": external_id, "externalUrl": external_url})
        _publish(post, at, external_id, external_url, emit, api_run)
        return
    publish_id = tiktok_publish_id(direct_post=path == TIKTOK_DIRECT)
    _succeed(run, "Publish handed off to platform", {"pending": True, "externalId": publish_id})
    _set_post(
        post,
        at,
        status="publishing",
        external_id=publish_id,
        results=[{"channel": post.channel, "success": False, "pending": True, "externalId": publish_id}],
    )
    kind = "tiktok_published" if path == TIKTOK_DIRECT else "tiktok_inbox"
    post.follow_up = FollowUp(at + behaviour.media_processing_seconds + timings.tiktok_inbox, kind)


def _reschedule(run: JobRun, post: Post, at: float, delay: float, error: str) -> None:
    """§8.9 automatic retry: back to `scheduled`, `scheduledAt` moved forward, no webhook yet.

    The failed attempt stays visible in publishResults: a scheduler publish has no job run to read.
    """
    run.status, run.message, run.details = "failed", error, {}
    post.schedule_retries += 1
    post.scheduled_ts = at + delay
    post.scheduled_at = iso(post.scheduled_ts)
    _set_post(post, at, status="scheduled", next_action="", results=[{"channel": post.channel, "success": False, "error": error}])


def complete_follow_up(post: Post, destination: Destination, emit: Emit) -> None:
    """TikTok reports back (poll worker): the upload reached the creator's inbox, or the Direct Post went live."""
    assert post.follow_up is not None
    at, kind = post.follow_up.due_at, post.follow_up.kind
    post.follow_up = None
    if kind == "tiktok_inbox":
        _set_post(
            post,
            at,
            status="platform_action_required",
            next_action="open_tiktok_inbox_and_complete_posting",
            results=[{"channel": post.channel, "success": True, "pending": False, "externalId": post.external_id}],
        )
        data = {
            "postId": post.id,
            "channel": post.channel,
            "status": "platform_action_required",
            "externalId": post.external_id,
            "externalUrl": post.external_url,
            "nextAction": "open_tiktok_inbox_and_complete_posting",
        }
        emit("post.action_required", post, data, at, False)
    else:
        external_id, external_url = published_ids(destination)
        _publish(post, at, external_id, external_url, emit, False)


def mark_posted(post: Post, now: float, external_url: str | None, emit: Emit) -> None:
    """Dashboard confirmation of a manual/inbox post; the id is parsed from the pasted URL's last segment."""
    result: dict[str, object] = {"channel": post.channel, "success": True}
    if external_url:
        external_id = external_url.rstrip("/").rsplit("/", 1)[-1]
        post.external_id, post.external_url = external_id, external_url
        result.update(externalId=external_id, externalUrl=external_url)
    post.published_via = "manual"
    post.follow_up = None
    _set_post(post, now, status="published", next_action="", results=[result])
    data = {
        "postId": post.id,
        "channel": post.channel,
        "status": "published",
        "externalId": post.external_id,
        "externalUrl": post.external_url,
        "publishedVia": "manual",
    }
    emit("post.published", post, data, now, False)


def _succeed(run: JobRun, message: str, details: dict[str, object]) -> None:
    run.status, run.message, run.details = "succeeded", message, details


def _fail_run(run: JobRun, at: float, message: str) -> None:
    run.status, run.message, run.details, run.finished_at = "failed", message, {}, at


def _publish(post: Post, at: float, external_id: str, external_url: str, emit: Emit, api_run: bool) -> None:
    post.external_id, post.external_url = external_id, external_url
    _set_post(
        post,
        at,
        status="published",
        next_action="",
        results=[{"channel": post.channel, "success": True, "externalId": external_id, "externalUrl": external_url}],
    )
    data = {"postId": post.id, "channel": post.channel, "status": "published", "externalId": external_id, "externalUrl": external_url}
    emit("post.published", post, data, at, api_run)


def _set_post(
    post: Post,
    at: float,
    *,
    status: str,
    next_action: str | None = None,
    external_id: str | None = None,
    results: list[dict[str, object]] | None = None,
) -> None:
    """Single place where post state changes."""
    post.status = status
    post.updated_at = max(post.updated_at, at)
    if next_action is not None:
        post.next_action = next_action
    if external_id is not None:
        post.external_id = external_id
    if results is not None:
        post.publish_results = results
