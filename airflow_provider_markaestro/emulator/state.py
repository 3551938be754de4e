"""The in-memory workspace: products, keys, posts, runs, assets, idempotency and rate-limit state.

Every access goes through `transaction()`, which takes the lock and first advances publish
lifecycles to the current emulator time, so state is always observed up to date.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .clock import Clock, iso, parse_iso
from .errors import ApiError, internal, mapped, not_found, route_built, validation_error
from .faults import FaultBook
from .idempotency import LEASE_SECONDS, IdempotencyStore, hash_json
from .ids import asset_id as new_asset_id
from .ids import auto_id
from .imageprobe import probe_dimensions
from .keys import hash_secret, parse_key
from .lifecycle import (
    PUBLISH_BLOCKING_STATUSES,
    PUBLISHABLE_STATUSES,
    SCHEDULE_RETRY_DELAYS_SECONDS,
    Timings,
    claim_run,
    complete_follow_up,
    finish_run,
    mark_posted,
    queue_run,
    scheduler_run,
)
from .listing import Page, paginate
from .media import MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, extension_of, kind_of
from .models import PROVIDER_ORDER, Behaviour, Destination, JobRun, KeyRecord, MediaAsset, Post, Product
from .paths import CONNECT_PREFIX
from .posts import build_post
from .ratelimit import PLAN_MULTIPLIERS, RateLimiter
from .seed import PostSeed, ProductSeed, Seed
from .signing import connect_token, sign_upload_url
from .throttle import PublishThrottle
from .uploads import (
    ASSET_ID_RE,
    CONNECT_CLAIM_LEASE_SECONDS,
    CONNECT_URL_LIFETIME_SECONDS,
    FINALIZE_LEASE_SECONDS,
    SESSION_LIFETIME_SECONDS,
    ConnectUpload,
    StagedObject,
    UploadSession,
    session_json,
)
from .webhooks import Job, WebhookBook

# Cumulative storage caps per plan (None = unlimited).
PLAN_STORAGE_BYTES: dict[str, int | None] = {"starter": 10 * 10**9, "pro": 100 * 10**9, "business": None}
REQUEST_LOG_SIZE = 10_000

Outcome = tuple[int, dict[str, Any]]


def storage_full() -> ApiError:
    """§4.4: the media routes build this 402 themselves: `{"error"}` only, no message, no requestId."""
    return route_built(402, "QUOTA_EXCEEDED_STORAGE")


def _product(seed: ProductSeed, scale: float) -> Product:
    destinations = sorted(seed.destinations, key=lambda d: PROVIDER_ORDER.index(d.provider))
    return Product(
        id=seed.id,
        name=seed.name,
        status=seed.status,
        categories=tuple(seed.categories),
        destinations=tuple(
            Destination(
                provider=d.provider,
                display_name=d.display_name,
                account_id=d.account_id,
                extras=d.extras(),
                behaviour=Behaviour(
                    fail_reason=d.behaviour.fail_reason,
                    fail_retryable=d.behaviour.fail_retryable,
                    fail_attempts=d.behaviour.fail_attempts,
                    publish_seconds=None if d.behaviour.publish_seconds is None else d.behaviour.publish_seconds * scale,
                    media_processing_seconds=d.behaviour.media_processing_seconds * scale,
                ),
            )
            for d in destinations
        ),
    )


class EmulatorState:
    def __init__(self, seed: Seed, clock: Clock | None = None) -> None:
        self.seed = seed
        self.clock = clock or Clock()
        self.faults = FaultBook()
        self._lock = threading.RLock()
        scale = seed.clock.scale
        self.timings = Timings(
            run_queued=seed.clock.run_queued_seconds * scale,
            run_running=seed.clock.run_running_seconds * scale,
            tiktok_inbox=seed.clock.tiktok_inbox_seconds * scale,
            schedule_retry_delays=tuple(delay * scale for delay in SCHEDULE_RETRY_DELAYS_SECONDS),
        )
        self.storage_root = Path(tempfile.mkdtemp(prefix="markaestro-emulator-"))
        self.spool_dir = self.storage_root / "incoming"
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.storage_root), True)
        # Emulator-local signing secret for upload URLs and Connect tokens; survives resets.
        self.signing_key = secrets.token_bytes(32)
        self._generation = 0
        self.waiting = {"race_window": 0, "paused_after_reserve": 0}
        self._load()

    @property
    def workspace_id(self) -> str:
        return self.seed.workspace.id

    def _load(self) -> None:
        seed, scale = self.seed, self.seed.clock.scale
        self._generation += 1
        self.products: dict[str, Product] = {p.id: _product(p, scale) for p in seed.products if not p.deleted}
        self.keys: dict[tuple[str, str], KeyRecord] = {}
        for api_key in seed.api_keys:
            parsed = parse_key(api_key.key)
            assert parsed is not None, "validated by the seed schema"
            self.keys[(parsed.workspace_id, parsed.client_id)] = KeyRecord(
                workspace_id=parsed.workspace_id,
                client_id=parsed.client_id,
                secret_sha256=hash_secret(parsed.secret),
                product_id=api_key.product_id,
                scopes=frozenset(api_key.scopes),
                status=api_key.status,
                expires_at=api_key.expires_at,
                owner_is_member=api_key.owner_is_member,
            )
        self.posts: dict[str, Post] = {}
        self.runs: dict[str, JobRun] = {}
        self.assets: dict[str, MediaAsset] = {}
        self.upload_sessions: dict[str, UploadSession] = {}
        self.staged: dict[str, StagedObject] = {}
        self.connect_uploads: dict[str, ConnectUpload] = {}
        self.storage_used = 0
        throttles = seed.publish_throttles
        self.throttle = PublishThrottle(
            limits=throttles.limits,
            window=throttles.window_seconds * scale,
            busy_retry=throttles.busy_retry_seconds * scale,
            destination_lock=throttles.destination_lock,
        )
        now = self.clock.now()
        self.webhooks = WebhookBook(
            workspace_id=seed.workspace.id,
            max_active=seed.webhooks.max_active_endpoints,
            scale=scale,
            generation=self._generation,
        )
        for endpoint in seed.webhooks.endpoints:
            self.webhooks.create(endpoint.url, list(endpoint.events), now, secret=endpoint.secret, status=endpoint.status, seeded=True)
        for index, post_seed in enumerate(seed.posts):
            post = _seeded_post(post_seed, now - (len(seed.posts) - index) * 0.001)
            self.posts[post.id] = post
        self.idempotency = IdempotencyStore(LEASE_SECONDS * scale)
        self.rate_limiter = RateLimiter(
            window_seconds=seed.clock.rate_limit_window_seconds * scale,
            multiplier=PLAN_MULTIPLIERS[seed.workspace.plan],
            route_overrides=seed.rate_limits.routes,
            global_base=seed.rate_limits.global_base,
        )
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        shutil.rmtree(self.storage_root, ignore_errors=True)
        self.spool_dir.mkdir(parents=True)

    @property
    def storage_limit(self) -> int | None:
        ws = self.seed.workspace
        return ws.storage_limit_bytes if ws.storage_limit_bytes is not None else PLAN_STORAGE_BYTES[ws.plan]

    def reset(self) -> None:
        """Back to the seed: no posts, runs, assets, faults, counters or clock offset."""
        with self._lock:
            self.faults.clear()
            self.clock.reset()
            self._load()

    def close(self) -> None:
        """Delete stored media (also runs at garbage collection)."""
        self._cleanup()

    @contextmanager
    def transaction(self) -> Iterator[float]:
        """Hold the lock with lifecycles advanced to `now`, which is yielded."""
        with self._lock:
            now = self.clock.now()
            self._advance(now)
            yield now

    def _advance(self, now: float) -> None:
        """Apply every due transition in time order, so throttles and the busy lock see a consistent past."""
        while (step := self._next_step(now)) is not None:
            kind, target = step
            if isinstance(target, JobRun):
                post = self.posts.get(target.post_id)
                destination = self._destination(post) if post else None
                if kind == "claim":
                    throttled = self.seed.publish_throttles.enabled and not target.scheduler
                    busy = any(
                        r.status == "running" and not r.scheduler and r.destination_id == target.destination_id
                        for r in self.runs.values()
                    )
                    claim_run(target, post, destination, self.throttle if throttled else None, busy, self._emit)
                else:
                    finish_run(target, post, destination, self.timings, self._emit)
            elif kind == "follow_up":
                destination = self._destination(target)
                assert destination is not None, "follow-ups exist only for platform deliveries"
                complete_follow_up(target, destination, self._emit)
            else:  # a scheduled post fell due: the scheduler publishes it directly
                assert target.scheduled_ts is not None
                run = scheduler_run(target, self._destination(target), self.timings, max(target.scheduled_ts, target.updated_at))
                self.runs[run.id] = run

    def _next_step(self, now: float) -> tuple[str, Any] | None:
        best: tuple[float, str, Any] | None = None
        scheduling = {r.post_id for r in self.runs.values() if r.scheduler and r.active}
        for run in self.runs.values():
            if run.status in ("queued", "running"):
                at, kind = (run.start_at, "claim") if run.status == "queued" else (run.finish_at, "finish")
                if at <= now and (best is None or at < best[0]):
                    best = (at, kind, run)
        for post in self.posts.values():
            if post.follow_up is not None and post.follow_up.due_at <= now and (best is None or post.follow_up.due_at < best[0]):
                best = (post.follow_up.due_at, "follow_up", post)
            if post.status == "scheduled" and post.scheduled_ts is not None and post.id not in scheduling:
                due = max(post.scheduled_ts, post.updated_at)
                if due <= now and (best is None or due < best[0]):
                    best = (due, "schedule", post)
        return None if best is None else (best[1], best[2])

    def _emit(self, event_type: str, post: Post, data: dict[str, Any], at: float, from_api_run: bool) -> None:
        """API publish runs notify for any post; scheduler, TikTok poll and manual paths only for API-created ones."""
        if from_api_run or post.api_created:
            self.webhooks.emit(event_type, data, at)

    def advance(self) -> list[Job]:
        """Ticker entry point: bring lifecycles up to now and claim due webhook deliveries."""
        with self.transaction() as now:
            return self.webhooks.due(now)

    def record_delivery(self, job: Job, at: float, response_code: int | None, error: str | None) -> None:
        with self._lock:
            self.webhooks.record(job, at, response_code, error)

    def _destination(self, post: Post) -> Destination | None:
        product = self.products.get(post.product_id)
        return product.destination(post.destination_id) if product else None

    # -- operations used by the public routes -------------------------------------------------

    async def idempotent(
        self,
        route: tuple[str, str],
        key: str | None | Callable[[], str | None],
        request_hash: str,
        operation: Callable[[float, str | None], Outcome],
        *,
        precheck: Callable[[], None] | None = None,
    ) -> Outcome:
        """§5 in two commits, as in production: reserve the key (or replay, 409, 400), then operate.

        The reservation is committed before the operation runs, so an identical request arriving
        meanwhile gets 409 IN_PROGRESS instead of queueing behind the lock. Nothing clears the
        reservation when the operation raises; only a stored success or the lease lapsing frees it.
        `precheck` and a callable `key` run inside the reservation transaction, in that order
        (publish: status preconditions first, then the key is validated). `route` is
        (method, path) for the reservation-level faults.
        """
        with self.transaction() as now:
            if precheck is not None:
                precheck()
            key = key() if callable(key) else key
            if key is not None:
                replay = self.idempotency.begin(self.workspace_id, key, request_hash, now)
                if replay is not None:
                    return replay.status, replay.body
            generation = self._generation
        fault = self.faults.take(*route, at_reservation=True)
        if fault is not None and fault.action == "error_after_reserve":
            raise internal(fault.status)
        if fault is not None and fault.delay_seconds:
            with self._counting("paused_after_reserve"):
                await asyncio.sleep(fault.delay_seconds)
        with self.transaction() as now:
            if self._generation != generation:
                raise internal()  # reset while the operation was pending
            status, body = operation(now, key)
            if key is not None:
                self.idempotency.complete(self.workspace_id, key, status, body)
            return status, body

    def create_post(self, product_id: str, data: dict[str, Any], key: str | None, now: float) -> Post:
        post = build_post(
            data, key_product_id=product_id, products=self.products, assets=self.assets, now=now, idempotency_key=key
        )
        self.posts[post.id] = post
        return post

    def create_batch(self, product_id: str, items: list[dict[str, Any]], key: str | None, now: float) -> Outcome:
        """Each item succeeds or fails on its own; results keep input order."""
        results: list[dict[str, Any]] = []
        for item in items:
            try:
                results.append({"ok": True, "post": self.create_post(product_id, item, key, now).to_json()})
            except ApiError as exc:
                results.append({"ok": False, "error": exc.code})
        created = sum(1 for r in results if r["ok"])
        return 200, {"results": results, "created": created, "total": len(results)}

    def visible_post(self, product_id: str, post_id: str) -> Post:
        """Other brands' posts are 404, deliberately not 403."""
        post = self.posts.get(post_id)
        if post is None or not post.product_id or post.product_id != product_id:
            raise not_found()
        return post

    def visible_run(self, product_id: str, run_id: str) -> JobRun:
        run = self.runs.get(run_id)
        if run is None or run.scheduler:
            raise not_found()
        self.visible_post(product_id, run.post_id)
        return run

    @property
    def publish_race_window(self) -> float:
        """Real seconds between the publish precondition read and the transaction (0: none)."""
        return self.seed.clock.publish_race_window_seconds * self.seed.clock.scale

    @contextmanager
    def _counting(self, counter: str) -> Iterator[None]:
        """Count requests waiting at a test-visible point (admin health shows them, so tests need no sleeps)."""
        with self._lock:
            self.waiting[counter] += 1
        try:
            yield
        finally:
            with self._lock:
                self.waiting[counter] -= 1

    def in_race_window(self) -> AbstractContextManager[None]:
        """A publish waiting between its precondition read and its transaction."""
        return self._counting("race_window")

    def check_publishable(self, product_id: str, post_id: str) -> None:
        """§7.4 steps 1-3: the route-built 409/400 answers, read before any idempotency lookup."""
        with self.transaction():
            post = self.visible_post(product_id, post_id)
            if post.status in PUBLISH_BLOCKING_STATUSES:
                raise route_built(409, "VALIDATION_POST_ALREADY_PUBLISHING", PUBLISH_BLOCKING_STATUSES[post.status])
            if post.status not in PUBLISHABLE_STATUSES:
                raise route_built(400, "VALIDATION_POST_NOT_PUBLISHABLE")

    async def publish(
        self, product_id: str, post_id: str, read_idempotency_key: Callable[[], str | None], *, route: tuple[str, str], precheck: bool
    ) -> Outcome:
        """§7.4 steps 2-5: preconditions (unless the race-window route already read them), key, run."""
        return await self.idempotent(
            route,
            read_idempotency_key,
            hash_json({"postId": post_id}),
            lambda now, key: self._queue_publish(product_id, post_id, key, now),
            precheck=(lambda: self.check_publishable(product_id, post_id)) if precheck else None,
        )

    def _queue_publish(self, product_id: str, post_id: str, key: str | None, now: float) -> Outcome:
        """Reuse an active run; otherwise re-check the post (mapped errors: the race-only rows)."""
        post = self.visible_post(product_id, post_id)
        current = self.runs.get(post.run_id) if post.run_id else None
        if current is None or not current.active:
            if post.status in PUBLISH_BLOCKING_STATUSES:
                raise mapped("VALIDATION_POST_ALREADY_PUBLISHING")
            if post.status not in PUBLISHABLE_STATUSES:
                raise mapped("VALIDATION_POST_NOT_PUBLISHABLE")
            status_before = post.status
            current = queue_run(post, self._destination(post), self.timings, now, key)
            self.runs[current.id] = current
            post.run_id = current.id
            post.scheduled_at = post.scheduled_ts = None  # publishing now supersedes a schedule
            data = {"postId": post.id, "channel": post.channel, "status": status_before, "runId": current.id}
            self._emit("post.publish.queued", post, data, now, True)
        return 202, {"run": current.summary_json()}

    def delete_post(self, product_id: str, post_id: str) -> dict[str, Any]:
        """Hard delete in any status but `publishing`; queued runs later fail with "Post not found"."""
        with self.transaction():
            post = self.visible_post(product_id, post_id)
            if post.status == "publishing":
                raise mapped("VALIDATION_POST_IS_PUBLISHING")
            del self.posts[post_id]
            return {"deleted": True, "id": post_id}

    def list_posts(self, product_id: str, *, status: str | None, limit: int, cursor: str | None) -> Page:
        """createdAt desc, then id desc; the brand's posts only."""
        with self.transaction():
            rows = [p for p in self.posts.values() if p.product_id == product_id and (not status or p.status == status)]
            return paginate(rows, limit, cursor)

    def connect_create(
        self, product_id: str, caption: str, media: list[str], accounts: list[str], scheduled: tuple[str, float] | None
    ) -> Outcome:
        """One post per account (§10.6); the first failure is raised when nothing was created."""
        created: list[Post] = []
        errors: list[tuple[str, ApiError]] = []
        with self.transaction() as now:
            for account in accounts:
                try:
                    created.append(self._connect_post(product_id, caption, media, account, scheduled, now))
                except ApiError as exc:
                    errors.append((account, exc))
        if not created:
            raise errors[0][1]
        return 201, {
            "id": created[0].id,
            "created": [{"id": p.id, "channel": p.channel, "status": p.status} for p in created],
            "errors": [{"account": account, "error": exc.code} for account, exc in errors],
        }

    def _connect_post(
        self, product_id: str, caption: str, media: list[str], account: str, scheduled: tuple[str, float] | None, now: float
    ) -> Post:
        named_product, _, destination_id = account.partition("#") if "#" in account else ("", "", account)
        segments = destination_id.split(":")
        channel = segments[1] if len(segments) > 1 else ""
        if channel not in ("facebook", "instagram", "tiktok", "threads", "pinterest", "linkedin"):
            raise validation_error([{"field": "channel", "code": "invalid_value", "message": "Value is invalid."}])
        data: dict[str, Any] = {"channel": channel, "caption": caption, "mediaAssetIds": list(media), "destinationId": destination_id}
        if named_product:
            data["productId"] = named_product
        if scheduled is not None:  # scheduling forces platform delivery, even for FB/IG/TikTok
            data["deliveryMode"] = "platform_inbox" if channel == "tiktok" else "direct_publish"
        post = build_post(data, key_product_id=product_id, products=self.products, assets=self.assets, now=now, idempotency_key=None)
        if scheduled is not None:
            post.status = "scheduled"
            post.scheduled_at, post.scheduled_ts = scheduled
        self.posts[post.id] = post
        return post

    def _reserve(self, size: int) -> bool:
        """Charge `size` bytes against the cumulative storage cap; False when it does not fit."""
        limit = self.storage_limit
        if size > 0 and limit is not None and self.storage_used + size > limit:
            return False
        self.storage_used += size
        return True

    def _release(self, size: int) -> None:
        self.storage_used = max(0, self.storage_used - size)

    def store_asset(
        self,
        *,
        source: Path,
        file_name: str,
        mime_type: str,
        kind: str,
        extension: str,
        size: int,
        dimensions: tuple[int, int] | None,
        base_url: str,
        now: float,
        asset_id: str | None = None,
        created_by_id: str = "",
        charge: bool = True,
    ) -> MediaAsset:
        """Charge storage (unless reserved earlier), then move the file to its final path (images and videos apart)."""
        if charge and not self._reserve(size):
            raise storage_full()
        asset_id = asset_id or new_asset_id()
        folder = "public-media" if kind == "image" else "videos"
        storage_path = f"workspaces/{self.workspace_id}/{folder}/{asset_id}.{extension}"
        target = self.storage_root / storage_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        token = str(uuid.uuid4())
        asset = MediaAsset(
            id=asset_id,
            type=kind,
            mime_type=mime_type,
            size_bytes=size,
            width=dimensions[0] if dimensions else None,
            height=dimensions[1] if dimensions else None,
            url=f"{base_url}/v0/b/{self.seed.workspace.bucket}/o/{quote(storage_path, safe='')}?alt=media&token={token}",
            storage_path=storage_path,
            file_path=target,
            file_name=file_name,
            download_token=token,
            created_at=now,
            created_by_id=created_by_id,
        )
        self.assets[asset.id] = asset
        return asset

    def delete_media(self, asset_id: str) -> dict[str, Any]:
        """Not brand-scoped; posts keep their dangling mediaUrls."""
        with self.transaction():
            asset = self.assets.pop(asset_id, None) if ASSET_ID_RE.match(asset_id) else None
            if asset is None:
                raise not_found()
            asset.file_path.unlink(missing_ok=True)
            self._release(asset.size_bytes)
            return {"deleted": True, "id": asset_id}

    # -- upload sessions (§7.2) ---------------------------------------------------------------------

    def create_upload_session(self, client_id: str, file_name: str, content_type: str, size: int, origin: str) -> dict[str, Any]:
        """Reserve the declared bytes, then sign a PUT URL for the staging object."""
        with self.transaction() as now:
            if not self._reserve(size):
                raise storage_full()
            session_id = new_asset_id()
            extension = extension_of(content_type)
            staging = f"_upload-staging/{self.workspace_id}/public-api/{session_id}.{extension}"
            lifetime = SESSION_LIFETIME_SECONDS * self.seed.clock.scale
            signed = sign_upload_url(self.signing_key, origin, self.seed.workspace.bucket, staging, content_type, now, lifetime)
            session = UploadSession(
                id=session_id,
                client_id=client_id,
                file_name=file_name,
                content_type=content_type,
                size_bytes=size,
                extension=extension,
                staging_path=staging,
                created_at=now,
                expires_at=signed.expires_at,
                reserved=size,
            )
            self.upload_sessions[session_id] = session
            return session_json(session, signed.url)

    def store_staged(self, object_path: str, source: Path, content_type: str, size: int) -> None:
        """A signed PUT landed: (over)write the staging object."""
        with self._lock:
            target = self.storage_root / object_path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            self.staged[object_path] = StagedObject(target, content_type, size)

    def begin_finalize(self, client_id: str, session_id: str) -> Outcome | UploadSession:
        """The §7.2 finalize table up to taking the lease; a completed session answers 200 at once."""
        if not ASSET_ID_RE.match(session_id):
            raise mapped("VALIDATION_INVALID_UPLOAD_SESSION")
        with self.transaction() as now:
            session = self.upload_sessions.get(session_id)
            if session is None or session.client_id != client_id:
                raise not_found()
            if session.status == "completed":
                assert session.asset is not None
                return 200, {"asset": session.asset.record_json()}
            if session.status == "rejected" or now > session.expires_at:
                raise mapped("VALIDATION_INVALID_UPLOAD_SESSION")
            if session.status == "finalizing" and now < session.lease_until:
                raise route_built(409, "UPLOAD_FINALIZATION_IN_PROGRESS")
            session.status = "finalizing"
            session.lease_until = now + FINALIZE_LEASE_SECONDS * self.seed.clock.scale
            return session

    def finalizes_in_progress(self) -> int:
        """How many upload sessions a finalize holds the lease of right now (admin health shows it).

        Exists so a test can send its concurrent finalize once the first one is provably inside its
        `finalize_delay_seconds`, instead of sleeping and hoping it got there (flaky on a loaded CI runner).
        """
        with self._lock:
            now = self.clock.now()
            return sum(1 for s in self.upload_sessions.values() if s.status == "finalizing" and now < s.lease_until)

    def complete_finalize(self, session: UploadSession, base_url: str) -> Outcome:
        """Check the staged object against the declaration; reject (terminal, refunded) or promote it."""
        with self.transaction() as now:
            if self.upload_sessions.get(session.id) is not session or session.status != "finalizing":
                raise internal()  # reset while finalizing
            staged = self.staged.get(session.staging_path)
            if staged is None:
                session.status, session.lease_until = "pending", 0.0
                raise internal()
            code = _staged_problem(staged, session)
            if code is not None:
                staged.path.unlink(missing_ok=True)
                del self.staged[session.staging_path]
                session.status = "rejected"
                self._release(session.reserved)
                session.reserved = 0
                raise mapped(code)
            kind = kind_of(staged.content_type)
            assert kind is not None
            dimensions = probe_dimensions(staged.path, staged.content_type) if kind == "image" else None
            asset = self.store_asset(
                source=staged.path,
                file_name=session.file_name,
                mime_type=staged.content_type,
                kind=kind,
                extension=session.extension,
                size=staged.size,
                dimensions=dimensions,
                base_url=base_url,
                now=session.created_at,
                asset_id=session.id,
                created_by_id=session.client_id,
                charge=False,
            )
            del self.staged[session.staging_path]
            session.status, session.asset = "completed", asset
            return 201, {"asset": asset.record_json()}

    # -- Connect uploads (§10.4, §10.5) -------------------------------------------------------------

    def connect_upload_url(self, client_id: str, mime: str, reserve: int, origin: str) -> dict[str, Any]:
        with self.transaction() as now:
            if reserve > 0 and not self._reserve(reserve):
                raise storage_full()
            media_id = new_asset_id()
            expires_ms = int((now + CONNECT_URL_LIFETIME_SECONDS * self.seed.clock.scale) * 1000)
            payload = {"v": 2, "ws": self.workspace_id, "assetId": media_id, "mime": mime, "clientId": client_id, "exp": expires_ms}
            self.connect_uploads[media_id] = ConnectUpload(reserved=reserve)
            token = connect_token(self.signing_key, payload)
            return {"media_id": media_id, "upload_url": f"{origin}{CONNECT_PREFIX}/media/upload?token={quote(token, safe='')}"}

    def claim_connect_upload(self, media_id: str) -> None:
        """Single use: a consumed URL, or one with a PUT in flight, is refused."""
        with self.transaction() as now:
            record = self.connect_uploads.setdefault(media_id, ConnectUpload())
            if record.used or now < record.claim_until:
                raise mapped("VALIDATION_UPLOAD_URL_ALREADY_USED")
            record.claim_until = now + CONNECT_CLAIM_LEASE_SECONDS * self.seed.clock.scale

    def complete_connect_upload(
        self, media_id: str, client_id: str, source: Path, mime: str, size: int, base_url: str
    ) -> dict[str, Any]:
        """Charge actual bytes minus the reservation; a refusal releases the claim so the URL can be retried."""
        with self.transaction() as now:
            record = self.connect_uploads.setdefault(media_id, ConnectUpload())
            extra = size - record.reserved
            if extra > 0 and not self._reserve(extra):
                record.claim_until = 0.0
                raise mapped("QUOTA_EXCEEDED_STORAGE")
            if extra < 0:
                self._release(-extra)
            record.reserved, record.used, record.claim_until = 0, True, 0.0
            asset = self.store_asset(
                source=source,
                file_name="",
                mime_type=mime,
                kind="image",
                extension=extension_of(mime),
                size=size,
                dimensions=probe_dimensions(source, mime),
                base_url=base_url,
                now=now,
                asset_id=media_id,
                created_by_id=client_id,
                charge=False,
            )
            return {"media_id": asset.id, "url": asset.url}

    # -- webhook endpoints (§7.6) -------------------------------------------------------------------

    def create_webhook_endpoint(self, url: str, events: list[str]) -> dict[str, Any]:
        with self.transaction() as now:
            return self.webhooks.create(url, events, now).created_json()

    def list_webhook_endpoints(self) -> list[dict[str, Any]]:
        with self.transaction():
            return self.webhooks.listing()

    def disable_webhook_endpoint(self, endpoint_id: str) -> None:
        with self.transaction() as now:
            self.webhooks.disable(endpoint_id, now)

    def overview_deliveries(self) -> list[dict[str, Any]]:
        with self.transaction():
            return self.webhooks.overview()

    def asset_by_path(self, storage_path: str) -> MediaAsset | None:
        with self.transaction():
            return next((a for a in self.assets.values() if a.storage_path == storage_path), None)

    # -- admin -----------------------------------------------------------------------------------

    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.request_log.append(entry)

    def mark_posted(self, post_id: str, external_url: str | None) -> Post | None:
        """Simulate the dashboard's manual confirmation; None when the post is not awaiting it."""
        with self.transaction() as now:
            post = self.posts.get(post_id)
            if post is None or post.status not in ("platform_action_required", "exported_for_review"):
                return None
            mark_posted(post, now, external_url, self._emit)
            return post

    def set_stored_status(self, post_id: str, status: str) -> Post | None:
        with self.transaction():
            post = self.posts.get(post_id)
            if post is not None:
                post.status = status
            return post

    def overview_posts(self) -> list[dict[str, Any]]:
        with self.transaction():
            return [
                {
                    **post.to_json(),
                    "runId": post.run_id,
                    "publishedVia": post.published_via,
                    "idempotencyKey": post.idempotency_key,
                }
                for post in self.posts.values()
            ]

    def overview_runs(self) -> list[dict[str, Any]]:
        with self.transaction():
            return [
                {**run.to_json(), "idempotencyKey": run.idempotency_key, "scheduler": run.scheduler} for run in self.runs.values()
            ]

    def snapshot_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.request_log)

    def now_iso(self) -> str:
        return iso(self.clock.now())


def _seeded_post(seed: PostSeed, default_created: float) -> Post:
    created = parse_iso(seed.created_at) if seed.created_at else None
    created = default_created if created is None else created
    scheduled_ts = parse_iso(seed.scheduled_at) if seed.scheduled_at else None
    return Post(
        id=seed.id or auto_id(),
        product_id=seed.product_id,
        channel=seed.channel,
        caption=seed.caption,
        destination_id=seed.destination_id,
        destination_provider=seed.destination_id.split(":", 1)[0] if seed.destination_id else "",
        delivery_mode=seed.delivery_mode,
        settings=seed.settings,
        media_asset_ids=[],
        media_urls=[],
        created_at=created,
        updated_at=created,
        idempotency_key=None,
        status=seed.status,
        scheduled_at=seed.scheduled_at,
        scheduled_ts=scheduled_ts,
        external_id=seed.external_id,
        external_url=seed.external_url,
        next_action=seed.next_action,
        api_created=seed.api_created,
    )


def _staged_problem(staged: StagedObject, session: UploadSession) -> str | None:
    """Type/size rules first (specific codes), then equality with the declaration."""
    kind = kind_of(staged.content_type)
    if kind is None:
        return "VALIDATION_INVALID_FILE_TYPE"
    if staged.size == 0:
        return "VALIDATION_NO_FILE_PROVIDED"
    if kind == "image" and staged.size > MAX_IMAGE_BYTES:
        return "VALIDATION_FILE_TOO_LARGE_10MB"
    if kind == "video" and staged.size > MAX_VIDEO_BYTES:
        return "VALIDATION_FILE_TOO_LARGE_250MB"
    if staged.content_type != session.content_type or staged.size != session.size_bytes:
        return "VALIDATION_UPLOAD_METADATA_MISMATCH"
    return None
