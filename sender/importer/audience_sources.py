"""Where the importer's rows come from: a mounted file, an HTTP(S) download, a Redis key.

A file (a ConfigMap's or Secret's key mounted in the pod, or a download) is CSV or
XLSX. audience.format names which, or Auto tells by the first bytes: an XLSX file is a
ZIP archive (PK\\x03\\x04), anything else is read as CSV. A file that is not the format
named, or is something else altogether (an old XLS, a PDF, a gzip), fails with what it
is. A CSV is decoded as it streams (sender.importer.audience_text picks the encoding
from its first 64 KiB). An XLSX download is written to a temporary file first (in
TMPDIR, the pod's /tmp: a ZIP archive's index sits at its end) and read from there.

A Redis list or set holds numbers, one row each; a Redis stream holds rows, an entry's
fields being its columns.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from itertools import chain
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis

from crds.campaign import FileFormat
from sender.importer.audience_csv import aiter_csv_rows, iter_csv_bytes
from sender.importer.audience_rows import AudienceError, require_column
from sender.importer.audience_text import SAMPLE_BYTES, choose_encoding
from sender.importer.audience_xlsx import iter_xlsx_rows
from sender.run_config import AudienceSource

CHUNK = 64 * 1024
MAX_SPOOLED_BYTES = 60 * 2**20
"""The largest XLSX download written to TMPDIR: the importer pod's /tmp is an emptyDir
of 64 MiB (controllers.decisions.pod_spec), and a pod that writes past it is evicted,
which would say nothing of why."""
ZIP = b"PK\x03\x04"
NOT_AUDIENCE_FILES = (
    (b"\xd0\xcf\x11\xe0", "an XLS file (Excel 97-2003), which Herald does not read: save it"
                          " as XLSX or CSV"),
    (b"%PDF", "a PDF, not CSV or XLSX"),
    (b"\x1f\x8b", "gzip-compressed; upload it uncompressed"),
)


def file_format(head: bytes, declared: FileFormat, where: str) -> FileFormat:
    """Csv or Xlsx, from the file's first bytes and audience.format."""
    if head.startswith(ZIP):
        if declared == FileFormat.CSV:
            raise AudienceError(f"{where} is a ZIP archive (an XLSX file?), not CSV; set"
                                " audience.format to Xlsx or Auto")
        return FileFormat.XLSX
    for magic, what in NOT_AUDIENCE_FILES:
        if head.startswith(magic):
            raise AudienceError(f"{where} is {what}")
    if declared == FileFormat.XLSX:
        raise AudienceError(f"{where} is not an XLSX file (an XLSX file is a ZIP archive,"
                            " starting with PK); set audience.format to Csv or Auto")
    return FileFormat.CSV


def file_rows(path: str, source: AudienceSource, phone: str,
              where: str = "the audience file") -> Iterator[dict[str, str]]:
    """Rows of the CSV or XLSX file mounted at `path`."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after the last row)
    except FileNotFoundError:
        raise AudienceError(f"{where} is not mounted at {path}; does the ConfigMap or"
                            " Secret have that key?") from None
    with handle:
        sample = handle.read(SAMPLE_BYTES)
        if file_format(sample, source.format, where) == FileFormat.XLSX:
            handle.seek(0)
            yield from iter_xlsx_rows(handle, sheet=source.sheet, required=phone, where=where)
            return
        encoding = choose_encoding(sample, source.encoding, where)
        rest = iter(lambda: handle.read(CHUNK), b"")
        yield from iter_csv_bytes(chain([sample], rest), encoding=encoding, required=phone)


def shown_url(url: str) -> str:
    """scheme://host/path: the query and any user:password stay out of messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


async def url_rows(url: str, headers_dir: str, source: AudienceSource, phone: str,
                   ) -> AsyncIterator[dict[str, str]]:
    """Rows of the CSV or XLSX file at `url`, with the headers of `headers_dir`'s files."""
    headers = {}
    if headers_dir:
        for path in sorted(Path(headers_dir).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                headers[path.name] = path.read_text(encoding="utf-8").strip()
    where = f"the file at {shown_url(url)}"
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=120)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, headers=headers) as response:
            if response.status >= 300:
                raise AudienceError(f"GET {shown_url(url)} answered {response.status}"
                                    f" {response.reason or ''}".rstrip())
            chunks = aiter(response.content.iter_chunked(CHUNK))
            sample = b""
            async for chunk in chunks:
                sample += chunk
                if len(sample) >= SAMPLE_BYTES:
                    break
            if file_format(sample, source.format, where) == FileFormat.XLSX:
                with tempfile.TemporaryFile(prefix="herald-audience-") as spooled:
                    spooled.write(sample)
                    async for chunk in chunks:
                        if spooled.tell() + len(chunk) > MAX_SPOOLED_BYTES:
                            raise AudienceError(
                                f"{where} is an XLSX file larger than"
                                f" {MAX_SPOOLED_BYTES // 2**20} MiB, more than the importer"
                                " keeps on its disk; split it, or export it as CSV (read as"
                                " it streams, of any size)")
                        spooled.write(chunk)
                    spooled.seek(0)
                    for row in iter_xlsx_rows(spooled, sheet=source.sheet, required=phone,
                                              where=where):
                        yield row
                return
            encoding = choose_encoding(sample, source.encoding, where)

            async def body() -> AsyncIterator[bytes]:
                yield sample
                async for chunk in chunks:
                    yield chunk

            async for row in aiter_csv_rows(body(), encoding=encoding, required=phone):
                yield row
    except aiohttp.ClientError as error:
        detail = str(error).replace(url, shown_url(url))  # InvalidURL quotes the URL
        raise AudienceError(f"GET {shown_url(url)} failed: {type(error).__name__}:"
                            f" {detail}") from None


async def redis_rows(redis: aioredis.Redis, key: str, phone: str) -> AsyncIterator[dict[str, str]]:
    """Rows of a Redis list or set (a number each) or stream (an entry's fields each)."""
    kind = cast(str, await redis.type(key))
    if kind == "list":
        start = 0
        while batch := await redis.lrange(key, start, start + 999):
            start += len(batch)
            for number in batch:
                yield {phone: cast(str, number)}
    elif kind == "set":
        async for number in redis.sscan_iter(key, count=1000):
            yield {phone: cast(str, number)}
    elif kind == "stream":
        after = "-"
        while entries := cast(list[tuple[str, dict[str, str]]],
                              await redis.xrange(key, min=after, count=1000)):
            if after == "-":
                require_column(list(entries[0][1]), phone,
                               f"the first entry of the Redis stream {key!r}")
            for _, fields in entries:
                yield dict(fields)
            after = f"({entries[-1][0]}"
    elif kind == "none":
        raise AudienceError(f"the Redis key {key!r} does not exist")
    else:
        raise AudienceError(f"the Redis key {key!r} is a {kind}; a list, set or stream is"
                            " needed")
