"""The export's file formats (crds.campaign.ExportFormat): CSV (the stdlib's csv) and
Parquet (pyarrow), written a page of rows at a time to a binary sink
(sender.export.destinations).

CSV: a header row of COLUMNS, UTF-8, RFC 4180 quoting; submitted, done and firstClick as
ISO 8601 UTC, an empty cell for none. Parquet: a row group each ROW_GROUP rows or so (each
page becomes an Arrow record batch at once, and the batches are written together when
they reach it, so memory is one row group in Arrow's columns), the times timestamps in
seconds, UTC; segments and the times null where the run has none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

from crds.campaign import ExportFormat
from sender.export.rows import COLUMNS, ExportRow
from sender.sms.states import iso_time

ROW_GROUP = 100_000
"""Rows of one Parquet row group."""


def format_of(text: str) -> ExportFormat:
    """From the CLI's csv|parquet or the API's Csv|Parquet."""
    for member in ExportFormat:
        if member.value.lower() == text.lower():
            return member
    raise ValueError(f"unknown export format {text!r}: Csv or Parquet")


class RowWriter(Protocol):
    def write(self, rows: Sequence[ExportRow]) -> None: ...

    def close(self) -> None:
        """Everything written to the sink; the sink stays open (its owner closes it)."""


class CsvWriter:
    def __init__(self, sink: BinaryIO) -> None:
        self._text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=False)
        self._csv = csv.writer(self._text)
        self._csv.writerow(COLUMNS)

    def write(self, rows: Sequence[ExportRow]) -> None:
        self._csv.writerows(
            (r.number, r.variant, r.channel, r.state, r.error,
             "" if r.segments is None else r.segments, iso_time(r.submitted),
             iso_time(r.done), iso_time(r.first_click), r.clicks, r.message) for r in rows)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the sink is its owner's to close


def parquet_schema() -> Any:
    """The Parquet file's schema (pyarrow.Schema), COLUMNS in order."""
    import pyarrow as pa

    fields: list[Any] = [
        pa.field("number", pa.string()), pa.field("variant", pa.string()),
        pa.field("channel", pa.string()), pa.field("state", pa.string()),
        pa.field("error", pa.string()), pa.field("segments", pa.int32()),
        pa.field("submitted", pa.timestamp("s", tz="UTC")),
        pa.field("done", pa.timestamp("s", tz="UTC")),
        pa.field("firstClick", pa.timestamp("s", tz="UTC")),
        pa.field("clicks", pa.int32()), pa.field("message", pa.string())]
    return pa.schema(fields)


class ParquetWriter:
    def __init__(self, sink: BinaryIO, row_group: int = ROW_GROUP) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self.schema = parquet_schema()
        self._writer = pq.ParquetWriter(sink, self.schema, compression="zstd")
        self._row_group = row_group
        self._held: list[Any] = []
        """Pages as Arrow record batches (compact), until they make a row group."""
        self._held_rows = 0

    def write(self, rows: Sequence[ExportRow]) -> None:
        if not rows:
            return
        columns = zip(*(r.values() for r in rows), strict=True)
        self._held.append(self._pa.RecordBatch.from_arrays(
            [self._pa.array(values, type=field.type)
             for values, field in zip(columns, self.schema, strict=True)],
            schema=self.schema))
        self._held_rows += len(rows)
        if self._held_rows >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        if self._held:
            table = self._pa.Table.from_batches(self._held, schema=self.schema)
            self._writer.write_table(table, row_group_size=len(table))
            self._held, self._held_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


def row_writer(fmt: ExportFormat, sink: BinaryIO) -> RowWriter:
    return CsvWriter(sink) if fmt == ExportFormat.CSV else ParquetWriter(sink)
