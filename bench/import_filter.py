"""Benchmark: the importer with a typed audience filter and A/B variants, beside the
same import without them, in the same run.

    python bench/import_filter.py                  # 20,000 rows
    python bench/import_filter.py --rows 100000

Starts a redis-server (herald.local.redis), generates `--rows` rows (a national-format
number, a name, an age, a VIP flag, a birth date), and imports them into a fresh
campaign twice with `import_audience`, the function the importer pod runs: once plain,
and with three typed columns (Int, Bool, Date), two variants and each filter of
FILTERS: one cel-python transpiles, one with a helper it interprets. The sides
alternate `--rounds` times; the figures are each side's median. Prints one JSON object:

    {"rows": N, "rounds": R, "filters": {...},
     "plain": {"rows_per_s": …, "queued": …},
     "typed": {"rows_per_s": …, "queued": …, "filtered": …}, "helpers": {…},
     "ratio_typed_rows_per_s": typed / plain, "ratio_helpers_rows_per_s": …}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crds.campaign import ColumnMapping  # noqa: E402
from herald.local.redis import start_redis  # noqa: E402
from sender.importer.shards import import_audience  # noqa: E402
from sender.sms.audience_filter import compile_filter  # noqa: E402
from sender.store.client import connect  # noqa: E402
from sender.store.keys import CampaignKeys  # noqa: E402

FILTERS = {
    "typed": "vars.age >= 18 && vars.vip && vars.born < today",
    "helpers": "vars.age >= 18 && vars.vip && daysToAnniversary(vars.born) <= 30",
}
"""A typed filter cel-python transpiles, and one with a helper it must interpret."""
TYPED = ColumnMapping.model_validate({"variables": [
    {"name": "name", "value": "name"},
    {"name": "age", "value": "age", "type": "Int"},
    {"name": "vip", "value": "vip", "type": "Bool"},
    {"name": "born", "value": "born", "type": "Date"}]})


def rows(count: int) -> list[dict[str, str]]:
    return [{"phone": f"138{i:08d}", "name": f"客户{i}", "age": str(15 + i % 60),
             "vip": "yes" if i % 3 else "no",
             "born": f"{1950 + i % 60}-{1 + i % 12:02d}-{1 + i % 28:02d}"}
            for i in range(count)]


async def one_import(url: str, name: str, data: list[dict[str, str]], side: str
                     ) -> dict[str, Any]:
    filtered = side != "plain"
    redis = connect(url)
    keys = CampaignKeys("bench", name)
    try:
        await redis.delete(*await redis.keys(f"herald:{{campaign:bench/{name}}}:*") or ["-"])
        started = time.perf_counter()
        report = await import_audience(
            redis, keys, data, shards=4, default_region="CN",
            columns=TYPED if filtered else ColumnMapping(),
            variants=[("a", 50), ("b", 50)] if filtered else (),
            keep=compile_filter(FILTERS[side], {v.name: v.type for v in TYPED.variables},
                                "Asia/Shanghai") if filtered else None)
        seconds = time.perf_counter() - started
    finally:
        await redis.aclose()
    return {"rows_per_s": round(len(data) / seconds), "queued": report.queued,
            "filtered": report.suppressed}


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    data = rows(args.rows)
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], **{side: [] for side in FILTERS}}
    for round_ in range(args.rounds):
        for side in runs:
            runs[side].append(await one_import(url, f"{side}-{round_}", data, side))
    report: dict[str, Any] = {"rows": args.rows, "rounds": args.rounds, "filters": FILTERS}
    for side, results in runs.items():
        report[side] = results[-1] | {
            "rows_per_s": statistics.median(r["rows_per_s"] for r in results)}
    for side in FILTERS:
        report[f"ratio_{side}_rows_per_s"] = round(
            report[side]["rows_per_s"] / report["plain"]["rows_per_s"], 3)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as workdir:
        server = start_redis(Path(workdir))
        try:
            print(json.dumps(asyncio.run(bench(args, server.url))), flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
