"""Where an export goes: a local path (a PVC's mount, in a pod) or an S3-compatible URL.

    /any/path/export.csv      written beside as `<name>.partial`, renamed when complete:
                              a reader never sees half a file under the name; missing
                              folders are made
    s3://BUCKET/KEY           streamed as an S3 multipart upload in PART_BYTES parts
                              (boto3), completed when the rows are all written, aborted
                              on an error: the object appears whole or not at all

An S3 URL needs credentials (an access key id and secret); the endpoint is any
S3-compatible server's (MinIO, Ceph, a cloud's), the region optional.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

PART_BYTES = 8 * 1024 * 1024
"""One multipart part (S3 wants at least 5 MiB for every part but the last)."""


class ExportError(Exception):
    """Why an export cannot be made, in words for the person who asked for it."""


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str
    endpoint: str = ""
    """The server's URL (https://minio.example:9000); empty: AWS's own."""
    region: str = ""

    def __repr__(self) -> str:  # never the secret in a log or traceback
        return f"S3Credentials(endpoint={self.endpoint!r}, region={self.region!r})"


def is_url(destination: str) -> bool:
    return "://" in destination


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URL."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ExportError(f"an export URL must be s3://BUCKET/KEY, not {parts.scheme}://")
    key = parts.path.lstrip("/")
    if not parts.netloc or not key:
        raise ExportError(f"an export URL must name a bucket and a key: s3://BUCKET/KEY,"
                          f" got {url}")
    return parts.netloc, key


class S3Sink(io.RawIOBase):
    """A write-only binary stream that uploads as it is written (multipart)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        super().__init__()
        self._client, self.bucket, self.key = client, bucket, key
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        self.size += len(view)
        while len(self._buffer) >= PART_BYTES:
            self._send(bytes(self._buffer[:PART_BYTES]))
            del self._buffer[:PART_BYTES]
        return len(view)

    def _send(self, body: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        number = len(self._parts) + 1
        try:
            reply = self._client.upload_part(Bucket=self.bucket, Key=self.key,
                                             PartNumber=number, UploadId=self._upload,
                                             Body=body)
        except (BotoCoreError, ClientError) as error:
            raise ExportError(f"cannot write s3://{self.bucket}/{self.key}: {error}") from None
        self._parts.append({"PartNumber": number, "ETag": reply["ETag"]})

    def complete(self) -> None:
        if self._buffer or not self._parts:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        self._client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload,
            MultipartUpload={"Parts": self._parts})

    def abort(self) -> None:
        self._client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                            UploadId=self._upload)


def s3_client(credentials: S3Credentials) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        endpoint_url=credentials.endpoint or None, region_name=credentials.region or None,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}))


@contextlib.contextmanager
def open_destination(destination: str, credentials: S3Credentials | None = None
                     ) -> Iterator[BinaryIO]:
    """A binary sink for the export; what was written is published when the block ends
    without an error, and discarded when it raises."""
    if not is_url(destination):
        yield from _local(Path(destination))
        return
    bucket, key = s3_location(destination)
    if credentials is None or not (credentials.access_key_id and credentials.secret_access_key):
        raise ExportError(
            f"an export URL needs credentials: {destination} was given without an access key"
            " id and secret (spec.export.destination.credentialsSecretRef, or for herald"
            " export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        sink = S3Sink(s3_client(credentials), bucket, key)
    except (BotoCoreError, ClientError) as error:
        raise ExportError(f"cannot write {destination}: {error}") from None
    buffered = io.BufferedWriter(sink, buffer_size=1024 * 1024)
    try:
        yield buffered
        if not buffered.closed:
            buffered.flush()
    except BaseException:
        with contextlib.suppress(BotoCoreError, ClientError):
            sink.abort()
        raise
    try:
        sink.complete()
    except (BotoCoreError, ClientError) as error:
        with contextlib.suppress(BotoCoreError, ClientError):
            sink.abort()
        raise ExportError(f"cannot write {destination}: {error}") from None


def _local(path: Path) -> Iterator[BinaryIO]:
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = partial.open("wb")
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with file:
            yield file
        os.replace(partial, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        if isinstance(error, OSError):  # a full disk, a claim gone read-only
            raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
        raise
