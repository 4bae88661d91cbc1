"""Benchmark: the importer's rows/s on clean, national-format and messy lists, in one
process and in N at once, beside the same import with phonenumbers reading every number
(the peer figure), in the same run.

    python bench/import.py                          # 100,000 rows a list, 1 and 2 processes
    python bench/import.py --rows 1000000 --rounds 3
    python bench/import.py --lists clean --processes 1,2,4
    python bench/import.py --memory                 # peak RSS at N and at 10 x N

Starts a redis-server (herald.local.redis) and writes three CSV lists of `--rows` rows
(phone, name, city) in a temporary directory:

- clean: E.164, four of five Chinese mobiles and the rest mobiles of twelve other
  countries (example numbers of phonenumbers with other last digits);
- national: the Chinese mobiles in national form (13800138000), read with default
  region CN;
- messy: what people's files hold, in turn: spaces and dashes, full-width digits, a
  0086 or 86 prefix, a spreadsheet's 13800138000.0 and 1.38E+10, landlines, letters,
  empty cells, and one row in ten a duplicate.

Each import is a child process doing what the importer pod does (the file read by
`sender.importer.audience_sources.file_rows`, then `import_audience` into 4 shards of a
fresh campaign), timed from opening the file to the report; it prints its rows/s, its
CPU time a row (the importers' own, not Redis's: steadier than rows/s on a busy
machine), peak RSS and counts; the parent adds Redis's own CPU a row (INFO cpu, the
whole server's, so it takes nothing else running on it). Sides:

- herald: the importer as it is;
- phonenumbers: the same import with each number read by phonenumbers alone (parse,
  is_valid_number, number_type, region_code_for_number, format_number), as Herald read
  them before its fast path (sender.sms.number_parsing); its pattern cache is on for both.

With N processes, N children import one campaign's list at once in parts, as the pods
of spec.audience.importers do (each reads every row and imports every Nth batch):
rows/s is the list's rows over the slowest child's seconds, the counts the finished
import's. The N importers, Redis and nothing else share the machine's cores. Sides
alternate `--rounds` times; each figure is the median. Both sides must agree on every
count, or the bench fails. Prints one JSON object:

    {"rows": N, "rounds": R, "shards": 4,
     "lists": {"clean": {"1": {"herald": {"rows_per_s": …, "cpu_us_per_row": …,
                                          "redis_cpu_us_per_row": …, "peak_rss_mib": …,
                                          "queued": …, "invalid": …, "suppressed": …},
                               "phonenumbers": {…}, "ratio_rows_per_s": herald / phonenumbers},
                         "2": {…}},
               "national": {…}, "messy": {…}},
     "memory": {"rows": [N, 10N], "peak_rss_mib": [a, b], "ratio": b / a}   (with --memory)}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from herald.local.redis import start_redis  # noqa: E402

LISTS = ("clean", "national", "messy")
SIDES = ("herald", "phonenumbers")
SHARDS = 4
OTHER_COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "MX", "ID", "NG", "JP", "IT", "AU")
"""Where a fifth of the clean list's numbers are from (their mobiles)."""
COUNTS = ("queued", "invalid", "suppressed")


# -- the lists -----------------------------------------------------------------------------

CHINESE_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139",
                           "150", "151", "152", "155", "156", "158", "159", "186", "188")


def chinese_mobile(i: int) -> str:
    """The ith of a range of valid Chinese mobile numbers, national form."""
    prefixes = CHINESE_MOBILE_PREFIXES
    return f"{prefixes[i % len(prefixes)]}{i // len(prefixes) % 100_000_000:08d}"


def other_mobiles() -> list[tuple[int, str]]:
    """(country code, national number) of an example mobile of each OTHER_COUNTRIES."""
    import phonenumbers
    found = []
    for region in OTHER_COUNTRIES:
        number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        assert number is not None and number.country_code is not None
        found.append((number.country_code, phonenumbers.national_significant_number(number)))
    return found


def clean_number(i: int, others: list[tuple[int, str]]) -> str:
    if i % 5:
        return f"+86{chinese_mobile(i)}"
    code, national = others[i // 5 % len(others)]
    return f"+{code}{national[:-6]}{i // 5 // len(others) % 1_000_000:06d}"


def messy_number(i: int, rng: random.Random) -> str:
    if i % 10 == 9:  # a duplicate of a row before
        return messy_number(rng.randrange(0, i), random.Random(i))
    digits = chinese_mobile(i)
    match i % 12:
        case 0:
            return f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"
        case 1:
            return digits.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
        case 2:
            return f"0086 {digits[:3]} {digits[3:7]} {digits[7:]}"
        case 3:
            return f"86{digits}"
        case 4:
            return f"{digits}.0"
        case 5:
            return f"{digits[0]}.{digits[1:3]}E+10"
        case 6:
            return f"010-{6552_0000 + i % 10_000}"
        case 7:
            return "call me"
        case 8:
            return ""
        case 9:
            return f" {digits} "
        case _:
            return digits


def write_list(path: Path, kind: str, first: int, count: int) -> None:
    others = other_mobiles()
    rng = random.Random(first)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,name,city\r\n")
        for i in range(first, first + count):
            number = (clean_number(i, others) if kind == "clean"
                      else chinese_mobile(i) if kind == "national" else messy_number(i, rng))
            out.write(f"{number},客户{i},{'上海' if i % 2 else '北京'}\r\n")


def write_lists(directory: Path, kinds: list[str], rows: int) -> dict[str, Path]:
    files = {}
    for kind in kinds:
        files[kind] = directory / f"{kind}.csv"
        write_list(files[kind], kind, 0, rows)
    return files


# -- one import (a child process) ------------------------------------------------------------

async def one_import(url: str, path: Path, campaign: str, side: str, part: int, parts: int
                     ) -> dict[str, Any]:
    from crds.campaign import ColumnMapping
    from sender.collector import tune_collector
    from sender.importer import shards
    from sender.importer.audience_sources import file_rows
    from sender.run_config import AudienceSource
    from sender.sms.numbers import parse_number_by_phonenumbers
    from sender.store.client import connect, kernel_timeouts
    from sender.store.keys import CampaignKeys

    if side == "phonenumbers":  # the peer side: phonenumbers alone
        shards.parse_number = parse_number_by_phonenumbers  # type: ignore[attr-defined]
    redis = connect(url, **kernel_timeouts())  # as the importer pod connects
    try:
        region = "CN" if "clean" not in path.name else ""
        tune_collector()  # as the importer pod does
        started, cpu = time.perf_counter(), time.process_time()
        report = await shards.import_audience(
            redis, CampaignKeys("bench", campaign),
            file_rows(str(path), AudienceSource(file=path.name), "phone"),
            shards=SHARDS, columns=ColumnMapping(), default_region=region,
            part=part, parts=parts)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await redis.aclose()
    return {"seconds": seconds, "cpu_seconds": cpu, "complete": report.complete,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "queued": report.queued, "invalid": report.invalid,
            "suppressed": report.suppressed}


# -- the parent -----------------------------------------------------------------------------

def redis_cpu_seconds(url: str) -> float:
    """Redis's own CPU so far (INFO cpu: user and system): the side the importer's own
    figure leaves out, which works beside it on the other core."""
    import redis

    with redis.Redis.from_url(url) as client:
        info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_side(url: str, path: Path, rows: int, parts: int, side: str, name: str
             ) -> dict[str, Any]:
    """One side: `parts` children importing campaign `name` from `path` at once."""
    redis_cpu = redis_cpu_seconds(url)
    children = [subprocess.Popen(
        [sys.executable, __file__, "--child", str(path), "--redis", url, "--campaign", name,
         "--side", side, "--part", str(part), "--parts", str(parts)],
        stdout=subprocess.PIPE, text=True) for part in range(parts)]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"an import child failed ({child.returncode})")
        results.append(json.loads(out))
    redis_cpu = redis_cpu_seconds(url) - redis_cpu
    # The last part to finish marks the import done; a part that finished just before
    # may read its report after that, and see it done too: the same counts.
    finals = [r for r in results if r["complete"]]
    if not finals:
        raise SystemExit("no part finished the import")
    final = finals[-1]
    return {"rows_per_s": round(rows / max(r["seconds"] for r in results)),
            "cpu_us_per_row": round(sum(r["cpu_seconds"] for r in results) / rows * 1e6, 2),
            "redis_cpu_us_per_row": round(redis_cpu / rows * 1e6, 2),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
            **{count: final[count] for count in COUNTS}}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = runs[0]
    if any(tuple(r[c] for c in COUNTS) != tuple(first[c] for c in COUNTS) for r in runs):
        raise SystemExit("rounds disagree on the counts")
    return {"rows_per_s": round(statistics.median(r["rows_per_s"] for r in runs)),
            "cpu_us_per_row": statistics.median(r["cpu_us_per_row"] for r in runs),
            "redis_cpu_us_per_row": statistics.median(r["redis_cpu_us_per_row"] for r in runs),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
            **{c: first[c] for c in COUNTS}}


def bench(args: argparse.Namespace, url: str, directory: Path) -> dict[str, Any]:
    kinds = args.lists.split(",")
    processes = [int(p) for p in args.processes.split(",")]
    files = write_lists(directory, kinds, args.rows)
    figures: dict[str, Any] = {}
    serial = 0
    for kind in kinds:
        figures[kind] = {}
        for count in processes:
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
            for _ in range(args.rounds):
                for side in SIDES:
                    serial += 1
                    runs[side].append(run_side(url, files[kind], args.rows, count, side,
                                               f"r{serial}"))
            sides = {side: median_of(runs[side]) for side in SIDES}
            if any(sides["herald"][c] != sides["phonenumbers"][c] for c in COUNTS):
                raise SystemExit(f"{kind}: the sides disagree: {sides}")
            figures[kind][str(count)] = {**sides, "ratio_rows_per_s": round(
                sides["herald"]["rows_per_s"] / sides["phonenumbers"]["rows_per_s"], 2)}
    report: dict[str, Any] = {"rows": args.rows, "rounds": args.rounds, "shards": SHARDS,
                              "lists": figures}
    if args.memory:
        sizes = [args.rows, 10 * args.rows]
        peaks = []
        for size in sizes:
            path = directory / f"memory-{size}.csv"
            write_list(path, "clean", 0, size)
            peaks.append(run_side(url, path, size, 1, "herald", f"memory-{size}")["peak_rss_mib"])
            path.unlink()
        report["memory"] = {"rows": sizes, "peak_rss_mib": peaks,
                            "ratio": round(peaks[1] / peaks[0], 2)}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lists", default=",".join(LISTS))
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--campaign", help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--parts", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(one_import(args.redis, Path(args.child), args.campaign,
                                                args.side, args.part, args.parts))), flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as workdir:
        server = start_redis(Path(workdir))
        try:
            print(json.dumps(bench(args, server.url, Path(workdir))), flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
