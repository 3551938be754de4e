"""Helpers shared by the campaign tests (imported by conftest and the test modules)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "dags" / "campaigns" / "spring_launch"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BROKEN_DIR = FIXTURES / "broken_campaign"

S3_CONN_ID = "mk_campaign_s3"
S3_BUCKET = "mk-campaigns"

def write_campaign(folder: Path, manifest: str | dict | None = None, *, name: str = "campaign.yaml",
                   media: tuple[str, ...] = ("rocket.jpg", "astronaut.png", "coffee.jpg", "launch-reel.mp4")) -> Path:
    """Create a campaign folder with real sample media and the given manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    for m in media:
        shutil.copyfile(SAMPLE_DIR / m, folder / m)
    if manifest is not None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest, ensure_ascii=False)
        (folder / name).write_text(text, encoding="utf-8")
    return folder



def upload_folder(client, bucket: str, prefix: str, folder: Path) -> None:
    """Upload the direct files of ``folder`` under ``prefix/`` plus the clutter a real bucket has:
    a zero-byte folder marker, a hidden file, a sub-folder with a marker and a media file."""
    client.put_object(Bucket=bucket, Key=f"{prefix}/", Body=b"")
    for f in sorted(folder.iterdir()):
        if f.is_file():
            client.upload_file(str(f), bucket, f"{prefix}/{f.name}")
    client.put_object(Bucket=bucket, Key=f"{prefix}/.DS_Store", Body=b"\0\0\0\1Bud1")
    client.put_object(Bucket=bucket, Key=f"{prefix}/archive/", Body=b"")
    client.upload_file(str(SAMPLE_DIR / "coffee.jpg"), bucket, f"{prefix}/archive/old-coffee.jpg")
