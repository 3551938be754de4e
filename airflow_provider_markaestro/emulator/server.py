"""Run the emulator on a real loopback socket in a background thread (tests, demos, the CLI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from .app import EmulatorApp, create_app
from .seed import Seed
from .state import EmulatorState
from .ticker import Ticker

STARTUP_TIMEOUT_SECONDS = 15.0


class EmulatorServer:
    """Context manager around uvicorn; `start()` returns once the socket accepts requests."""

    def __init__(
        self,
        seed: Seed | Mapping[str, Any] | str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        scale: float | None = None,
    ) -> None:
        self.app: EmulatorApp = create_app(seed, scale=scale)
        self.host = host
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ticker: Ticker | None = None
        self._stopped = False

    @property
    def state(self) -> EmulatorState:
        return self.app.state

    @property
    def seed(self) -> Seed:
        return self.app.seed

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the emulator is not running")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        if self._thread is not None or self._stopped:
            raise RuntimeError("an EmulatorServer starts once; create a new one instead")
        # Binding here (not in uvicorn) makes port 0 usable: the real port is known before serving.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,  # query strings carry signed-URL tokens
            lifespan="off",
            ws="none",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="markaestro-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Markaestro emulator failed to start")
            time.sleep(0.01)
        self._ticker = Ticker(self.state, self.seed.clock.tick_seconds)
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop ticking and serving, release the socket and delete stored media (final: no restart)."""
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self._stopped = True
        self.state.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
