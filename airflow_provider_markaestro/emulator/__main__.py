"""CLI: `python -m airflow_provider_markaestro.emulator --port N [--seed FILE] [--host H] [--scale F]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .seed import DEMO_SEED_PATH
from .server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_markaestro.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--seed", default=str(DEMO_SEED_PATH), help="YAML/JSON seed file (default: packaged demo)")
    parser.add_argument("--scale", type=float, default=None, help="multiply every emulated duration by this factor")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    server = EmulatorServer(seed=args.seed, host=args.host, port=args.port, scale=args.scale)
    server.start()
    try:
        print(f"Markaestro emulator listening on {server.url}", flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
