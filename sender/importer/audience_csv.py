"""Audience files in CSV, streamed row by row as dicts keyed by the header.

What real exports contain is read, not refused: a UTF-8 byte order mark (Excel writes
one), CRLF or lone-CR line ends, quoted fields over several lines, blank lines and
rows of empty cells (skipped), extra empty cells at the end of a row, other encodings
(GB18030 from a Chinese Excel, Big5, UTF-16: sender.importer.audience_text) for byte
streams. A row that cannot be read (wrong number of cells, a quote never closed, a csv
error) comes out as a `MalformedRow`, which the importer counts as
`DropReason.MALFORMED_ROW`, and one with bytes its encoding cannot decode as an
`UndecodableRow` (`DropReason.UNDECODABLE`); reading goes on with the next line. Only a
file whose header cannot be read, or lacks the `required` column, raises
(`CsvHeaderError`).

The readers share one push parser, so a file gives the same rows whether it comes as
lines (`iter_csv_rows`), as byte chunks of any size from a file (`iter_csv_bytes`) or
from an HTTP body (`aiter_csv_rows`). Memory is bounded by a record, never a file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import NamedTuple

from sender.importer.audience_rows import HeaderError, MalformedRow, UndecodableRow, require_column
from sender.importer.audience_text import UNDECODABLE, adecode_chunks, decode_chunks

__all__ = ["CsvHeaderError", "MalformedRow", "UndecodableRow", "aiter_csv_rows",
           "iter_csv_bytes", "iter_csv_rows"]

MAX_RECORD_LINES = 50
"""Lines a quoted field may span. A quote left open longer is a malformed row, so one
stray quote cannot swallow the rest of the file."""

_BOM = "\ufeff"


class CsvHeaderError(HeaderError):
    """The CSV file's first row (the header) cannot be read, or lacks the phone column."""


def iter_csv_rows(
    lines: Iterable[str], *, max_record_lines: int = MAX_RECORD_LINES, required: str = ""
) -> Iterator[dict[str, str]]:
    """Rows of a CSV text given as lines (or any str pieces, e.g. `io.StringIO(text)`).

    `required` names a column the header must have (the phone column)."""
    parser = _RowParser(max_record_lines, required)
    for text in lines:
        yield from parser.feed(text)
    yield from parser.close()


def iter_csv_bytes(
    chunks: Iterable[bytes], *, encoding: str = "utf-8",
    max_record_lines: int = MAX_RECORD_LINES, required: str = "",
) -> Iterator[dict[str, str]]:
    """Rows of a CSV file read as byte chunks split anywhere, decoded as `encoding`
    (sender.importer.audience_text.choose_encoding says which)."""
    yield from iter_csv_rows(decode_chunks(chunks, _without_bom(encoding)),
                             max_record_lines=max_record_lines, required=required)


async def aiter_csv_rows(
    chunks: AsyncIterable[bytes],
    *,
    encoding: str = "utf-8",
    max_record_lines: int = MAX_RECORD_LINES,
    required: str = "",
) -> AsyncIterator[dict[str, str]]:
    """Rows of a CSV file arriving as byte chunks split anywhere (mid-character, mid-CRLF).

    A row with bytes `encoding` cannot decode is an UndecodableRow (counted, not sent).
    """
    parser = _RowParser(max_record_lines, required)
    async for text in adecode_chunks(chunks, _without_bom(encoding)):
        for row in parser.feed(text):
            yield row
    for row in parser.close():
        yield row


def _without_bom(encoding: str) -> str:
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


class _RowParser:
    """Push parser: text in, rows out. The header is the first non-blank record."""

    def __init__(self, max_record_lines: int, required: str = "") -> None:
        self._records = _Records(max_record_lines)
        self._slot = _Slot()
        self._reader = csv.reader(self._slot)
        self._header: list[str] | None = None
        self._required = required
        self._needed = 0  # cells a row needs: up to the last named column
        self._named = False  # whether every column has a name
        self._field_limit = csv.field_size_limit()
        self._started = False

    def feed(self, text: str) -> list[dict[str, str]]:
        if not self._started and text:
            text = text.removeprefix(_BOM)
            self._started = True
        return self._read(self._records.feed(text))

    def close(self) -> list[dict[str, str]]:
        return self._read(self._records.close())

    def _read(self, records: list[tuple[int, str | None]] | _PlainLines) -> list[dict[str, str]]:
        if isinstance(records, _PlainLines):
            rows = self._plain_rows(records.lines)
            if rows is not None:
                return rows
            records = records.records()
        return self._rows(records)

    def _plain_rows(self, lines: list[str]) -> list[dict[str, str]] | None:
        """The rows of lines without quotes, each a record, in one comprehension (a
        fifth of a clean row's reading: the loop of _rows, a record at a time, was
        1.1 us a row); None where a line would not come out of _rows as a row of the
        header's width, which _rows then reads.

        What _rows gives such lines when the header is read and names every column, no
        line is blank (nothing but commas and whitespace: \\s is what str.strip
        strips), none has the undecodable mark or a NUL, and none passes the field size
        limit (the text is within it): each line's cells split at its commas, zipped
        with the header; a line of another width raises in zip and goes to _rows."""
        if self._header is None or not self._named or not lines:
            return None
        text = "\n".join(lines)
        if (UNDECODABLE in text or "\0" in text or len(text) > self._field_limit
                or _BLANK_LINE.search(text)):
            return None
        header = self._header
        try:
            return [dict(zip(header, line.split(","), strict=True)) for line in lines]
        except ValueError:
            return None

    def _rows(self, records: list[tuple[int, str | None]]) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for line, text in records:
            if text is not None and UNDECODABLE in text:
                if self._header is None:
                    raise CsvHeaderError(f"line {line}: the header row has bytes the file's"
                                         " encoding cannot decode; set audience.encoding")
                rows.append(UndecodableRow(line, "bytes the encoding cannot decode"))
                continue
            if text is None:
                cells: list[str] | str = "quote not closed"
            elif '"' not in text and "\0" not in text and len(text) <= self._field_limit:
                # What the csv reader gives a record without quotes (newlines are
                # "\n" by now, and end it; no field can pass its size limit): its
                # cells split at commas, at a fifth of the cost of feeding it the record.
                cells = text[:-1].split(",") if text.endswith("\n") else text.split(",")
            else:
                self._slot.text = text
                try:
                    cells = next(self._reader)
                except csv.Error as error:
                    cells = f"csv: {error}"
            if isinstance(cells, list) and not "".join(cells).strip():
                continue  # blank line, or a row of empty cells
            if self._header is None:
                self._set_header(line, cells)
            elif isinstance(cells, str):
                rows.append(MalformedRow(line, cells))
            elif self._named and len(cells) == len(self._header):  # _row's, in short
                rows.append(dict(zip(self._header, cells, strict=True)))
            else:
                rows.append(self._row(line, cells))
        return rows

    def _set_header(self, line: int, cells: list[str] | str) -> None:
        if isinstance(cells, str):
            raise CsvHeaderError(f"line {line}: header row unreadable ({cells})")
        self._header = [c.strip() for c in cells]
        require_column(self._header, self._required, "the CSV file", CsvHeaderError)
        self._needed = max((i + 1 for i, name in enumerate(self._header) if name), default=0)
        self._named = all(self._header)

    def _row(self, line: int, cells: list[str]) -> dict[str, str]:
        assert self._header is not None
        width = len(self._header)
        if len(cells) < self._needed or (
            len(cells) > width and any(c.strip() for c in cells[width:])
        ):
            return MalformedRow(line, f"{len(cells)} cells, header has {width}")
        if self._named:  # every column named: the same dict, built in C
            return dict(zip(self._header, cells, strict=False))
        return {name: value for name, value in zip(self._header, cells, strict=False) if name}


class _Slot:
    """The csv reader's input: one record at a time."""

    text: str | None = None

    def __iter__(self) -> _Slot:
        return self

    def __next__(self) -> str:
        text, self.text = self.text, None
        if text is None:
            raise StopIteration
        return text


class _PlainLines(NamedTuple):
    """Lines without a quote, each one record: the first's number and their text
    without the newline."""

    first: int
    lines: list[str]

    def records(self) -> list[tuple[int, str | None]]:
        return [(number, line + "\n") for number, line in enumerate(self.lines, self.first)]


_BLANK_LINE = re.compile(r"^[\s,]*$", re.MULTILINE)
"""A line of nothing but commas and whitespace (\\s in a str pattern is str.isspace's),
or a run of them from a line's start to a line's end, which holds one."""


class _Records:
    """Splits text into CSV records: physical lines, joined while a quoted field is open.

    Yields (first line number, record text), or (line, None) for a line whose quote is
    still open after `max_lines` lines or at the end; the lines after it are then read
    again as records of their own.
    """

    def __init__(self, max_lines: int) -> None:
        self._max_lines = max(1, max_lines)
        self._newlines = io.IncrementalNewlineDecoder(None, translate=True)  # CRLF, CR -> LF
        self._tail = ""  # an unfinished line
        self._lineno = 0
        self._open: list[tuple[int, str]] = []  # lines of a record whose quote is open

    def feed(self, text: str, *, final: bool = False
             ) -> list[tuple[int, str | None]] | _PlainLines:
        """The records the text completes; its lines as they are when no quote is open
        or opens in it (each line is then a record)."""
        text = self._tail + self._newlines.decode(text, final=final)
        lines = text.split("\n")
        self._tail = lines.pop()
        if final and self._tail:
            lines.append(self._tail)
            self._tail = ""
        if not self._open and '"' not in text:  # no quote open or opening: each line is one
            first, self._lineno = self._lineno + 1, self._lineno + len(lines)
            return _PlainLines(first, lines)
        work: deque[tuple[int, str]] = deque()
        for line in lines:
            self._lineno += 1
            work.append((self._lineno, line + "\n"))
        return list(self._take(work, final=final))

    def close(self) -> list[tuple[int, str | None]] | _PlainLines:
        return self.feed("", final=True)

    def _take(
        self, work: deque[tuple[int, str]], *, final: bool
    ) -> Iterator[tuple[int, str | None]]:
        while True:
            while work:
                lineno, line = work.popleft()
                if not self._open:
                    if _quoted_after(line, quoted=False):
                        self._open.append((lineno, line))
                    else:
                        yield lineno, line
                    continue
                self._open.append((lineno, line))
                if not _quoted_after(line, quoted=True):
                    yield self._open[0][0], "".join(part for _, part in self._open)
                    self._open = []
                elif len(self._open) > self._max_lines:
                    yield self._unclosed(work)
            if not (final and self._open):
                return
            yield self._unclosed(work)

    def _unclosed(self, work: deque[tuple[int, str]]) -> tuple[int, None]:
        first, *rest = self._open
        self._open = []
        work.extendleft(reversed(rest))
        return first[0], None


_START, _FIELD, _QUOTED, _QUOTE_IN_QUOTED = range(4)


def _quoted_after(line: str, *, quoted: bool) -> bool:
    """Whether a quoted field is still open at the end of `line`, in the csv module's
    default dialect (doubled quotes escape, a quote inside an unquoted field is text)."""
    if '"' not in line:
        return quoted
    state = _QUOTED if quoted else _START
    for char in line:
        if state == _START:
            state = _QUOTED if char == '"' else _START if char == "," else _FIELD
        elif state == _FIELD:
            if char == ",":
                state = _START
        elif state == _QUOTED:
            if char == '"':
                state = _QUOTE_IN_QUOTED
        else:
            state = _QUOTED if char == '"' else _START if char == "," else _FIELD
    return state == _QUOTED
