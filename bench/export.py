"""Benchmark: a campaign run's per-recipient export (sender.export), CSV and Parquet,
beside writing the same rows from memory with the stdlib's csv and pyarrow's own
writer, in the same run.

    python bench/export.py                   # 1,000,000 recipients
    python bench/export.py --rows 100000
    python bench/export.py --rows 100000 --stamp-cost   # what the states' stamps cost

Starts a redis-server (herald.local.redis) and fills one run straight into it, as the
importer and the senders would leave it (nothing is sent): a RunConfig of 4 shards on
one channel, `--rows` stream entries (n, v, x, z) spread over the 4 lanes, and their
states as transitions.lua stamps them (segments, submit and done times): 90% delivered,
5% failed by receipt (F:001), 5% submitted (s:<smsc id>); 2% have clicks. It reports
the Redis bytes per recipient of that run (INFO used_memory before and after the fill,
divided by the rows); with --stamp-cost, what the stamps take of it (MEMORY USAGE of
the state hash with them and with the same values unstamped).

Each side runs in a child process of its own (peak RSS is the child's `ru_maxrss`):

    herald_csv, herald_parquet   export_run to a file: streams, a page of XRANGE and
                                 HMGETs at a time
    peer_csv                     the same rows, first read whole into a list (untimed:
                                 `load_seconds`), then csv.writer.writerows to a file
    peer_parquet                 the same rows read whole, then pyarrow.Table and
                                 pyarrow.parquet.write_table

The peers' seconds are the write alone, so `ratio_seconds_*` is what reading Redis and
decoding costs over writing rows already in memory, and `ratio_seconds_*_vs_read_and_write`
compares with the peer's read and write together; the peers' peak RSS holds the whole
run, which the export never does. Prints one JSON object:

    {"rows": N, "redis_bytes_per_recipient": …, "baseline_rss_mb": …,
     "herald_csv": {"rows", "seconds", "rows_per_s", "peak_rss_mb", "file_mb"}, …,
     "ratio_seconds_csv": herald / peer, "ratio_peak_rss_csv": …, (and _parquet)}
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from herald.local.redis import start_redis
from sender.store.client import connect
from sender.store.keys import CampaignKeys

KEYS = CampaignKeys("bench", "export")
SHARDS = 4
FILL_BATCH = 5000


def run_config() -> Any:
    from sender.run_config import RunConfig

    return RunConfig.model_validate({
        "campaign": {"namespace": KEYS.namespace, "name": KEYS.name}, "uid": "bench",
        "generation": 1, "frozen_hash": "bench", "shards": SHARDS,
        "templates": {"a": {"category": "Notification", "body": "Hi {name}"},
                      "b": {"category": "Notification", "body": "Hello {name}"}},
        "channels": [{"name": "carrier-a", "rate": 1000, "smpp": {
            "host": "127.0.0.1", "port": 2775, "system_id": "bench",
            "source_addr": {"address": "Herald"}}}],
        "audience": {"source": {"inline": []}}})


async def fill(url: str, rows: int) -> float:
    """The run in Redis; its bytes per recipient."""
    from sender.store.run_store import write_run

    redis = connect(url)
    try:
        await redis.flushdb()
        before = int((await redis.info("memory"))["used_memory"])
        await write_run(redis, run_config())
        for start in range(0, rows, FILL_BATCH):
            pipe = redis.pipeline(transaction=False)
            count = min(FILL_BATCH, rows - start)
            for i in range(start, start + count):
                lane = i % SHARDS
                entry = f"{1_700_000_000_000 + i}-0"
                pipe.xadd(KEYS.shard(lane), {"n": f"+86138{i:08d}", "v": "ab"[i % 2],
                                             "x": json.dumps({"name": f"n{i}"}),
                                             "z": "Asia/Shanghai"}, id=entry)
            await pipe.execute()
            pipe = redis.pipeline(transaction=False)
            states: dict[str, dict[str, str]] = {}
            clicks: dict[str, str] = {}
            for i in range(start, start + count):
                key = f"{i % SHARDS}/{1_700_000_000_000 + i}-0"
                bucket = i % 20
                submitted = 1_767_225_600 + i // 1000  # a thousand a second
                states.setdefault("s", {})[key] = (
                    f"F:001~1,{submitted},{submitted + 3}" if bucket == 0
                    else f"s:{i:016x}~1,{submitted}," if bucket == 1
                    else f"D~1,{submitted},{submitted + 3}")
                if i % 50 == 0:
                    clicks[key] = f"{1_767_225_600 + i} {1 + i % 3}"
            pipe.hset(KEYS.state, mapping=states["s"])  # type: ignore[arg-type]
            if clicks:
                pipe.hset(KEYS.clicks, mapping=clicks)  # type: ignore[arg-type]
            await pipe.execute()
        after = int((await redis.info("memory"))["used_memory"])
        return (after - before) / rows
    finally:
        await redis.aclose()


async def stamp_cost(url: str, rows: int) -> dict[str, int]:
    """The state hash's bytes per recipient with the stamps and without them (the filled
    run's values, their stamps cut off, then put back)."""
    from sender.sms.states import STAMP

    redis = connect(url)
    try:
        stamped = int(await redis.memory_usage(KEYS.state, samples=0) or 0)
        states = cast(list[tuple[str, str]], list((await redis.hgetall(KEYS.state)).items()))
        for start in range(0, rows, FILL_BATCH):
            await redis.hset(KEYS.state, mapping={
                key: value.partition(STAMP)[0] for key, value in states[start:start + FILL_BATCH]})
        unstamped = int(await redis.memory_usage(KEYS.state, samples=0) or 0)
        await redis.hset(KEYS.state, mapping=dict(states))
    finally:
        await redis.aclose()
    return {"state_hash": round(stamped / rows), "state_hash_unstamped": round(unstamped / rows),
            "stamps": round((stamped - unstamped) / rows)}


async def load_rows(url: str) -> list[Any]:
    """Every row, read whole (the peers' input)."""
    from sender.export.rows import export_row
    from sender.store.export_pages import lane_pages

    redis = connect(url)
    rows: list[Any] = []
    try:
        for lane in range(SHARDS):
            async for page in lane_pages(redis, KEYS, lane):
                rows.extend(export_row(r.key, r.fields, r.state, r.clicks, channel="carrier-a")
                            for r in page)
    finally:
        await redis.aclose()
    return rows


async def herald_side(url: str, out: Path, fmt: str) -> int:
    from sender.export.process import export_run
    from sender.export.writers import format_of

    redis = connect(url)
    try:
        result = await export_run(redis, KEYS, str(out), format_of(fmt))
    finally:
        await redis.aclose()
    return result.rows


def peer_csv(rows: list[Any], out: Path) -> None:
    from sender.export.rows import COLUMNS
    from sender.sms.states import iso_time

    with out.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        writer.writerows((r.number, r.variant, r.channel, r.state, r.error,
                          "" if r.segments is None else r.segments, iso_time(r.submitted),
                          iso_time(r.done), iso_time(r.first_click), r.clicks, r.message)
                         for r in rows)


def peer_parquet(rows: list[Any], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sender.export.writers import parquet_schema

    schema = parquet_schema()
    columns = list(zip(*(r.values() for r in rows), strict=True))
    table = pa.Table.from_arrays([pa.array(v, type=f.type)
                                  for v, f in zip(columns, schema, strict=True)],
                                 schema=schema)
    pq.write_table(table, out, compression="zstd", row_group_size=100_000)


def child(side: str, url: str, out: str) -> dict[str, Any]:
    import pyarrow.parquet  # noqa: F401  (every side pays for the imports)

    import sender.export.process  # noqa: F401

    path = Path(out)
    if side == "baseline":
        return {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    report: dict[str, Any] = {}
    if side.startswith("herald"):
        started = time.perf_counter()
        count = asyncio.run(herald_side(url, path, side.split("_")[1]))
    else:
        loading = time.perf_counter()
        rows = asyncio.run(load_rows(url))
        report["load_seconds"] = round(time.perf_counter() - loading, 3)
        count = len(rows)
        started = time.perf_counter()
        (peer_csv if side == "peer_csv" else peer_parquet)(rows, path)
    seconds = time.perf_counter() - started
    return report | {
        "rows": count, "seconds": round(seconds, 3),
        "rows_per_s": round(count / seconds) if seconds else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "file_mb": round(path.stat().st_size / 2**20, 2)}


def run_child(side: str, url: str, out: Path, timeout: float) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", side, url, str(out)],
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
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per side")
    parser.add_argument("--stamp-cost", action="store_true",
                        help="also: the state hash's bytes per recipient with and without"
                             " the stamps (stamp_bytes_per_recipient)")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "URL", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    with tempfile.TemporaryDirectory(prefix="herald-export-bench-") as directory:
        work = Path(directory)
        server = start_redis(work)
        try:
            per_recipient = asyncio.run(fill(server.url, args.rows))
            report: dict[str, Any] = {
                "rows": args.rows, "redis_bytes_per_recipient": round(per_recipient),
                "baseline_rss_mb": run_child("baseline", server.url, work / "none",
                                             args.timeout).get("peak_rss_mb")}
            if args.stamp_cost:
                report["stamp_bytes_per_recipient"] = asyncio.run(
                    stamp_cost(server.url, args.rows))
            for side, name in (("herald_csv", "export.csv"), ("peer_csv", "peer.csv"),
                               ("herald_parquet", "export.parquet"),
                               ("peer_parquet", "peer.parquet")):
                report[side] = run_child(side, server.url, work / name, args.timeout)
        finally:
            server.stop()
    for fmt in ("csv", "parquet"):
        herald, peer = report[f"herald_{fmt}"], report[f"peer_{fmt}"]
        report[f"ratio_seconds_{fmt}"] = ratio(herald.get("seconds"), peer.get("seconds"))
        report[f"ratio_seconds_{fmt}_vs_read_and_write"] = ratio(
            herald.get("seconds"), (peer.get("seconds") or 0) + (peer.get("load_seconds") or 0))
        report[f"ratio_peak_rss_{fmt}"] = ratio(herald.get("peak_rss_mb"),
                                                peer.get("peak_rss_mb"))
    report["same_rows"] = all(report[s].get("rows") == args.rows for s in (
        "herald_csv", "peer_csv", "herald_parquet", "peer_parquet"))
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
