"""The CSV reader's fast path for text without quotes (a chunk's lines read in one
comprehension) against its general path, a record at a time: the same rows, malformed
rows and line numbers on generated text of every kind the general path reads, split
into chunks anywhere."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sender.importer import audience_csv
from sender.importer.audience_csv import CsvHeaderError, iter_csv_rows
from sender.importer.audience_rows import MalformedRow
from sender.importer.audience_text import UNDECODABLE


def parser(header: str) -> audience_csv._RowParser:
    rows = audience_csv._RowParser(audience_csv.MAX_RECORD_LINES)
    assert rows.feed(header + "\n") == []
    return rows


@pytest.mark.parametrize("lines, taken", [
    pytest.param(["1,a,b", "2,c,d"], True, id="plain"),
    pytest.param(["1,a,b", "", "2,c,d"], False, id="blank-line"),
    pytest.param(["1,a,b", " , ,\u3000"], False, id="row-of-spaces"),
    pytest.param(["1,a,b", "2,c"], False, id="short"),
    pytest.param(["1,a,b", "2,c,d,"], False, id="padded"),
    pytest.param(["1,a,b", "2,c\0,d"], False, id="nul"),
    pytest.param(["1,a,b", f"2,{UNDECODABLE},d"], False, id="undecodable"),
])
def test_plain_lines_are_read_at_once_only_where_that_is_what_a_record_gives(
    lines: list[str], taken: bool
) -> None:
    rows = parser("phone,name,city")._plain_rows(lines)
    assert (rows is not None) == taken
    if taken:
        assert rows == [dict(zip(("phone", "name", "city"), line.split(","), strict=True))
                        for line in lines]


def test_a_header_with_an_unnamed_column_takes_the_general_path() -> None:
    assert parser("phone,,city")._plain_rows(["1,a,b"]) is None


def test_a_text_without_quotes_comes_in_lines_at_once() -> None:
    records = audience_csv._Records(audience_csv.MAX_RECORD_LINES)
    assert records.feed("a,b\r\nc,d\nlast") == audience_csv._PlainLines(1, ["a,b", "c,d"])
    assert records.feed("", final=True) == audience_csv._PlainLines(3, ["last"])


def read(text: str, cuts: list[int], *, plain: bool) -> list[Any]:
    """What iter_csv_rows gives `text` cut at `cuts`, with or without the fast path."""
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    original = audience_csv._RowParser._plain_rows
    if not plain:
        audience_csv._RowParser._plain_rows = lambda self, lines: None  # type: ignore[method-assign]
    try:
        rows = list(iter_csv_rows(pieces, required="phone"))
    except CsvHeaderError as error:
        return [("header error", str(error))]
    finally:
        audience_csv._RowParser._plain_rows = original  # type: ignore[method-assign]
    return [(type(row).__name__, row.line, row.reason) if isinstance(row, MalformedRow)
            else (type(row).__name__, row) for row in rows]


CELLS = st.text(alphabet=st.sampled_from(
    ["1", "3", "8", "+", "a", "客", " ", "\u3000", "\t", ",", "\n", "\r", '"',
     "\0", UNDECODABLE, "\ufeff"]), max_size=12)
LINES = st.lists(CELLS, max_size=30)
HEADERS = st.sampled_from(["phone,name,city", "phone", "name,phone", "phone,,city",
                           "\ufeffphone,name"])


@settings(max_examples=400, deadline=None)
@given(HEADERS, LINES, st.sampled_from(["\n", "\r\n", "\r"]), st.data())
def test_the_fast_path_reads_what_the_general_path_reads(
    header: str, lines: list[str], newline: str, data: st.DataObject
) -> None:
    text = newline.join([header, *lines])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
    assert read(text, cuts, plain=True) == read(text, cuts, plain=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["+8613800138000", "13800138000", "", " "]),
                          st.sampled_from(["", "客户", "a b", " "]),
                          st.sampled_from(["", "上海", ","])), max_size=60),
       st.data())
def test_plain_lists_with_empty_cells_and_ragged_rows_read_the_same(
    cells: list[tuple[str, str, str]], data: st.DataObject
) -> None:
    text = "phone,name,city\r\n" + "".join(f"{a},{b},{c}\r\n" for a, b, c in cells)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=3)))
    assert read(text, cuts, plain=True) == read(text, cuts, plain=False)
