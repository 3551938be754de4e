"""Shared bench helpers: run the emulator CLI in its own process and point an Airflow connection at it."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def airflow_env() -> None:
    """A throwaway AIRFLOW_HOME so the hook can resolve connections from env vars only (removed at exit;
    an AIRFLOW_HOME already set is used as is and left alone)."""
    if "AIRFLOW_HOME" not in os.environ:
        home = Path(tempfile.mkdtemp(prefix="mk-bench-airflow-"))
        os.environ["AIRFLOW_HOME"] = str(home)
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")


def demo_seed() -> dict[str, Any]:
    from airflow_provider_markaestro.emulator.seed import DEMO_SEED_PATH

    return yaml.safe_load(DEMO_SEED_PATH.read_text())


@contextmanager
def emulator_process(seed: dict[str, Any] | None = None) -> Iterator[str]:
    """Start ``python -m airflow_provider_markaestro.emulator`` on a free port; yield its URL."""
    args = [sys.executable, "-m", "airflow_provider_markaestro.emulator", "--port", "0"]
    seed_file = None
    if seed is not None:
        seed_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(seed, seed_file)
        seed_file.close()
        args += ["--seed", seed_file.name]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://\S+)", line)
        if not match:
            raise RuntimeError(f"emulator did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
        yield match.group(1)
    finally:
        stop_process(proc)
        if seed_file is not None:
            os.unlink(seed_file.name)


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate, then kill if it lingers; always reaped."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def set_connection(conn_id: str, url: str, key: str, **extra: Any) -> None:
    conn = {"conn_type": "markaestro", "host": url, "password": key, "extra": extra}
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)
