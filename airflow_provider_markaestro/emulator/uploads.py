"""Raw-body uploads: upload sessions with their staging objects (§7.2) and Connect single-use URLs (§10.5).

Bodies are streamed to a spool file chunk by chunk, so a 250 MiB PUT never sits in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import Any

from starlette.requests import Request

from .clock import iso
from .models import MediaAsset

ASSET_ID_RE = re.compile(r"^ast_[a-f0-9-]{36}$")
SESSION_LIFETIME_SECONDS = 900.0
FINALIZE_LEASE_SECONDS = 300.0
CONNECT_URL_LIFETIME_SECONDS = 900.0
CONNECT_CLAIM_LEASE_SECONDS = 120.0
# A signed storage URL does not bind a size; refuse absurd bodies so a runaway client cannot fill the disk.
MAX_STAGING_BYTES = 2 * 250 * 1024 * 1024


@dataclass
class StagedObject:
    """What the emulated storage host holds for a staging path (GCS keeps the PUT's Content-Type)."""

    path: Path
    content_type: str
    size: int


@dataclass
class UploadSession:
    id: str
    client_id: str
    file_name: str
    content_type: str
    size_bytes: int
    extension: str
    staging_path: str  # object path inside the bucket
    created_at: float
    expires_at: float
    status: str = "pending"  # pending | finalizing | completed | rejected
    lease_until: float = 0.0
    asset: MediaAsset | None = None
    reserved: int = 0


@dataclass
class ConnectUpload:
    """Single-use bookkeeping of one Connect upload URL (created lazily from a genuine token)."""

    reserved: int = 0
    used: bool = False
    claim_until: float = 0.0


@dataclass
class Spooled:
    path: Path | None  # None when nothing was kept (over the cap)
    size: int

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


async def spool_body(request: Request, spool_dir: Path, cap: int) -> Spooled:
    """Write the raw body to disk as it arrives; past `cap` stop keeping bytes but keep counting."""
    size = 0
    with NamedTemporaryFile(dir=spool_dir, prefix="put-", delete=False) as sink:
        path: Path | None = Path(sink.name)
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size <= cap:
                    sink.write(chunk)
        except BaseException:
            sink.close()
            Path(sink.name).unlink(missing_ok=True)
            raise
    if size > cap:
        assert path is not None
        path.unlink(missing_ok=True)
        path = None
    return Spooled(path, size)


def media_type(header: str | None) -> str | None:
    """The media type before any `;` parameters (None when the header is absent)."""
    if not header:
        return None
    return header.split(";", 1)[0].strip()


def session_json(session: UploadSession, upload_url: str) -> dict[str, Any]:
    return {
        "id": session.id,
        "assetId": session.id,
        "uploadUrl": upload_url,
        "uploadMethod": "PUT",
        "uploadHeaders": {"Content-Type": session.content_type},
        "expiresAt": iso(session.expires_at),
    }
