"""S3 for the benches: a moto server in its own process on 127.0.0.1, objects put from another process,
and the Airflow ``aws`` connection pointing at it (the same mapping as ``tests/dags/conftest.py``).

Run as a script it is that helper process::

    python bench/_s3.py serve                      # prints "MOTO http://127.0.0.1:<port>", serves until stdin closes
    python bench/_s3.py put <endpoint> <bucket> <key> <file>   # create the bucket if needed, upload the file

Neither boto3's transfer buffers nor moto's copy of the object are in the bench process's RSS.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import stop_process

HOST = "127.0.0.1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def moto_process() -> Iterator[str]:
    """Start ``python bench/_s3.py serve`` (moto on 127.0.0.1, free port); yield its endpoint URL.

    The server is stopped on every path: terminated (then killed), and it also exits by itself when its
    stdin closes, i.e. if this process dies without cleaning up.
    """
    log = tempfile.NamedTemporaryFile("w+", prefix="mk-bench-moto-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **CREDENTIALS},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"MOTO (http://127\.0\.0\.1:\d+)", line)
        if not match:
            proc.wait(timeout=15)
            log.seek(0)
            raise RuntimeError(f"moto server did not start: {line!r} {log.read()[-2000:]}")
        yield match.group(1)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()
        os.unlink(log.name)


def put_object(endpoint: str, bucket: str, key: str, path: Path, timeout: float = 120) -> None:
    """Upload ``path`` to ``s3://bucket/key`` from a separate process (creates the bucket if needed)."""
    subprocess.run(
        [sys.executable, __file__, "put", endpoint, bucket, key, str(path)],
        check=True, timeout=timeout, env={**os.environ, **CREDENTIALS},
    )


def set_aws_connection(conn_id: str, endpoint: str) -> None:
    """The Airflow ``aws`` connection the Amazon provider's ``fs/s3.py`` builds s3fs from:
    login/password = credentials, ``extra.endpoint_url`` = the moto server, ``extra.region_name``."""
    os.environ.update(CREDENTIALS)
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps({
        "conn_type": "aws", "login": "test", "password": "test",
        "extra": {"endpoint_url": endpoint, "region_name": CREDENTIALS["AWS_DEFAULT_REGION"]},
    })


def _serve() -> int:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"MOTO http://{host}:{port}", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies); SIGTERM also ends us
    finally:
        server.stop()
    return 0


def _put(endpoint: str, bucket: str, key: str, file: str) -> int:
    import boto3

    if not endpoint.startswith(f"http://{HOST}:"):
        raise SystemExit(f"refusing a non-loopback endpoint: {endpoint}")
    client = boto3.client("s3", endpoint_url=endpoint, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
                          aws_access_key_id="test", aws_secret_access_key="test")
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    client.upload_file(file, bucket, key)
    size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    if size != os.path.getsize(file):
        raise SystemExit(f"s3://{bucket}/{key} has {size} bytes, expected {os.path.getsize(file)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(_serve())
    if sys.argv[1:2] == ["put"] and len(sys.argv) == 6:
        sys.exit(_put(*sys.argv[2:]))
    raise SystemExit(__doc__)
