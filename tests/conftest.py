"""Test environment: a throwaway AIRFLOW_HOME on SQLite, set before anything imports Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    home = Path(os.environ.get("MARKAESTRO_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="mk-airflow-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "mH3c1uX6V2o7mXb3uQp0jz2oA9Zl4N3b1kq0yGmWw8E=")
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "markaestro-provider-tests-" + "x" * 64)
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    if not (home / "airflow.db").exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=os.environ.copy(),
        )
