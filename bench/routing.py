"""Benchmark: the routing decision per number (sender.sms.routing), beside parsing the
number alone (what the importer does for every row already), in the same run.

    python bench/routing.py                 # 100,000 numbers, 3 rounds
    python bench/routing.py --numbers 500000
    python bench/routing.py --import-rows 50000   # and the importer, with Redis

Generates Chinese mobile numbers across the three networks' prefixes, parses each to
E.164 (phonenumbers, as the importer does), then routes them three ways: by country and
prefix (no carrier lookup), and by carrier (三网分流: China Mobile, China Unicom, China
Telecom, the lookup phonenumbers' carrier data makes). The sides alternate `--rounds`
times; each figure is its median. Prints one JSON object:

    {"numbers": N, "parse": {"numbers_per_s": …, "us_per_number": …},
     "by_prefix": {…, "routed": {channel: count}}, "by_carrier": {…},
     "extra_us_by_prefix": …, "extra_us_by_carrier": …}

The extra figures are the routing's own cost per number, beside parsing.

`--import-rows N` also runs the importer (`import_audience`, what the importer pod runs)
on N rows into a redis-server it starts: a run of one channel that serves any number (no
routing), beside the same rows routed across the three networks' channels by carrier
and across two by prefix, alternating `--rounds` times; "import" then holds each one's
median rows/s and their ratios to the one channel's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import phonenumbers  # noqa: E402

from crds.campaign import ColumnMapping  # noqa: E402
from herald.local.redis import start_redis  # noqa: E402
from sender.importer.shards import import_audience  # noqa: E402
from sender.sms.routing import Route, Router  # noqa: E402
from sender.store.client import connect  # noqa: E402
from sender.store.keys import CampaignKeys  # noqa: E402

PREFIXES = ("138", "139", "150", "130", "186", "133", "189", "177")
ROUTERS = {
    "by_prefix": Router([Route.of("cmcc", prefixes=["+86138", "+86139", "+86150"]),
                         Route.of("rest", countries=["CN"])]),
    "by_carrier": Router([Route.of("cmcc", carriers=["China Mobile"]),
                          Route.of("unicom", carriers=["China Unicom"]),
                          Route.of("telecom", carriers=["China Telecom"])]),
}


def numbers(count: int) -> list[str]:
    return [f"+86{PREFIXES[i % len(PREFIXES)]}{i:08d}" for i in range(count)]


def parse_all(texts: list[str]) -> tuple[float, list[tuple[Any, str]]]:
    started = time.perf_counter()
    parsed = []
    for text in texts:
        number = phonenumbers.parse(text)
        parsed.append((number, phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164)))
    return time.perf_counter() - started, parsed


def route_all(router: Router, parsed: list[tuple[Any, str]]) -> tuple[float, Counter[str]]:
    started = time.perf_counter()
    routed: Counter[str] = Counter(str(router.route(n, e164)) for n, e164 in parsed)
    return time.perf_counter() - started, routed


def figures(count: int, seconds: list[float]) -> dict[str, float]:
    median = statistics.median(seconds)
    return {"numbers_per_s": round(count / median), "us_per_number": round(1e6 * median / count, 2)}


def bench(count: int, rounds: int) -> dict[str, Any]:
    texts = numbers(count)
    times: dict[str, list[float]] = {"parse": [], **{name: [] for name in ROUTERS}}
    routed: dict[str, Counter[str]] = {}
    for _ in range(rounds):
        seconds, parsed = parse_all(texts)
        times["parse"].append(seconds)
        for name, router in ROUTERS.items():
            seconds, routed[name] = route_all(router, parsed)
            times[name].append(seconds + times["parse"][-1])  # parse, then route
    report: dict[str, Any] = {"numbers": count, "rounds": rounds,
                              "parse": figures(count, times["parse"])}
    for name in ROUTERS:
        report[name] = figures(count, times[name]) | {"routed": dict(routed[name])}
        report[f"extra_us_{name}"] = round(
            report[name]["us_per_number"] - report["parse"]["us_per_number"], 2)
    return report


IMPORT_SIDES: dict[str, Router | None] = {"one_channel": None, **ROUTERS}
"""The importer's runs: no router (one channel, any number), then each of ROUTERS."""


async def one_import(url: str, name: str, rows: list[dict[str, str]], router: Router | None,
                     ) -> dict[str, Any]:
    redis = connect(url)
    keys = CampaignKeys("bench", name)
    channels = [route.channel for route in router.routes] if router else ["any"]
    try:
        started = time.perf_counter()
        report = await import_audience(redis, keys, rows, shards=4, columns=ColumnMapping(),
                                       default_region="CN", channels=channels, router=router)
        seconds = time.perf_counter() - started
        await redis.delete(*await redis.keys(f"herald:{{campaign:bench/{name}}}:*") or ["-"])
    finally:
        await redis.aclose()
    return {"rows_per_s": round(len(rows) / seconds), "queued": report.queued,
            "channels": dict(report.channels)}


async def bench_import(count: int, rounds: int, url: str) -> dict[str, Any]:
    rows = [{"phone": text} for text in numbers(count)]
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in IMPORT_SIDES}
    for round_ in range(rounds):
        for side, router in IMPORT_SIDES.items():
            runs[side].append(await one_import(url, f"{side}-{round_}", rows, router))
    report: dict[str, Any] = {"rows": count}
    for side, results in runs.items():
        report[side] = results[-1] | {
            "rows_per_s": statistics.median(r["rows_per_s"] for r in results)}
    for side in ROUTERS:
        report[f"ratio_{side}_rows_per_s"] = round(
            report[side]["rows_per_s"] / report["one_channel"]["rows_per_s"], 3)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--import-rows", type=int, default=0, metavar="N",
                        help="also time the importer on N rows, routed and not (Redis)")
    args = parser.parse_args()
    report = bench(args.numbers, args.rounds)
    if args.import_rows:
        with tempfile.TemporaryDirectory(prefix="herald-bench-") as workdir:
            server = start_redis(Path(workdir))
            try:
                report["import"] = asyncio.run(bench_import(args.import_rows, args.rounds,
                                                            server.url))
            finally:
                server.stop()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
