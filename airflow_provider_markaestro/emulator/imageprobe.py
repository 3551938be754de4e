"""Image dimensions from file headers (PNG, GIF, JPEG, WEBP) without Pillow, reading only a few bytes."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

# JPEG start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset(range(0xD0, 0xDA)) | {0x01}


def probe_dimensions(path: Path, mime_type: str) -> tuple[int, int] | None:
    """(width, height) for a supported image, None if the header cannot be understood."""
    with path.open("rb") as fh:
        try:
            if mime_type == "image/png":
                return _png(fh)
            if mime_type == "image/gif":
                return _gif(fh)
            if mime_type == "image/webp":
                return _webp(fh)
            if mime_type == "image/jpeg":
                return _jpeg(fh)
        except (struct.error, IndexError):
            return None
    return None


def _png(fh: BinaryIO) -> tuple[int, int] | None:
    head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _gif(fh: BinaryIO) -> tuple[int, int] | None:
    head = fh.read(10)
    if head[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    width, height = struct.unpack("<HH", head[6:10])
    return width, height


def _webp(fh: BinaryIO) -> tuple[int, int] | None:
    head = fh.read(30)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    return None


def _jpeg(fh: BinaryIO) -> tuple[int, int] | None:
    """Walk the marker segments (seeking over EXIF/ICC blobs) until a start-of-frame."""
    if fh.read(2) != b"\xff\xd8":
        return None
    while True:
        byte = fh.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            continue
        marker = fh.read(1)
        while marker == b"\xff":  # fill bytes
            marker = fh.read(1)
        if not marker:
            return None
        code = marker[0]
        if code in _STANDALONE_MARKERS:
            continue
        if code == 0xD9:  # end of image
            return None
        (length,) = struct.unpack(">H", fh.read(2))
        if code in _SOF_MARKERS:
            _precision, height, width = struct.unpack(">BHH", fh.read(5))
            return width, height
        fh.seek(length - 2, 1)
