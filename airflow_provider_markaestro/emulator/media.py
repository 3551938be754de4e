"""Multipart media upload (§7.2): streamed to a spool file, never held in memory.

The `file` part is written to disk as it arrives (only while it is of an allowed type and within
its size cap), so a 250 MiB video costs no more memory than a thumbnail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import Request

from .errors import internal, mapped

IMAGE_TYPES: dict[str, str] = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
VIDEO_TYPES: dict[str, str] = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-msvideo": "avi",
    "video/x-matroska": "mkv",
}
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_VIDEO_BYTES = 250 * 1024 * 1024


def kind_of(mime_type: str) -> str | None:
    if mime_type in IMAGE_TYPES:
        return "image"
    if mime_type in VIDEO_TYPES:
        return "video"
    return None


def extension_of(mime_type: str) -> str:
    return IMAGE_TYPES.get(mime_type) or VIDEO_TYPES[mime_type]


@dataclass
class UploadedFile:
    """The first `file` part. `path` is None when the bytes were not kept (bad type or too large)."""

    file_name: str
    mime_type: str
    size: int = 0
    path: Path | None = None

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


@dataclass
class _Collector:
    spool_dir: Path
    upload: UploadedFile | None = None
    _seen_file_field: bool = False
    _headers: dict[str, str] = field(default_factory=dict)
    _field: bytearray = field(default_factory=bytearray)
    _value: bytearray = field(default_factory=bytearray)
    _sink: IO[bytes] | None = None
    _limit: int = 0
    _active: bool = False

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("utf-8", "replace")
        self._field, self._value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", "").encode("utf-8"))
        if options.get(b"name") != b"file" or self._seen_file_field:
            return
        # Like formData.get("file"): the first `file` entry decides; a plain text field is not a file.
        self._seen_file_field = True
        filename = options.get(b"filename")
        if filename is None:
            return
        mime_type = self._headers.get("content-type", "").strip()
        self.upload = UploadedFile(file_name=filename.decode("utf-8", "replace"), mime_type=mime_type)
        self._active = True
        kind = kind_of(mime_type)
        if kind is not None:
            self._limit = MAX_IMAGE_BYTES if kind == "image" else MAX_VIDEO_BYTES
            self._sink = NamedTemporaryFile(dir=self.spool_dir, prefix="upload-", delete=False)  # noqa: SIM115
            self.upload.path = Path(self._sink.name)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._active or self.upload is None:
            return
        self.upload.size += end - start
        if self._sink is None:
            return
        if self.upload.size <= self._limit:
            self._sink.write(data[start:end])
        else:  # over the cap: stop keeping bytes, keep counting for the error code
            self._close_sink()
            self.upload.discard()

    def on_part_end(self) -> None:
        if self._active:
            self._close_sink()
            self._active = False

    def _close_sink(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def abort(self) -> None:
        self._close_sink()
        if self.upload is not None:
            self.upload.discard()


async def receive_upload(request: Request, spool_dir: Path) -> UploadedFile | None:
    """Parse the multipart body; a non-multipart or malformed body is a 500, as in production."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise internal()
    collector = _Collector(spool_dir)
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": collector.on_part_begin,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if parser.state != MultipartState.END:
            raise MultipartParseError("truncated multipart body")
    except MultipartParseError:
        collector.abort()
        raise internal() from None
    except BaseException:
        collector.abort()
        raise
    return collector.upload


def check_upload(upload: UploadedFile | None) -> tuple[UploadedFile, str]:
    """Presence, then MIME type, then size > 0, then the kind's cap; returns the upload and its kind."""
    if upload is None:
        raise mapped("VALIDATION_NO_FILE_PROVIDED")
    kind = kind_of(upload.mime_type)
    if kind is None:
        raise mapped("VALIDATION_INVALID_FILE_TYPE")
    if upload.size == 0:
        raise mapped("VALIDATION_NO_FILE_PROVIDED")
    if kind == "image" and upload.size > MAX_IMAGE_BYTES:
        raise mapped("VALIDATION_FILE_TOO_LARGE_10MB")
    if kind == "video" and upload.size > MAX_VIDEO_BYTES:
        raise mapped("VALIDATION_FILE_TOO_LARGE_250MB")
    return upload, kind
