"""Streaming upload of a 250 MB video: MarkaestroHook vs curl (local file), and the hook from S3.

* The emulator runs as a separate process (CLI), so its memory is not counted. So does the S3 server
  (moto, ``bench/_s3.py serve``, on 127.0.0.1), and the video is put into its bucket from yet another
  short-lived process, so neither moto's copy nor boto3's transfer buffers are in this process.
* A 250,000,000-byte random ``.mp4`` is written to a temp dir (random, so nothing compresses).
* Local — hook: ``hook.upload_media(path)`` — above the session threshold this is create session →
  PUT to the signed URL (streamed in 1 MiB chunks, exact Content-Type, no Authorization) → finalize.
  Timed end to end (all three calls).
* Local — curl: the session is created with the hook, then ``curl -T file -H 'Content-Type: video/mp4' <url>``
  is timed (the PUT alone — generous to curl; ``Expect: 100-continue`` disabled so curl does not
  wait for an interim answer), then the session is finalized with the hook.
* S3 — hook: the same video at ``s3://mk-bench-media/videos/launch-film.mp4``, read through the Airflow
  ``aws`` connection ``bench_upload_s3`` (``extra.endpoint_url`` = the moto server):
  ``hook.upload_media(as_storage_path("s3://…", "bench_upload_s3"))`` timed end to end (path
  construction, HEAD, session, streamed PUT read from the bucket, finalize). One ``stat()`` beforehand
  warms up the s3fs filesystem (imports, aiobotocore session), so that is not counted as growth.
  It measures the requirement "large videos stream from the bucket to the API without being held whole in memory".
* Peak RSS growth of this process during each hook upload (local and S3) is sampled every 2 ms by a
  thread (psutil), relative to the RSS just before that upload.

Prints one line per source, then
``rss_growth_mb=<MiB, max over local and S3> throughput_vs_curl=<local hook MB/s ÷ curl MB/s>
rss_growth_s3_mb=<MiB, S3 peak> s3_mb_per_s=<S3 hook MB/s>``
(targets: rss_growth_mb ≤ 64 and throughput_vs_curl ≥ 0.5). Best of ``--repeat`` runs for each
throughput, max of the runs for each RSS figure.

    python bench/upload.py [--size 250000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil  # noqa: E402
from _common import airflow_env, demo_seed, emulator_process, set_connection  # noqa: E402
from _s3 import moto_process, put_object, set_aws_connection  # noqa: E402

MB = 1_000_000
S3_CONN_ID = "bench_upload_s3"
S3_BUCKET = "mk-bench-media"
S3_KEY = "videos/launch-film.mp4"


class PeakRss:
    def __init__(self, interval: float = 0.002) -> None:
        self.process = psutil.Process()
        self.interval = interval
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / (1024 * 1024)


def write_video(path: Path, size: int) -> None:
    block = os.urandom(4 * 1024 * 1024)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=250 * MB, help="video size in bytes (≤ 262144000)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    airflow_env()
    seed = demo_seed()
    key = seed["api_keys"][0]["key"]

    from airflow_provider_markaestro.hook import MarkaestroHook, as_storage_path

    with (
        tempfile.TemporaryDirectory(prefix="mk-bench-upload-") as tmp,
        emulator_process(seed) as url,
        moto_process() as s3_endpoint,
    ):
        video = Path(tmp) / "launch-film.mp4"
        write_video(video, args.size)
        s3_url = f"s3://{S3_BUCKET}/{S3_KEY}"
        put_object(s3_endpoint, S3_BUCKET, S3_KEY, video)
        set_aws_connection(S3_CONN_ID, s3_endpoint)
        set_connection("bench_upload", url, key, timeout=300)
        hook = MarkaestroHook("bench_upload")
        try:
            hook.list_products()  # warm up: settings, client, imports

            hook_times, curl_times, growth = [], [], []
            for _ in range(args.repeat):
                with PeakRss() as rss:
                    t = time.perf_counter()
                    asset = hook.upload_media(video)
                    hook_times.append(time.perf_counter() - t)
                growth.append(rss.growth_mib)
                assert asset.size_bytes == args.size, asset

                session = hook.create_upload_session(video.name, "video/mp4", args.size)
                t = time.perf_counter()
                subprocess.run(
                    ["curl", "-sS", "-f", "-o", "/dev/null", "-T", str(video), "-H", "Content-Type: video/mp4",
                     "-H", "Expect:", session.upload_url],
                    check=True,
                )
                curl_times.append(time.perf_counter() - t)
                curl_asset = hook.finalize_upload_session(session.id)
                assert curl_asset.size_bytes == args.size, curl_asset

            # Warm up the S3 side (s3fs/aiobotocore imports, filesystem + session, one HEAD) and note
            # how the hook reads the object (block size and cache type of a file opened the hook's
            # way; no bytes read).
            from airflow_provider_markaestro.hook import _opener

            warm = as_storage_path(s3_url, S3_CONN_ID)
            assert warm.stat().st_size == args.size
            with _opener(warm)() as fh:
                s3_read = f"block_size={getattr(fh, 'blocksize', '?')} cache={type(getattr(fh, 'cache', None)).__name__}"

            s3_times, s3_growth = [], []
            for _ in range(args.repeat):
                with PeakRss() as rss:
                    t = time.perf_counter()
                    asset = hook.upload_media(as_storage_path(s3_url, S3_CONN_ID))
                    s3_times.append(time.perf_counter() - t)
                s3_growth.append(rss.growth_mib)
                assert asset.size_bytes == args.size, asset
                assert asset.mime_type == "video/mp4", asset
        finally:
            hook.close()

    hook_mbps = args.size / MB / min(hook_times)
    curl_mbps = args.size / MB / min(curl_times)
    s3_mbps = args.size / MB / min(s3_times)
    print(f"local: size={args.size / MB:.0f}MB hook_s={[round(x, 2) for x in hook_times]} "
          f"curl_s={[round(x, 2) for x in curl_times]} hook={hook_mbps:.0f}MB/s curl={curl_mbps:.0f}MB/s "
          f"rss_growth_runs_mib={[round(g, 1) for g in growth]}")
    print(f"s3: {s3_url} (moto, separate process) size={args.size / MB:.0f}MB hook_s={[round(x, 2) for x in s3_times]} "
          f"hook={s3_mbps:.0f}MB/s rss_growth_runs_mib={[round(g, 1) for g in s3_growth]} s3fs {s3_read}")
    print(f"rss_growth_mb={max(growth + s3_growth):.1f} throughput_vs_curl={hook_mbps / curl_mbps:.2f} "
          f"rss_growth_s3_mb={max(s3_growth):.1f} s3_mb_per_s={s3_mbps:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
