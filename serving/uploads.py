"""Reading an uploaded file from the request: streamed, size-limited, CSV only.

FastAPI sets no upload size limit, so the body is read here chunk by chunk and reading stops as
soon as it passes ``max_upload_bytes`` (413): a 300 MB file is never held in memory. A file
may come as ``multipart/form-data`` (field ``file``, as a browser form sends it) or as the raw
request body (``Content-Type: text/csv``, file name in ``?filename=``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from serving.errors import Invalid, Malformed, TooLarge, UnsupportedFile

CSV_CONTENT_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/plain",
        "text/x-csv",
        "application/vnd.ms-excel",  # what Windows browsers send for .csv files
        "application/octet-stream",
    }
)
_NOT_CSV_SIGNATURES = {
    b"PK\x03\x04": "an Excel workbook (.xlsx) or another zip file",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
    b"%PDF": "a PDF",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}
_NOT_CSV_EXTENSIONS = (".xlsx", ".xls", ".xlsm", ".ods", ".pdf", ".doc", ".docx", ".json", ".xml")


@dataclass(frozen=True)
class ReceivedFile:
    """An uploaded file: its content and a safe name (no path parts)."""

    filename: str
    data: bytes


class _TooLarge(Exception):
    pass


def safe_filename(name: str | None, default: str = "upload.csv") -> str:
    """The file's base name only: path parts (``../``, ``C:\\``) and control characters go.

    The name is only ever echoed in reports; files are never written under it."""
    if not name:
        return default
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().lstrip(".")
    return base[:255] or default


def too_large(limit: int) -> TooLarge:
    """The refusal naming the limit."""
    return TooLarge(
        f"the file is larger than the limit of {limit // (1024 * 1024)} MB; nothing was stored",
        fix="send one term or one week at a time",
    )


def unsupported(what: str, fix: str | None = None) -> UnsupportedFile:
    """The refusal saying what was received instead of CSV."""
    return UnsupportedFile(
        f"expected a CSV file, received {what}",
        fix=fix or "export the register or roster from your MIS as CSV (comma-separated)",
    )


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise _TooLarge
        yield chunk


def _check_csv(received: ReceivedFile) -> ReceivedFile:
    lower = received.filename.lower()
    if lower.endswith(_NOT_CSV_EXTENSIONS):
        raise unsupported(f"a file named {received.filename!r}")
    head = received.data[:8]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise unsupported(
            'UTF-16 text (what Excel calls "Unicode Text")',
            'in Excel choose Save As → "CSV UTF-8 (comma delimited)", or export CSV from your MIS',
        )
    for signature, what in _NOT_CSV_SIGNATURES.items():
        if head.startswith(signature):
            raise unsupported(what)
    if b"\x00" in received.data[:65536]:
        raise unsupported("binary data (the file contains NUL bytes)")
    return received


async def read_form_files(
    request: Request, limit: int, fields: tuple[str, ...]
) -> dict[str, ReceivedFile]:
    """The CSV files of a ``multipart/form-data`` request, by field name (missing ones absent).

    The whole body counts towards ``limit`` (:class:`TooLarge` past it); a part that is not
    CSV is :class:`UnsupportedFile`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise unsupported(f"content of type {content_type!r} (send multipart/form-data)")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise too_large(limit)
    parser = MultiPartParser(
        request.headers, _limited(request.stream(), limit), max_files=4, max_fields=20
    )
    try:
        form = await parser.parse()
    except _TooLarge:
        raise too_large(limit) from None
    except MultiPartException as exc:
        raise Malformed(
            f"malformed form: {exc}", fix="send the file as multipart/form-data"
        ) from None
    out = {}
    for name in fields:
        upload = form.get(name)
        if not isinstance(upload, UploadFile):
            continue
        part_type = (upload.content_type or "").split(";")[0].strip().lower()
        if part_type and part_type not in CSV_CONTENT_TYPES:
            raise unsupported(f"content of type {part_type!r} in field {name!r}")
        out[name] = _check_csv(ReceivedFile(safe_filename(upload.filename), await upload.read()))
    await form.close()
    return out


async def read_upload(request: Request, limit: int, field: str = "file") -> ReceivedFile:
    """Read the uploaded file from ``request`` (see the module docstring).

    Refuses (:class:`TooLarge`) past ``limit`` bytes, anything that is not CSV
    (:class:`UnsupportedFile`), a form without the file field (:class:`Invalid`).
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise too_large(limit)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        files = await read_form_files(request, limit, (field,))
        if field not in files:
            raise Invalid(
                f"the form has no file field named {field!r}",
                fix=f"send the CSV as the form field {field!r}",
            )
        return files[field]
    if content_type and content_type not in CSV_CONTENT_TYPES:
        raise unsupported(f"content of type {content_type!r}")
    chunks = []
    try:
        async for chunk in _limited(request.stream(), limit):
            chunks.append(chunk)
    except _TooLarge:
        raise too_large(limit) from None
    name = safe_filename(request.query_params.get("filename"))
    # Joining up to the size limit (tens of MB) is a copy: not on the event loop.
    data = chunks[0] if len(chunks) == 1 else await run_in_threadpool(b"".join, chunks)
    return _check_csv(ReceivedFile(name, data))
