"""A full campaign run through the Airflow CLI at DEBUG level leaks no secret anywhere it writes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from airflow_provider_markaestro import demo
from airflow_provider_markaestro.emulator import DEMO_SEED_PATH

ROOT = Path(__file__).resolve().parents[2]


def _everything_written(build: Path) -> dict[str, bytes]:
    files = {}
    for path in build.rglob("*"):
        if path.is_file() and path.suffix not in (".jpg", ".png", ".mp4"):
            files[str(path.relative_to(build))] = path.read_bytes()
    return files


def test_full_dag_run_at_debug_level_leaks_no_api_key(tmp_path):
    rc = demo.run(tmp_path, Path(DEMO_SEED_PATH), ROOT / "dags" / "campaigns" / "spring_launch",
                  extra_env={"AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"})
    assert rc == 0
    key = yaml.safe_load(Path(DEMO_SEED_PATH).read_text())["api_keys"][0]["key"]
    secret = key.rsplit(".", 1)[1]
    written = _everything_written(tmp_path)
    assert any(name.endswith("airflow.db") for name in written)  # XComs, rendered fields, trigger kwargs
    assert sum(len(v) for v in written.values()) > 100_000  # the logs really are there (DEBUG)
    leaks = [name for name, data in written.items() if secret.encode() in data]
    assert leaks == []
    report = json.loads((tmp_path / "demo-report.json").read_text())
    assert len(report["posts"]) >= 5
