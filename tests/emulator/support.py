"""Shared helpers for the emulator tests: seed values, an authenticated client, tiny media files."""

from __future__ import annotations

import copy
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import yaml

from airflow_provider_markaestro.emulator import DEMO_SEED_PATH, EmulatorServer, load_seed

DEMO = load_seed()
NORTHWIND = DEMO.products[0].id
ORBIT = DEMO.products[1].id
KEY_NORTHWIND, KEY_ORBIT, KEY_READONLY = (k.key for k in DEMO.api_keys)
P = "/api/public/v1"
RL_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
# One shared client without an API key (signed URLs, downloads, raw auth headers); closed by conftest.
RAW = httpx.Client(timeout=30)


def demo_seed_dict() -> dict[str, Any]:
    """A fresh, mutable copy of the demo seed for tests that need variations."""
    return copy.deepcopy(yaml.safe_load(DEMO_SEED_PATH.read_text()))


# Run phases (emulator seconds) for tests that observe an intermediate lifecycle state. Emulator time is
# wall clock + offset, so real time keeps running between requests; with the demo's 0.2 s / 0.3 s / 0.5 s
# a GC pause or a loaded CI runner could move a run past the phase being asserted. With 10 s phases, a
# test advances just past a boundary and has ~10 s of real-time slack before the next one.
SLOW_CLOCK = {"run_queued_seconds": 10.0, "run_running_seconds": 10.0, "tiktok_inbox_seconds": 10.0}
SLOW_QUEUED, SLOW_RUNNING, SLOW_INBOX = SLOW_CLOCK["run_queued_seconds"], SLOW_CLOCK["run_running_seconds"], SLOW_CLOCK["tiktok_inbox_seconds"]


def slow_seed_dict() -> dict[str, Any]:
    """The demo seed with SLOW_CLOCK run phases (everything else, e.g. the 60 s rate window, unchanged)."""
    seed = demo_seed_dict()
    seed["clock"].update(SLOW_CLOCK)
    return seed


def make_key(workspace_id: str, n: int) -> str:
    """A syntactically valid extra test key (fake)."""
    return f"mk_live_{workspace_id}.cli_00000000-0000-4000-8000-{n:012d}.{'A' * 31}{n % 10}"


class Api:
    """httpx client bound to one API key plus shortcuts to the admin routes."""

    def __init__(self, server: EmulatorServer, key: str | None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.server = server
        self.http = httpx.Client(base_url=server.url, headers=headers, timeout=10)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def create(self, body: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.http.post(f"{P}/posts", json=body, **kw)

    def create_ok(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.create(body)
        assert response.status_code == 201, response.text
        post: dict[str, Any] = response.json()["post"]
        return post

    def publish(self, post_id: str, **kw: Any) -> httpx.Response:
        return self.http.post(f"{P}/posts/{post_id}/publish", **kw)

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"{P}/job-runs/{run_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()["run"]
        return run

    def post_of(self, post_id: str) -> dict[str, Any]:
        response = self.http.get(f"{P}/posts/{post_id}")
        assert response.status_code == 200, response.text
        post: dict[str, Any] = response.json()["post"]
        return post

    def upload(self, name: str, data: bytes, mime: str, **kw: Any) -> httpx.Response:
        return self.http.post(f"{P}/media", files={"file": (name, data, mime)}, **kw)

    def upload_ok(self, name: str, data: bytes, mime: str) -> dict[str, Any]:
        response = self.upload(name, data, mime)
        assert response.status_code == 201, response.text
        asset: dict[str, Any] = response.json()["asset"]
        return asset

    def advance(self, seconds: float) -> None:
        self.http.post("/_emulator/clock/advance", json={"seconds": seconds}).raise_for_status()

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = self.admin("GET", "/health").json()
        return body

    def fresh_rate_window(self) -> float:
        """Start a new epoch-aligned rate window (emulator time); returns the emulator's Unix time."""
        response = self.http.post("/_emulator/clock/next-window")
        response.raise_for_status()
        return float(response.json()["unix"])

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, f"/_emulator{path}", **kw)

    def close(self) -> None:
        self.http.close()


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    exif = b"\xff\xe1" + struct.pack(">H", 2 + 300) + b"\x00" * 300  # a blob to skip over
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + exif + sof0 + b"\xff\xd9"


def webp(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


C = "/api/connect/v1"


def assert_error(response: httpx.Response, status: int, code: str, *, rid: bool, rl: bool, message: bool = False) -> dict[str, Any]:
    """Status, exact key set (requestId / message presence) and X-RateLimit-* presence of an error answer."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    expected = {"error"} | ({"requestId"} if rid else set()) | ({"message"} if message else set())
    if code == "VALIDATION_ERROR":
        expected |= {"issues"}
    if code == "RATE_LIMITED":
        expected |= {"retryAfter"}
    assert set(body) == expected, body
    assert all((h in response.headers) == rl for h in RL_HEADERS), dict(response.headers)
    return body


class ClientCache:
    """One :class:`Api` per key for a whole session: building an httpx client costs ~50 ms (SSL context)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self._made: dict[str | None, Api] = {}

    def __call__(self, key: str | None) -> Api:
        if key not in self._made:
            self._made[key] = Api(self.server, key)
        return self._made[key]

    def reset(self) -> None:
        """Back to the seed's state (and wall-clock time) before a test."""
        self(None).admin("POST", "/reset").raise_for_status()

    def close(self) -> None:
        for api in self._made.values():
            api.close()


class Receiver:
    """A tiny webhook receiver on 127.0.0.1: records every POST and answers the queued status codes (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer._cond:
                    outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    outer._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hook"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.requests) >= count, timeout), f"got {len(self.requests)} of {count}"
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def wait_deliveries(api: Api, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Poll the admin delivery log until `predicate(deliveries)` holds (attempts are recorded after the POST)."""
    deadline = time.monotonic() + timeout
    while True:
        deliveries: list[dict[str, Any]] = api.admin("GET", "/webhook-deliveries").json()["deliveries"]
        if predicate(deliveries):
            return deliveries
        assert time.monotonic() < deadline, deliveries
        time.sleep(0.02)


# Real seconds a finalize holds its lease in the concurrent-finalize tests (seed uploads.finalize_delay_seconds).
# The second finalize is sent only once health shows the first one holding the lease, so this is pure slack
# for that one request to arrive; each such test costs about this long.
FINALIZE_HOLD_SECONDS = 2.0


def finalize_twice_concurrently(api: Api, session_id: str) -> tuple[httpx.Response, httpx.Response]:
    """(first, second): the second finalize is sent while the first provably holds the lease."""
    path = f"{P}/media/upload-sessions/{session_id}/finalize"
    first: list[httpx.Response] = []
    # its own client: httpx.Client is not meant to be shared between threads mid-request
    headers = {"Authorization": api.http.headers["Authorization"]}
    sender = threading.Thread(target=lambda: first.append(RAW.post(f"{api.server.url}{path}", headers=headers)))
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while api.health()["finalizesInProgress"] == 0:
            assert sender.is_alive() and time.monotonic() < deadline, "the first finalize never took the lease"
            time.sleep(0.01)
        second = api.post(path)
    finally:
        sender.join(timeout=30)
    assert first, "the first finalize did not answer"
    return first[0], second
