"""The in-memory workspace: products, keys, posts, runs, assets, idempotency and rate-limit state.

Every access goes through `transaction()`, which takes the lock and first advances publish
lifecycles to the current emulator time, so state is always observed up to date.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .clock import Clock, iso
from .errors import ApiError, not_found, route_built
from .faults import FaultBook
from .idempotency import LEASE_SECONDS, IdempotencyStore, hash_json
from .ids import asset_id as new_asset_id
from .keys import hash_secret, parse_key
from .lifecycle import (
    PUBLISH_BLOCKING_STATUSES,
    PUBLISHABLE_STATUSES,
    Timings,
    complete_follow_up,
    finish_run,
    mark_posted,
    queue_run,
    start_run,
)
from .models import PROVIDER_ORDER, Behaviour, Destination, JobRun, KeyRecord, MediaAsset, Post, Product
from .posts import build_post
from .ratelimit import PLAN_MULTIPLIERS, RateLimiter
from .seed import ProductSeed, Seed

# Cumulative storage caps per plan (None = unlimited).
PLAN_STORAGE_BYTES: dict[str, int | None] = {"starter": 10 * 10**9, "pro": 100 * 10**9, "business": None}
REQUEST_LOG_SIZE = 10_000

Outcome = tuple[int, dict[str, Any]]


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
        )
        self.storage_root = Path(tempfile.mkdtemp(prefix="markaestro-emulator-"))
        self.spool_dir = self.storage_root / "incoming"
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.storage_root), True)
        self._load()

    @property
    def workspace_id(self) -> str:
        return self.seed.workspace.id

    def _load(self) -> None:
        seed, scale = self.seed, self.seed.clock.scale
        self.products: dict[str, Product] = {p.id: _product(p, scale) for p in seed.products}
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
        self.storage_used = 0
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
        for run in self.runs.values():
            if not run.active:
                continue
            post = self.posts[run.post_id]
            if run.status == "queued" and now >= run.start_at:
                start_run(run, post)
            if run.status == "running" and now >= run.finish_at:
                finish_run(run, post, self._destination(post), self.timings)
        for post in self.posts.values():
            if post.follow_up is not None and now >= post.follow_up.due_at:
                destination = self._destination(post)
                assert destination is not None, "follow-ups exist only for platform deliveries"
                complete_follow_up(post, destination)

    def _destination(self, post: Post) -> Destination | None:
        product = self.products.get(post.product_id)
        return product.destination(post.destination_id) if product else None

    # -- operations used by the public routes -------------------------------------------------

    def idempotent(self, key: str | None, request_hash: str, operation: Callable[[float], Outcome]) -> Outcome:
        """Run `operation` once per (workspace, key); replay stored successes, keep failures reserved."""
        with self.transaction() as now:
            if key is not None:
                replay = self.idempotency.begin(self.workspace_id, key, request_hash, now)
                if replay is not None:
                    return replay.status, replay.body
            status, body = operation(now)
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
        if run is None:
            raise not_found()
        self.visible_post(product_id, run.post_id)
        return run

    def publish(self, product_id: str, post_id: str, read_idempotency_key: Callable[[], str | None]) -> Outcome:
        """§7.4: preconditions first, then idempotency, then reuse an active run or queue a new one."""
        with self.transaction():
            post = self.visible_post(product_id, post_id)
            if post.status in PUBLISH_BLOCKING_STATUSES:
                raise route_built(409, "VALIDATION_POST_ALREADY_PUBLISHING", PUBLISH_BLOCKING_STATUSES[post.status])
            if post.status not in PUBLISHABLE_STATUSES:
                raise route_built(400, "VALIDATION_POST_NOT_PUBLISHABLE")
            key = read_idempotency_key()
            return self.idempotent(key, hash_json({"postId": post_id}), lambda now: self._queue_publish(post, key, now))

    def _queue_publish(self, post: Post, key: str | None, now: float) -> Outcome:
        current = self.runs.get(post.run_id) if post.run_id else None
        if current is None or not current.active:
            current = queue_run(post, self._destination(post), self.timings, now, key)
            self.runs[current.id] = current
            post.run_id = current.id
            post.scheduled_at = None  # publishing now supersedes a schedule
        return 202, {"run": current.summary_json()}

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
    ) -> MediaAsset:
        """Charge storage, then move the spooled file to its final path (images and videos apart)."""
        limit = self.storage_limit
        if limit is not None and self.storage_used + size > limit:
            raise route_built(402, "QUOTA_EXCEEDED_STORAGE", "Storage limit reached for this workspace")
        asset_id = new_asset_id()
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
        )
        self.assets[asset.id] = asset
        self.storage_used += size
        return asset

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
            mark_posted(post, now, external_url)
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
            return [{**run.to_json(), "idempotencyKey": run.idempotency_key} for run in self.runs.values()]

    def snapshot_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.request_log)

    def now_iso(self) -> str:
        return iso(self.clock.now())
