"""Streaming upload of a 250 MB video: MarkaestroHook vs curl, same upload-session flow, same emulator.

* The emulator runs as a separate process (CLI), so its memory is not counted.
* A 250,000,000-byte random ``.mp4`` is written to a temp dir (random, so nothing compresses).
* Hook: ``hook.upload_media(path)`` — above the session threshold this is create session →
  PUT to the signed URL (streamed in 1 MiB chunks, exact Content-Type, no Authorization) → finalize.
  Timed end to end (all three calls).
* curl: the session is created with the hook, then ``curl -T file -H 'Content-Type: video/mp4' <url>``
  is timed (the PUT alone — generous to curl; ``Expect: 100-continue`` disabled so curl does not
  wait for an interim answer), then the session is finalized with the hook.
* Peak RSS growth of this process during the hook upload is sampled every 2 ms by a thread
  (psutil), relative to the RSS just before the upload.

Ends with ``rss_growth_mb=<MiB> throughput_vs_curl=<hook MB/s ÷ curl MB/s>``
(targets: ≤ 64 and ≥ 0.5). Best of ``--repeat`` runs for each side.

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

MB = 1_000_000


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

    from airflow_provider_markaestro.hook import MarkaestroHook

    with tempfile.TemporaryDirectory(prefix="mk-bench-upload-") as tmp, emulator_process(seed) as url:
        video = Path(tmp) / "launch-film.mp4"
        write_video(video, args.size)
        set_connection("bench_upload", url, key, timeout=300)
        hook = MarkaestroHook("bench_upload")
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
                ["curl", "-sS", "-f", "-o", "/dev/null", "-T", str(video), "-H", "Content-Type: video/mp4", "-H", "Expect:",
                 session.upload_url],
                check=True,
            )
            curl_times.append(time.perf_counter() - t)
            curl_asset = hook.finalize_upload_session(session.id)
            assert curl_asset.size_bytes == args.size, curl_asset
        hook.close()

    hook_mbps = args.size / MB / min(hook_times)
    curl_mbps = args.size / MB / min(curl_times)
    print(f"size={args.size / MB:.0f}MB hook_s={[round(x, 2) for x in hook_times]} "
          f"curl_s={[round(x, 2) for x in curl_times]}")
    print(f"hook={hook_mbps:.0f}MB/s curl={curl_mbps:.0f}MB/s rss_growth_runs_mib={[round(g, 1) for g in growth]}")
    print(f"rss_growth_mb={max(growth):.1f} throughput_vs_curl={hook_mbps / curl_mbps:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
