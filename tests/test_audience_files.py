"""Audience files as people have them: CSV in GBK, GB18030, Big5, UTF-16 and UTF-8 with
or without a byte order mark, written by Python's codecs; XLSX written by openpyxl,
with number cells as Excel and other writers store them; files that are not what
they claim; a header without the phone column. Read through `file_rows`, the function
the importer pod runs for a mounted ConfigMap or Secret key."""

from __future__ import annotations

import codecs
import datetime
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from crds.campaign import FileFormat
from sender.importer.audience_csv import CsvHeaderError, iter_csv_bytes
from sender.importer.audience_rows import AudienceError, HeaderError, UndecodableRow
from sender.importer.audience_sources import file_rows
from sender.importer.audience_text import SAMPLE_BYTES, UNDECODABLE, choose_encoding
from sender.importer.audience_xlsx import cell_text
from sender.run_config import AudienceSource

SIMPLIFIED = ["王小明", "李华", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "欧阳晞", "司马玥"]
TRADITIONAL = ["王小明", "李華", "張偉", "劉洋", "陳靜", "楊帆", "趙磊", "黃麗", "歐陽晞"]
JAPANESE = ["山田太郎", "鈴木花子", "佐藤健", "たなか"]
KOREAN = ["김민수", "이영희", "박지훈"]


def csv_text(names: list[str], rows: int, city: str) -> str:
    return "phone,name,city\r\n" + "".join(
        f"1380013{i:04d},{names[i % len(names)]},{city}\r\n" for i in range(rows))


def expected(names: list[str], rows: int, city: str) -> list[dict[str, str]]:
    return [{"phone": f"1380013{i:04d}", "name": names[i % len(names)], "city": city}
            for i in range(rows)]


def read(path: Path, **source: Any) -> list[dict[str, str]]:
    return list(file_rows(str(path), AudienceSource(file=path.name, **source), "phone"))


# -- encodings ------------------------------------------------------------------------------

ENCODED = [
    pytest.param("gbk", SIMPLIFIED, "上海", "gb18030", id="gbk"),
    pytest.param("gb18030", [*SIMPLIFIED, "𠀀"], "北京", "gb18030", id="gb18030-four-byte"),
    pytest.param("big5", TRADITIONAL, "臺北", "cp950", id="big5"),
    pytest.param("cp950", TRADITIONAL, "高雄", "cp950", id="cp950"),
    pytest.param("utf-16", SIMPLIFIED, "上海", "utf-16", id="utf-16-with-bom"),
    pytest.param("utf-16-le", SIMPLIFIED, "上海", "utf-16-le", id="utf-16-le-no-bom"),
    pytest.param("utf-16-be", TRADITIONAL, "臺北", "utf-16-be", id="utf-16-be-no-bom"),
    pytest.param("utf-32", SIMPLIFIED, "上海", "utf-32", id="utf-32-with-bom"),
    pytest.param("utf-8-sig", SIMPLIFIED, "上海", "utf-8-sig", id="utf-8-excel-bom"),
    pytest.param("utf-8", SIMPLIFIED, "上海", "utf-8", id="utf-8"),
    pytest.param("shift_jis", JAPANESE, "東京", "cp932", id="shift-jis"),
    pytest.param("euc_kr", KOREAN, "서울", "cp949", id="euc-kr"),
    pytest.param("cp1252", ["José", "Müller", "François", "Søren"], "Köln", "cp1252",
                 id="windows-1252"),
]


@pytest.mark.parametrize("encoding, names, city, detected", ENCODED)
@pytest.mark.parametrize("rows", [5, 40, 3000])
def test_auto_reads_each_encoding(tmp_path: Path, encoding: str, names: list[str], city: str,
                                  detected: str, rows: int) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(csv_text(names, rows, city).encode(encoding))
    assert read(path) == expected(names, rows, city)
    sample = path.read_bytes()[:SAMPLE_BYTES]
    assert choose_encoding(sample, "Auto", "f") == detected


@pytest.mark.parametrize("encoding, names, city", [
    pytest.param("gbk", SIMPLIFIED, "上海", id="gbk"),
    pytest.param("gb18030", SIMPLIFIED, "北京", id="gb18030"),
    pytest.param("big5", TRADITIONAL, "臺北", id="big5"),
    pytest.param("utf-16-le", SIMPLIFIED, "上海", id="utf-16-le"),
])
@pytest.mark.parametrize("rows", [1, 2, 3])
def test_auto_reads_a_list_of_one_to_three_rows(tmp_path: Path, encoding: str,
                                                names: list[str], city: str, rows: int) -> None:
    """A few lines of GBK are just as valid EUC-KR or Windows-1252; the names decide."""
    path = tmp_path / "list.csv"
    path.write_bytes(csv_text(names, rows, city).encode(encoding))
    assert read(path) == expected(names, rows, city)


def test_a_named_encoding_wins_over_detection(tmp_path: Path) -> None:
    """These bytes are valid GB18030 ("王小明") and valid Windows-1252 ("ÍõĞ¡Ã÷")."""
    path = tmp_path / "list.csv"
    path.write_bytes("phone,name\n13800138000,王小明\n".encode("gbk"))
    assert read(path)[0]["name"] == "王小明"
    assert read(path, encoding="cp1252")[0]["name"] == "王小明".encode("gbk").decode("cp1252")
    assert read(path, encoding="GBK")[0]["name"] == "王小明"


@pytest.mark.parametrize("encoding", ["gb 2312", "no-such-codec", "base64", "rot13"])
def test_an_unknown_encoding_is_a_clear_error(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"phone\n13800138000\n")
    with pytest.raises(AudienceError, match=f"audience.encoding '{encoding}' is not a text"):
        read(path, encoding=encoding)


def test_an_undecodable_row_is_counted_never_replaced(tmp_path: Path) -> None:
    """One GBK row in a UTF-8 file: that row alone is undecodable, the file stays UTF-8."""
    lines = [f"1380013{i:04d},{SIMPLIFIED[i % 10]}\n".encode() for i in range(20)]
    lines[7] = "13800130007,王小明\n".encode("gbk")
    lines[12] = b"13800130012,\x81\x30\n"  # a four-byte GB18030 sequence cut short
    path = tmp_path / "list.csv"
    path.write_bytes(b"phone,name\r\n" + b"".join(lines))
    rows = read(path)
    assert len(rows) == 20
    bad = [i for i, row in enumerate(rows) if isinstance(row, UndecodableRow)]
    assert bad == [7, 12]
    assert [rows[i]["name"] for i in (0, 8, 13, 19)] == [SIMPLIFIED[i % 10] for i in (0, 8, 13, 19)]
    assert not any("\ufffd" in v or UNDECODABLE in v for row in rows for v in row.values())


def test_the_line_after_a_bad_byte_is_its_own_row(tmp_path: Path) -> None:
    """A decoder that swallowed the line break after a bad lead byte would merge rows."""
    path = tmp_path / "list.csv"
    # 王 in GBK, then a lead byte whose second byte would be the line break.
    path.write_bytes(b"phone,name\n13800138000,\xcd\xf5\xb0\n13900139000,\xc0\xee\n")
    rows = read(path, encoding="gbk")
    assert isinstance(rows[0], UndecodableRow)
    assert rows[1] == {"phone": "13900139000", "name": "李"}


@pytest.mark.parametrize("data, encoding, message", [
    pytest.param(csv_text(SIMPLIFIED, 50, "上海").encode("gbk"), "utf-8",
                 "50 of its first 51 lines cannot be decoded as utf-8; is audience.encoding"
                 " right?", id="gbk-named-utf-8"),
    pytest.param(bytes(range(1, 256)) * 40, "Auto", "no text encoding Herald can tell",
                 id="binary"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "Auto",
                 "an XLS file (Excel 97-2003)", id="old-xls"),
    pytest.param(b"%PDF-1.7\n" + bytes(100), "Auto", "a PDF", id="pdf"),
    pytest.param(b"\x1f\x8b\x08\x00" + bytes(100), "Auto", "gzip", id="gzip"),
])
def test_a_file_that_cannot_be_decoded_fails_with_the_reason(
    tmp_path: Path, data: bytes, encoding: str, message: str
) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    with pytest.raises(AudienceError, match=re.escape(message)):
        read(path, encoding=encoding)


def test_the_header_must_be_decodable(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(("手机,name\n" + "13800138000,wang\n" * 5).encode("gbk"))
    with pytest.raises(CsvHeaderError, match="header row has bytes"):
        read(path, encoding="ascii")


def test_csv_decoding_streams(tmp_path: Path) -> None:
    """An endless body gives rows as they come: nothing waits for the end of the file."""
    def endless() -> Iterator[bytes]:
        yield "phone,name\r\n".encode("utf-16-le")
        for i in itertools.count():
            yield f"1380013{i % 10000:04d},王小明\r\n".encode("utf-16-le")

    rows = iter_csv_bytes(endless(), encoding="utf-16-le", required="phone")
    first = list(itertools.islice(rows, 5000))
    assert first[4999] == {"phone": "13800134999", "name": "王小明"}


# -- messy files ------------------------------------------------------------------------------

MESSY = ("\ufeff手机号,姓名,备注\r\n"
         "１３８００１３８０００,王小明,full-width\r\n"
         "+86 139-0013-9000,李华,spaces and dashes\r\n"
         "0086 137 0013 7000,张伟,0086\r\n"
         "8613600136000,刘洋,86 without plus\r\n"
         "13500135000.0,陈静,Excel float saved as text\r\n"
         "1.38E+10,杨帆,Excel scientific\r\n"
         "010-65529988,赵磊,Beijing landline\r\n"
         '13400134000,"黄, 丽","two\r\nlines"\r\n'
         "13300133000,欧阳晞,extra,cells\r\n"
         "\r\n"
         ",,\r\n"
         "13200132000,司马玥,last\r\n")


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_a_messy_export_reads_row_by_row(tmp_path: Path, encoding: str) -> None:
    from sender.sms.numbers import DropReason, normalize_number

    path = tmp_path / "export.csv"
    path.write_bytes(MESSY.encode(encoding))
    rows = list(file_rows(str(path), AudienceSource(file="export.csv"), "手机号"))
    outcomes = ["malformed" if not row else normalize_number(row["手机号"], "CN")
                for row in rows]
    assert outcomes == [
        "+8613800138000", "+8613900139000", "+8613700137000", "+8613600136000",
        "+8613500135000", DropReason.SCIENTIFIC_NOTATION, DropReason.NOT_MOBILE,
        "+8613400134000", "malformed", "+8613200132000"]
    assert rows[7]["姓名"] == "黄, 丽" and rows[7]["备注"] == "two\nlines"
    assert rows[9]["姓名"] == "司马玥"


# -- the phone column ---------------------------------------------------------------------

def test_a_csv_without_the_phone_column_names_what_it_has(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes("Mobile,姓名,code\n13800138000,王小明,C1\n".encode("gbk"))
    with pytest.raises(CsvHeaderError) as raised:
        read(path)
    assert str(raised.value) == (
        "the CSV file has no column 'phone' (audience.columns.phone); its header has"
        " 'Mobile', '姓名', 'code'")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_file_without_a_header_row_shows_no_recipient(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "list"
    if kind == "csv":
        path.write_text("王小明,13800138000\n李华,13900139000\n", encoding="utf-8")
    else:
        workbook(path, {"s": [["王小明", 13800138000], ["李华", 13900139000]]})
    with pytest.raises(HeaderError) as raised:
        read(path)
    message = str(raised.value)
    assert "its first row looks like a recipient, not a header (column 2 holds a number)" \
        in message
    assert "王小明" not in message and "8000" not in message


def test_a_near_miss_is_pointed_out(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("Phone ,name\n13800138000,王\n", encoding="utf-8")
    with pytest.raises(HeaderError, match="did you mean 'Phone'"):
        read(path)


# -- XLSX -----------------------------------------------------------------------------------

def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    for sheet in list(book.worksheets):
        book.remove(sheet)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def rewrite_values(path: Path, values: dict[str, str]) -> None:
    """Store some number cells' <v> as other writers do (1.3800138E10, 13800138000.0)."""
    data = io.BytesIO(path.read_bytes())
    with zipfile.ZipFile(data) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                for cell, value in values.items():
                    body, count = re.subn(rf'(<c r="{cell}"[^>]*><v>)[^<]*(</v>)'.encode(),
                                          rb"\g<1>" + value.encode() + rb"\g<2>", body)
                    assert count == 1, cell
            target.writestr(info, body)


def test_xlsx_numbers_come_out_as_their_digits(tmp_path: Path) -> None:
    path = workbook(tmp_path / "list.xlsx", {"名单": [
        ["phone", "name", "amount", "vip", "joined"],
        [13800138000, "王小明", 12.5, True, datetime.datetime(2026, 11, 11)],
        [13900139000.0, "李华", 3, False, datetime.datetime(2026, 11, 11, 10, 30)],
        [8613700137000, "张伟", 0.1, None, datetime.date(2026, 1, 2)],
        [13600136000, "刘洋", 1e20, None, None],
        ["+86 135-0013-5000", "陈静", "N/A", None, None],
    ]})
    book = openpyxl.load_workbook(path)
    book["名单"]["A4"].number_format = "0.00E+00"  # shown as 8.61E+12 in Excel
    book.save(path)
    rewrite_values(path, {"A2": "1.3800138E10", "A5": "13600136000.0"})
    rows = read(path)
    assert [r["phone"] for r in rows] == ["13800138000", "13900139000", "8613700137000",
                                          "13600136000", "+86 135-0013-5000"]
    assert [r["amount"] for r in rows] == ["12.5", "3", "0.1", "100000000000000000000", "N/A"]
    assert [r["vip"] for r in rows] == ["TRUE", "FALSE", "", "", ""]
    assert [r["joined"] for r in rows] == ["2026-11-11", "2026-11-11 10:30:00", "2026-01-02",
                                           "", ""]
    assert [r["name"] for r in rows] == ["王小明", "李华", "张伟", "刘洋", "陈静"]


@pytest.mark.parametrize("value, text", [
    pytest.param(13800138000, "13800138000", id="int"),
    pytest.param(13800138000.0, "13800138000", id="whole-float"),
    pytest.param(8.6138001380e12, "8613800138000", id="scientific-float"),
    pytest.param(12.5, "12.5", id="fraction"),
    pytest.param(-0.0, "0", id="negative-zero"),
    pytest.param(True, "TRUE", id="true"),
    pytest.param(None, "", id="empty"),
    pytest.param(datetime.time(9, 30), "09:30:00", id="time"),
    pytest.param("王小明", "王小明", id="text"),
])
def test_cell_text(value: Any, text: str) -> None:
    assert cell_text(value) == text


def test_xlsx_reads_the_first_sheet_or_the_named_one(tmp_path: Path) -> None:
    path = workbook(tmp_path / "book.xlsx", {
        "说明": [["这是说明页"], ["phone"], [13000000000]],
        "名单": [[None], [], ["phone", "name", None, "city"], [13800138000, "王小明", "x", "上海"],
                 [None, None], [13900139000, "李华", None, "北京"]],
    })
    assert read(path) == [{"phone": "13000000000"}]  # header: the first non-empty row
    assert read(path, sheet="名单") == [
        {"phone": "13800138000", "name": "王小明", "city": "上海"},
        {"phone": "13900139000", "name": "李华", "city": "北京"}]
    with pytest.raises(HeaderError, match=r"has no sheet 'Sheet1' .*its sheets are '说明', '名单'"):
        read(path, sheet="Sheet1")


def test_an_xlsx_without_the_phone_column_names_what_it_has(tmp_path: Path) -> None:
    path = workbook(tmp_path / "list.xlsx", {"名单": [["手机", "姓名"], [13800138000, "王"]]})
    with pytest.raises(HeaderError) as raised:
        read(path)
    assert str(raised.value) == (
        "sheet '名单' of the audience file has no column 'phone' (audience.columns.phone);"
        " its header has '手机', '姓名'")


@pytest.mark.parametrize("kind, declared, message", [
    pytest.param("csv", FileFormat.XLSX, "is not an XLSX file", id="csv-named-xlsx"),
    pytest.param("xlsx", FileFormat.CSV, "is a ZIP archive (an XLSX file?), not CSV",
                 id="xlsx-named-csv"),
    pytest.param("zip", FileFormat.AUTO, "is not a workbook openpyxl can read",
                 id="zip-not-xlsx"),
])
def test_a_file_that_is_not_its_format_says_what_it_is(
    tmp_path: Path, kind: str, declared: FileFormat, message: str
) -> None:
    path = tmp_path / "list"
    if kind == "csv":
        path.write_text("phone\n13800138000\n", encoding="utf-8")
    elif kind == "xlsx":
        workbook(path, {"s": [["phone"], [13800138000]]})
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("list.csv", "phone\n13800138000\n")
    with pytest.raises(AudienceError, match=re.escape(message)):
        read(path, format=declared)


@pytest.mark.parametrize("declared", [FileFormat.AUTO, FileFormat.XLSX])
def test_xlsx_is_read_when_named_or_detected(tmp_path: Path, declared: FileFormat) -> None:
    path = workbook(tmp_path / "audience.csv", {"s": [["phone"], [13800138000]]})
    assert read(path, format=declared) == [{"phone": "13800138000"}]


def test_bom_detection_prefers_utf32_over_utf16() -> None:
    sample = "phone\n1\n".encode("utf-32")
    assert sample.startswith(codecs.BOM_UTF16_LE)  # the UTF-32 LE mark starts like it
    assert choose_encoding(sample, "Auto", "f") == "utf-32"
