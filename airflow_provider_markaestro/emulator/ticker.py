"""Background ticker: advances lifecycles (runs, TikTok follow-ups, due scheduled posts) and sends webhooks.

Lifecycles are also advanced on every request; the ticker is what makes things happen when nobody
asks, which webhooks need. Deliveries go out on a small pool, outside the state lock.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from .clock import iso
from .state import EmulatorState
from .webhooks import SEND_TIMEOUT_SECONDS, Job, send

PARALLEL_DELIVERIES = 5


class Ticker:
    def __init__(self, state: EmulatorState, interval: float) -> None:
        self.state = state
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="markaestro-emulator-ticker", daemon=True)
        self._pool = ThreadPoolExecutor(PARALLEL_DELIVERIES, thread_name_prefix="markaestro-emulator-webhook")
        timeout = min(SEND_TIMEOUT_SECONDS, max(1.0, SEND_TIMEOUT_SECONDS * state.seed.clock.scale))
        # trust_env=False: deliveries go straight to the receiver, never through a proxy from the environment.
        self._client = httpx.Client(timeout=timeout, follow_redirects=True, trust_env=False)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking, let in-flight deliveries finish (bounded by the send timeout), close the client."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def tick(self) -> None:
        for job in self.state.advance():
            if self._stop.is_set():
                self.state.record_delivery(job, self.state.clock.now(), None, "emulator stopping")
                continue
            self._pool.submit(self._deliver, job)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a bad tick must not kill the thread; the next one retries
                continue

    def _deliver(self, job: Job) -> None:
        at = self.state.clock.now()
        code, error = send(self._client, job, iso(at))
        self.state.record_delivery(job, at, code, error)
