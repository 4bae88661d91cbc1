"""Benchmark: the short-link redirects (`herald links`), requests per second and their
latency, beside two peers in the same run.

    python bench/links.py                          # 10,000 requests, 32 clients at once
    python bench/links.py --requests 50000 --concurrency 64 --links 100000

Starts a redis-server (herald.local.redis), writes --links short links of one campaign
as senders do (sender.store.links: a record each, the campaign's table of targets), and
starts each server in its own process on a free loopback port. After --warmup requests
(not reported), --requests GETs from --concurrency clients on one keep-alive session
follow random codes without following the redirect, each side in turn:

    herald   `herald links`, a browser's User-Agent: every request a counted click
             (a GET, the campaign's script on its tag), then a 302
    bots     `herald links`, a link preview's User-Agent: redirected, not counted
    redis    the peer: a bare aiohttp handler doing one Redis GET of the code's record
             and a 302, nothing else (no target table, no bot check, no count)
    floor    the HTTP floor: an aiohttp handler answering 302 from a dict in memory

Prints one JSON object:

    {"requests": N, "concurrency": C, "links": L,
     "herald": {"redirects": …, "requests_per_s": …, "p50_ms": …, "p99_ms": …,
                "clicks": …},
     "bots": {...}, "redis": {...}, "floor": {...},
     "ratio_to_redis": herald / redis, "ratio_to_floor": herald / floor}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from bench.ingest import free_port, spawn, stop, wait_listening  # noqa: E402
from herald.local.redis import start_redis  # noqa: E402
from sender.sms.links import LinkRecord, new_code, url_id  # noqa: E402
from sender.store.client import connect  # noqa: E402
from sender.store.keys import CampaignKeys  # noqa: E402
from sender.store.links import claim_links, register_targets  # noqa: E402
from sender.store.transitions import read_counters  # noqa: E402

TARGET = "https://shop.example/spring-sale?utm_source=sms"
BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
           " (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
PREVIEW = "WhatsApp/2.23.20.0 A"
REDIS_PEER = """
import sys
import redis.asyncio as aioredis
from aiohttp import web
redis = aioredis.Redis.from_url(sys.argv[2], decode_responses=True)
async def follow(request):
    value = await redis.get("herald:link:" + request.match_info["code"])
    if value is None:
        return web.Response(status=404)
    raise web.HTTPFound(sys.argv[3])
app = web.Application()
app.router.add_get("/{code}", follow)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""
FLOOR = """
import json, sys
from aiohttp import web
codes = set(json.load(open(sys.argv[2])))
async def follow(request):
    if request.match_info["code"] not in codes:
        return web.Response(status=404)
    raise web.HTTPFound(sys.argv[3])
app = web.Application()
app.router.add_get("/{code}", follow)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


async def get_all(base: str, codes: list[str], requests: int, concurrency: int,
                  agent: str, seed: int) -> dict[str, Any]:
    """GET `requests` random codes from `concurrency` workers; redirects/s, latencies."""
    chooser = random.Random(seed)
    paths = [f"{base}/{chooser.choice(codes)}" for _ in range(requests)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_path = iter(paths)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     headers={"User-Agent": agent}) as session:
        async def worker() -> None:
            for path in next_path:
                began = time.perf_counter()
                async with session.get(path, allow_redirects=False) as response:
                    await response.read()
                latencies.append(time.perf_counter() - began)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    latencies.sort()
    redirects = statuses.get(302, 0)
    return {"redirects": redirects, "statuses": {str(k): v for k, v in statuses.items()},
            "seconds": round(seconds, 3), "requests_per_s": round(redirects / seconds, 1),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
            "p99_ms": round(1000 * latencies[min(len(latencies) - 1,
                                                 int(len(latencies) * 0.99))], 2)}


async def bench(args: argparse.Namespace, url: str, workdir: Path) -> dict[str, Any]:
    redis = connect(url)
    keys = CampaignKeys("bench", "spring")
    try:
        await register_targets(redis, keys, {url_id(TARGET): TARGET})
        deadline = int(time.time()) + 86400
        codes: list[str] = []
        for start in range(0, args.links, 1000):
            batch = [(new_code(), LinkRecord(keys.ref, f"0/{i}-0", "", "carrier-a",
                                             url_id(TARGET), deadline))
                     for i in range(start, min(args.links, start + 1000))]
            written = await claim_links(redis, batch)
            codes += [code for (code, _), ok in zip(batch, written, strict=True) if ok]
        codes_file = workdir / "codes.json"
        codes_file.write_text(json.dumps(codes))
        env = os.environ | {"HERALD_REDIS_URL": url}
        herald = [sys.executable, "-m", "herald", "links", "--host", "127.0.0.1", "--port"]
        sides = (("herald", herald, BROWSER), ("bots", herald, PREVIEW),
                 ("redis", [sys.executable, "-c", REDIS_PEER], BROWSER),
                 ("floor", [sys.executable, "-c", FLOOR], BROWSER))
        report: dict[str, Any] = {"requests": args.requests, "concurrency": args.concurrency,
                                  "links": len(codes)}
        for index, (side, command, agent) in enumerate(sides):
            port = free_port()
            extra = [str(port)] + ([] if side in ("herald", "bots")
                                   else [url if side == "redis" else str(codes_file), TARGET])
            process = spawn(command + extra, env)
            try:
                await wait_listening(port, process, args.timeout)
                base = f"http://127.0.0.1:{port}"
                await get_all(base, codes, args.warmup, args.concurrency, agent, -1 - index)
                before = (await read_counters(redis, keys)).clicks
                report[side] = await get_all(base, codes, args.requests, args.concurrency,
                                             agent, index)
                if side in ("herald", "bots"):
                    report[side]["clicks"] = (await read_counters(redis, keys)).clicks - before
            finally:
                stop(process)
        for peer in ("redis", "floor"):
            report[f"ratio_to_{peer}"] = round(
                report["herald"]["requests_per_s"] / report[peer]["requests_per_s"], 3)
        return report
    finally:
        await redis.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--links", type=int, default=10000,
                        help="short links written before the run, followed at random")
    parser.add_argument("--warmup", type=int, default=500,
                        help="requests per side before the measured ones (not reported)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds for each server to start listening")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as workdir:
        server = start_redis(Path(workdir))
        try:
            print(json.dumps(asyncio.run(bench(args, server.url, Path(workdir)))),
                  flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
