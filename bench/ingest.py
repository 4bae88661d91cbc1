"""Benchmark: the ingest API (`herald ingest`), events accepted per second and their
latency, each with an Idempotency-Key of its own, beside an HTTP floor in the same run.

    python bench/ingest.py                        # 5,000 events, 32 clients at once
    python bench/ingest.py --events 20000 --concurrency 64

Starts a redis-server (herald.local.redis) and `herald ingest` in its own process on a
free loopback port, opens a trigger Api campaign's run in Redis as the operator does
(sender.store.ingest_queue: 4 shards, a queue bound above --events), and posts --events
events from --concurrency clients on one keep-alive session: a new number, a variable
and a new key each. The peer is the floor of the same client and aiohttp: a server in
its own process answering 202 at once, without token, parsing or Redis. Prints one JSON
object:

    {"events": N, "concurrency": C,
     "herald": {"accepted": …, "events_per_s": …, "p50_ms": …, "p99_ms": …, "queued": …},
     "floor": {"accepted": …, "events_per_s": …, "p50_ms": …, "p99_ms": …},
     "ratio_events_per_s": herald / floor}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from herald.local.redis import start_redis  # noqa: E402
from sender.ingest_run import IngestRun, token_digest  # noqa: E402
from sender.store.client import connect  # noqa: E402
from sender.store.ingest_queue import open_trigger_run, write_ingest  # noqa: E402
from sender.store.keys import CampaignKeys  # noqa: E402
from sender.store.transitions import read_counters  # noqa: E402

TOKEN = "bench-ingest-token-0123456789abcdef"
FLOOR = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.json_response({"id": "0-0-0", "state": "queued"}, status=202)
app = web.Application()
app.router.add_post("/v1/namespaces/{ns}/campaigns/{name}/messages", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


async def post_all(base: str, events: int, concurrency: int, prefix: str
                   ) -> dict[str, Any]:
    """Post `events` events from `concurrency` workers; accepted/s and latencies."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    url = base + "/v1/namespaces/bench/campaigns/alerts/messages"
    next_index = iter(range(events))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            for i in next_index:
                body = {"phone": f"+86{13800000000 + i}", "variables": {"code": str(i)}}
                headers = {"Authorization": f"Bearer {TOKEN}",
                           "Idempotency-Key": f"{prefix}-{i}"}
                began = time.perf_counter()
                async with session.post(url, json=body, headers=headers) as response:
                    await response.read()
                latencies.append(time.perf_counter() - began)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    latencies.sort()
    accepted = statuses.get(202, 0)
    return {"accepted": accepted, "statuses": {str(k): v for k, v in statuses.items()},
            "seconds": round(seconds, 3), "events_per_s": round(accepted / seconds, 1),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
            "p99_ms": round(1000 * latencies[min(len(latencies) - 1,
                                                 int(len(latencies) * 0.99))], 2)}


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    redis = connect(url)
    keys = CampaignKeys("bench", "alerts")
    try:
        await redis.hset(keys.run, "config", "{}")
        await open_trigger_run(redis, keys, 4)
        await write_ingest(redis, keys, IngestRun(
            token_sha256=token_digest(TOKEN), shards=4, default_region="CN",
            required={"": ["code"]}, max_queued=args.events + 1,
            retention_seconds=86400, rate_per_second=1000))
        env = os.environ | {"HERALD_REDIS_URL": url}
        report: dict[str, Any] = {"events": args.events, "concurrency": args.concurrency}
        for side, command in (
                ("herald", [sys.executable, "-m", "herald", "ingest", "--host", "127.0.0.1"]),
                ("floor", [sys.executable, "-c", FLOOR])):
            port = free_port()
            process = spawn(command + (["--port", str(port)] if side == "herald"
                                       else [str(port)]), env)
            try:
                await wait_listening(port, process, args.timeout)
                report[side] = await post_all(f"http://127.0.0.1:{port}", args.events,
                                              args.concurrency, side)
            finally:
                stop(process)
        report["herald"]["queued"] = (await read_counters(redis, keys)).queued
        report["ratio_events_per_s"] = round(
            report["herald"]["events_per_s"] / report["floor"]["events_per_s"], 3)
        return report
    finally:
        await redis.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds for each server to start listening")
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
