"""Fixtures for the campaign tests: real files, and a real S3 API (moto server on loopback)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from campaign_testlib import S3_BUCKET, S3_CONN_ID, SAMPLE_DIR


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A writable copy of the sample campaign."""
    dst = tmp_path / "spring_launch"
    shutil.copytree(SAMPLE_DIR, dst)
    return dst


@pytest.fixture(scope="session")
def moto_s3():
    """A moto S3 server on 127.0.0.1 (free port) and an Airflow ``aws`` connection pointing at it.

    The Amazon provider's ``fs/s3.py`` builds the s3fs filesystem from ``S3Hook(aws_conn_id)``:
    credentials from the connection login/password, the endpoint from ``extra.endpoint_url``
    (``conn_config.get_service_endpoint_url("s3")``) and the region from ``extra.region_name``.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(
            {
                "conn_type": "aws",
                "login": "test",
                "password": "test",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    client.create_bucket(Bucket=S3_BUCKET)
    try:
        yield {"endpoint": endpoint, "client": client, "bucket": S3_BUCKET, "conn_id": S3_CONN_ID}
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
