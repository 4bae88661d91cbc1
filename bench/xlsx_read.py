"""Benchmark: reading an XLSX audience, Herald's reader (openpyxl, read-only) against
python-calamine, on the same file in the same run.

    python bench/xlsx_read.py                      # 200,000 rows
    python bench/xlsx_read.py --rows 1000000 --columns 12
    python bench/xlsx_read.py --no-dimension       # a sheet without <dimension>

Writes one workbook with openpyxl (write-only) to a temporary folder: a header and
`--rows` rows of a phone number cell (13800000000 + i, an int cell), a Chinese name, a
coupon code, a city and, past four columns, more text cells. Excel writes a
<dimension> element in every sheet; openpyxl's write-only mode does not, so the bench
adds one unless --no-dimension (then openpyxl's read-only mode scans the sheet once
more at open to find its size).

Each side runs in a child process of its own (peak RSS is the child's `ru_maxrss`),
reading every row into dicts of text the way the importer does (cells to text by
sender.importer.audience_xlsx.cell_text): Herald through `file_rows`, the function the
importer pod runs for a mounted file; the peer through
`CalamineWorkbook.get_sheet_by_index(0).iter_rows()`. Prints one JSON object:

    {"rows": N, "columns": C, "file_mb": …, "dimension": true,
     "baseline_rss_mb": …,            # a child that imports both readers and reads nothing
     "herald": {"rows": N, "seconds": …, "rows_per_s": …, "peak_rss_mb": …, "digest": …},
     "peer": {…},
     "same_rows": true,               # both read the same phone numbers and names
     "ratio_seconds": herald / peer, "ratio_peak_rss": herald / peer}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NAMES = ("王小明", "李华", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "欧阳晞", "司马玥")
CITIES = ("上海", "北京", "深圳", "广州", "杭州")


def write_workbook(path: Path, rows: int, columns: int, dimension: bool) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("名单")
    extra = [f"note{i}" for i in range(max(0, columns - 4))]
    sheet.append(["phone", "name", "code", "city", *extra])
    for i in range(rows):
        sheet.append([13800000000 + i, NAMES[i % len(NAMES)], f"D11-{i:07d}",
                      CITIES[i % len(CITIES)], *(f"备注{i % 97}" for _ in extra)])
    workbook.save(path)
    if dimension:
        add_dimension(path, f"A1:{column_letter(columns)}{rows + 1}")


def column_letter(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def add_dimension(path: Path, ref: str) -> None:
    """Rewrite the workbook with a <dimension> in its sheet, as Excel writes one."""
    fixed = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, \
            zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if not info.filename.startswith("xl/worksheets/sheet"):
                target.writestr(info, source.read(info))
                continue
            with source.open(info) as reader, target.open(info.filename, "w") as writer:
                head = reader.read(4096)
                writer.write(head.replace(b"<sheetViews>",
                                          f'<dimension ref="{ref}"/><sheetViews>'.encode(), 1))
                while chunk := reader.read(1 << 20):
                    writer.write(chunk)
    fixed.replace(path)


def herald_rows(path: str) -> Iterator[dict[str, str]]:
    from sender.importer.audience_sources import file_rows
    from sender.run_config import AudienceSource

    return file_rows(path, AudienceSource(file=Path(path).name), "phone")


def peer_rows(path: str) -> Iterator[dict[str, str]]:
    import python_calamine

    from sender.importer.audience_xlsx import cell_text

    workbook = python_calamine.CalamineWorkbook.from_path(path)
    header: list[str] | None = None
    for values in workbook.get_sheet_by_index(0).iter_rows():
        cells = [cell_text(v) for v in values]
        if not any(cells):
            continue
        if header is None:
            header = cells
            continue
        yield {name: value for name, value in zip(header, cells, strict=False) if name}


def child(side: str, path: str) -> dict[str, Any]:
    import python_calamine  # noqa: F401  (both sides pay for both imports)

    import sender.importer.audience_sources  # noqa: F401

    if side == "baseline":
        return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    rows = herald_rows(path) if side == "herald" else peer_rows(path)
    digest = hashlib.sha256()
    count = 0
    started = time.perf_counter()
    for row in rows:
        count += 1
        digest.update(f"{row['phone']},{row['name']}\n".encode())
    seconds = time.perf_counter() - started
    return {"rows": count, "seconds": round(seconds, 3),
            "rows_per_s": round(count / seconds) if seconds else None,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "digest": digest.hexdigest()[:16]}


def run_child(side: str, path: Path, timeout: float) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", side, str(path)],
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 2) if isinstance(a, int | float) and isinstance(b, int | float) and b \
        else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=4, help="4 or more")
    parser.add_argument("--no-dimension", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per side")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    with tempfile.TemporaryDirectory(prefix="herald-xlsx-bench-") as directory:
        path = Path(directory) / "audience.xlsx"
        write_workbook(path, args.rows, max(4, args.columns), not args.no_dimension)
        report: dict[str, Any] = {
            "rows": args.rows, "columns": max(4, args.columns),
            "file_mb": round(path.stat().st_size / 2**20, 2),
            "dimension": not args.no_dimension,
            "baseline_rss_mb": run_child("baseline", path, args.timeout).get("peak_rss_mb"),
        }
        report["herald"] = run_child("herald", path, args.timeout)
        report["peer"] = run_child("peer", path, args.timeout)
    herald, peer = report["herald"], report["peer"]
    report["same_rows"] = ("digest" in herald and herald.get("digest") == peer.get("digest")
                           and herald.get("rows") == peer.get("rows") == args.rows)
    report["ratio_seconds"] = ratio(herald.get("seconds"), peer.get("seconds"))
    report["ratio_peak_rss"] = ratio(herald.get("peak_rss_mb"), peer.get("peak_rss_mb"))
    print(json.dumps(report, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
