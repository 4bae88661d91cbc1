"""What every audience reader (CSV, XLSX, Redis) hands the importer, and how it fails.

A reader yields one dict per row, keyed by the header's names. A row it could not read
comes out as a `MalformedRow` (or an `UndecodableRow`: bytes the text encoding cannot
decode), counted invalid by the importer while reading goes on. A source that cannot be
read at all raises an `AudienceError` whose message says why without personal data or
secrets: a missing file, a refused download, an unknown encoding, a header without the
phone column (`HeaderError`).
"""

from __future__ import annotations

from collections.abc import Sequence


class AudienceError(RuntimeError):
    """The audience cannot be read; the message says why, without personal data or secrets."""


class HeaderError(AudienceError, ValueError):
    """The file's first row (the header) cannot be read, or lacks the phone column."""


class MalformedRow(dict[str, str]):
    """A row that could not be read: empty, with the line it starts on and why.

    The reason names counts, never cell contents (rows are personal data).
    """

    def __init__(self, line: int, reason: str) -> None:
        super().__init__()
        self.line = line
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(line={self.line}, reason={self.reason!r})"


class UndecodableRow(MalformedRow):
    """A row with bytes its file's text encoding cannot decode (DropReason.UNDECODABLE)."""


SHOWN_COLUMNS = 20
"""Columns a HeaderError lists at most."""
NAME_SHOWN = 40
"""Characters of a column's name a HeaderError shows at most."""


def require_column(header: Sequence[str], column: str, where: str,
                   error: type[HeaderError] = HeaderError) -> None:
    """Raise a HeaderError naming `column` and the columns found, unless `header` has it.

    Without this a file whose phone column is called something else imports as rows that
    all lack a number: "NoValidRecipients", with no word of why. A file without a header
    row has a recipient in its place: then no cell is shown (the message goes to status
    and Events).
    """
    if not column or column in header:
        return
    numbers = [i for i, name in enumerate(header, 1) if sum(c.isdigit() for c in name) >= 7]
    if numbers:  # no header at all: its first row is a recipient, not shown
        raise error(
            f"{where} has no column {column!r} (audience.columns.phone); its first row looks"
            f" like a recipient, not a header (column {numbers[0]} holds a number): add a"
            " header row naming the columns")
    names = [name[:NAME_SHOWN] for name in header if name]
    shown = ", ".join(repr(name) for name in names[:SHOWN_COLUMNS])
    if len(names) > SHOWN_COLUMNS:
        shown += f" and {len(names) - SHOWN_COLUMNS} more"
    near = [name for name in names if name.strip().casefold() == column.strip().casefold()]
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise error(
        f"{where} has no column {column!r} (audience.columns.phone); its header has"
        f" {shown or 'no names'}{hint}")
