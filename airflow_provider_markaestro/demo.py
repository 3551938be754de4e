"""``make demo``: the example campaign DAG, end to end, in real Airflow against the local emulator.

Starts the emulator on a free port, copies the sample campaign into a throwaway bucket folder, runs
``airflow dags test markaestro_campaign`` in a throwaway AIRFLOW_HOME (the connection is an
``AIRFLOW_CONN_MARKAESTRO_DEFAULT`` JSON variable), prints one line per (post, destination), writes
``build/demo-report.json``, runs the DAG a second time to show that nothing is posted twice, and
stops the emulator on every path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from airflow_provider_markaestro.emulator import DEMO_SEED_PATH

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "markaestro_campaign"


def _start_emulator(seed: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_markaestro.emulator", "--port", "0", "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=log, text=True,
        )
    deadline = time.time() + 30
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            return proc, line.rsplit(" ", 1)[-1].strip()
        if proc.poll() is not None:
            break
    _stop(proc)
    raise SystemExit(f"the emulator did not start; see {log_path}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _airflow(env: dict[str, str], log_path: Path, *args: str) -> int:
    with log_path.open("a") as log:
        log.write(f"\n$ airflow {' '.join(args)}\n")
        log.flush()
        return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, stdout=log,
                              stderr=subprocess.STDOUT).returncode


def _demo_key(seed: Path) -> str:
    """The demo campaign's product is the seed's first product; use its all-scopes key."""
    data = yaml.safe_load(seed.read_text())
    product_id = data["products"][0]["id"]
    for key in data["api_keys"]:
        if key.get("product_id") == product_id and not key.get("scopes"):
            return key["key"]
    raise SystemExit(f"no all-scopes API key for product {product_id} in {seed}")


def _expected_pairs(bucket: Path, url: str, key: str) -> set[tuple[str, str]]:
    """Every (post key, destination id) the manifest asks for, from the emulator's destinations:
    the report is checked against what should have gone out, not against what did."""
    from airflow_provider_markaestro.campaign import load_campaign, plan_posts

    campaign = load_campaign(bucket.as_uri())
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{url}/api/public/v1", headers=headers, timeout=10) as client:
        [product] = client.get("/products").json()["products"]
        destinations = client.get(f"/products/{product['id']}/destinations").json()["destinations"]
    placeholders = {rel: rel for rel in campaign.media_files()}
    return {(e["post_key"], e["destination_id"])
            for alias in campaign.products
            for e in plan_posts(campaign, alias, product["id"], destinations, placeholders, {})}


def _print_table(rows: list[dict[str, Any]]) -> None:
    from airflow_provider_markaestro.fanout import format_table

    print(format_table(rows))


def run(build: Path, seed: Path, campaign: Path, extra_env: dict[str, str] | None = None) -> int:
    build.mkdir(parents=True, exist_ok=True)
    work = build / "demo"
    shutil.rmtree(work, ignore_errors=True)
    bucket = work / "bucket" / campaign.name
    shutil.copytree(campaign, bucket, ignore=shutil.ignore_patterns("_markaestro"))
    home = work / "airflow-home"
    home.mkdir(parents=True)
    log_path = work / "airflow.log"

    emulator, url = _start_emulator(seed, work / "emulator.log")
    try:
        conn = {"conn_type": "markaestro", "host": url, "password": _demo_key(seed)}
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW_CONN_MARKAESTRO_DEFAULT": json.dumps(conn),
            "MARKAESTRO_CAMPAIGN_URL": bucket.as_uri(),
            **(extra_env or {}),
        }
        print(f"Markaestro emulator on {url}; campaign bucket {bucket.as_uri()}")
        if _airflow(env, log_path, "db", "migrate") != 0:
            print(f"airflow db migrate failed; see {log_path}")
            return 1
        started = time.time()
        rc = _airflow(env, log_path, "dags", "test", DAG_ID)
        first_run = time.time() - started
        ledger_path = bucket / "_markaestro" / "ledger.json"
        ledger = json.loads(ledger_path.read_text()) if ledger_path.exists() else {}
        emulator_posts = httpx.get(f"{url}/_emulator/posts", timeout=10).json()["posts"]
        calls_first = len(httpx.get(f"{url}/_emulator/requests", timeout=10).json()["requests"])
        rows = [
            {"post_key": key.split("|", 1)[0], "product_id": e.get("product_id"),
             "destination_id": key.split("|", 1)[1], "channel": e.get("channel"),
             "post_id": e.get("post_id"), "status": e.get("status")}
            for key, e in sorted(ledger.items())
        ]
        report = {"posts": rows}
        (build / "demo-report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        _print_table(rows)
        if rc != 0:
            print(f"\nairflow dags test failed (rc={rc}); see {log_path}")
            return rc
        per_post = {p["id"] for p in emulator_posts}
        if len(emulator_posts) != len(rows) or {r["post_id"] for r in rows} != per_post:
            print(f"\nmismatch: {len(rows)} report rows but {len(emulator_posts)} posts in the emulator")
            return 1

        second_started = time.time()
        rc = _airflow(env, log_path, "dags", "test", DAG_ID)
        second_run = time.time() - second_started
        again = httpx.get(f"{url}/_emulator/posts", timeout=10).json()["posts"]
        requests = httpx.get(f"{url}/_emulator/requests", timeout=10).json()["requests"]
        second = requests[calls_first:]
        mutating = [r for r in second if r["method"] != "GET"]
        print(f"\n{len(rows)} (post, destination) pairs over {len({r['channel'] for r in rows})} channels; "
              f"{len(emulator_posts)} posts in the emulator. First run {first_run:.1f}s, "
              f"{calls_first} HTTP calls to Markaestro.")
        print(f"Second run of the same campaign: rc={rc}, {len(again) - len(emulator_posts)} new post(s), "
              f"{len(second)} HTTP calls ({len(mutating)} mutating).")
        report["runs"] = [
            {"run": 1, "rc": 0, "seconds": round(first_run, 1), "http_calls": calls_first,
             "mutating_calls": sum(1 for r in requests[:calls_first] if r["method"] != "GET"),
             "new_posts": len(emulator_posts)},
            {"run": 2, "rc": rc, "seconds": round(second_run, 1), "http_calls": len(second),
             "mutating_calls": len(mutating), "new_posts": len(again) - len(emulator_posts)},
        ]
        (build / "demo-report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"Report: {build / 'demo-report.json'}  Airflow log: {log_path}")
        expected = _expected_pairs(bucket, url, conn["password"])
        missing = expected - {(r["post_key"], r["destination_id"]) for r in rows}
        if missing:
            print(f"\nmissing from the report: {sorted(missing)}")
            return 1
        unsent = [r for r in rows if r["status"] not in ("published", "platform_action_required")]
        if unsent:
            print(f"\nnot published: {unsent}")
            return 1
        return rc if rc != 0 else (0 if len(again) == len(emulator_posts) else 1)
    finally:
        _stop(emulator)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=Path.cwd() / "build")
    parser.add_argument("--seed", type=Path, default=Path(DEMO_SEED_PATH))
    parser.add_argument("--campaign", type=Path, default=REPO / "dags" / "campaigns" / "spring_launch")
    args = parser.parse_args(argv)
    return run(args.build, args.seed, args.campaign)


if __name__ == "__main__":
    sys.exit(main())
