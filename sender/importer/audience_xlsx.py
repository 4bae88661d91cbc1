"""Audience files in XLSX, streamed row by row as dicts keyed by the header.

openpyxl in read-only mode reads the sheet's XML as a stream. bench/xlsx_read.py chose
it over python-calamine: calamine is 4 to 10 times faster but loads the whole sheet
first, its memory growing with the cells (1.2 GB for a million rows of 12 columns, past
the importer pod's 512 MiB limit); openpyxl's grows by about 85 bytes a row, whatever
the width: 150 MB for a million rows (a sheet holds 1,048,576 at most).

Cells come out as the text the sheet shows, not as Python prints the value:

- a number cell holding a whole number: its digits, 13800138000, whether the file
  stores 13800138000, 1.3800138E10 or 13800138000.0 (never "1.38e+10");
- another number: its shortest form, 12.5;
- TRUE and FALSE for booleans (as Excel's own CSV export);
- dates and times in ISO 8601: 2026-11-11, 2026-11-11 10:30:00;
- an error cell as written (#N/A); an empty cell as "";
- a formula: the value last computed and saved with the file (a file written by a
  program that never computed it has none: empty).

The header is the first row that has the phone column among the first HEADER_ROWS rows
that are not empty (a title row above it, as exports often have, is skipped); columns
without a name are left out, rows of empty cells skipped, a row shorter than the header
has empty cells at its end. A row is never malformed: its cells are where they are.
"""

from __future__ import annotations

import datetime
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from sender.importer.audience_rows import AudienceError, HeaderError, require_column

# openpyxl warns about what it will not keep (data validation, extensions, default
# styles); a reader keeps none of it anyway.
warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")

HEADER_ROWS = 10
"""Rows that are not empty in which the header (the row with the phone column) is looked for."""


def cell_text(value: Any) -> str:
    """A cell's value as the sheet shows it (see the module's notes)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def iter_xlsx_rows(
    file: BinaryIO, *, sheet: str = "", required: str = "", where: str = "the XLSX file"
) -> Iterator[dict[str, str]]:
    """Rows of worksheet `sheet` (empty: the first) of the XLSX file open as `file` (an
    open file, not a path: openpyxl refuses a path whose name does not end in .xlsx).

    `required` names a column the header must have (the phone column): a HeaderError
    names it and the columns found otherwise.
    """
    workbook = _open(file, where)
    try:
        worksheet = _worksheet(workbook, sheet, where)
        worksheet.reset_dimensions()  # a stale <dimension> would cut rows or columns off
        header: list[str] | None = None
        first: list[str] | None = None
        seen = 0
        for values in worksheet.iter_rows(values_only=True):
            cells = [cell_text(v) for v in values]
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                names = [c.strip() for c in cells]
                first = first or names
                seen += 1
                if not required or required in names:
                    header = names
                elif seen >= HEADER_ROWS:
                    break
                continue
            cells += [""] * (len(header) - len(cells))
            # Cells past the header's last name have no column.
            yield {name: value for name, value in zip(header, cells, strict=False) if name}
        if header is None and first is not None:
            require_column(first, required, f"sheet {worksheet.title!r} of {where}")
    finally:
        workbook.close()


def _open(file: BinaryIO, where: str) -> Any:
    try:
        return openpyxl.load_workbook(file, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise AudienceError(f"{where} is not a workbook openpyxl can read (is it XLSX?):"
                            f" {type(error).__name__}: {error}") from None


def _worksheet(workbook: Any, sheet: str, where: str) -> Any:
    names = list(workbook.sheetnames)
    worksheets = list(workbook.worksheets)
    if sheet:
        if sheet not in names:
            shown = ", ".join(repr(n) for n in names[:20])
            raise HeaderError(f"{where} has no sheet {sheet!r} (audience.sheet); its sheets"
                              f" are {shown}")
        if workbook[sheet] not in worksheets:
            raise HeaderError(f"sheet {sheet!r} of {where} is a chart sheet, not a worksheet")
        return workbook[sheet]
    if not worksheets:
        raise HeaderError(f"{where} has no worksheet (only chart sheets?)")
    return worksheets[0]
