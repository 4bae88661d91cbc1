"""Benchmark: one campaign of N recipients end to end through the operator on the local
stack, and the Redis it takes.

    python bench/campaign.py                      # 100,000 recipients
    python bench/campaign.py --recipients 20000
    python bench/campaign.py --no-frequency-cap   # the example Campaign without its cap
    python bench/campaign.py --importers 2        # spec.audience.importers: 2

Starts the local stack (herald.local.stack: the emulated Kubernetes API, a redis-server,
the SMPP simulator, Jobs and Deployments as local processes, the real operator) and an
HTTP server of the bench's own on loopback serving the audience: a CSV of
`--recipients` rows (phone, name, code), recipient i at +86 (13800000000 + i). It applies
the example Secret, Templates and Channel (pointed at the simulator), then the example
Campaign (examples/campaign.yaml: an A/B test of two Marketing templates, 2 senders, a
frequency cap) with its audience at that URL and without its send window. The Channel's
and the Campaign's rate limits are raised to RATE (100,000 msg/s: the API's most) so the
send figure is the engine's, not a limit's (`rate_limit_msg_per_s` in the JSON).

Times (unix seconds, on this machine's one clock):

    created        the Campaign is created (the stack and examples already up)
    fetched        the (first) importer's GET of the audience URL arrives
    imported       the run's import says done in Redis (polled every 0.1 s)
    first_submit   the simulator accepts the first submit_sm (its own timestamp)
    last_submit    the simulator accepts the last one
    settled        the campaign's counters in Redis hold an outcome (delivered, failed,
                   expired, unknown) for every recipient: the last receipt recorded
                   (polled every 0.1 s)
    completed      status.phase Completed is seen (polled every 0.1 s)

    import_seconds  fetched -> imported (import_rows_per_s: rows / that)
    send_seconds    first_submit -> settled: every message submitted and its receipt
                    recorded (send_msg_per_s: recipients / that)
    submit_seconds  first_submit -> last_submit
    wall_seconds    created -> the later of settled and completed: end to end

Redis (INFO memory): `used_memory` before the Campaign is created (after CONFIG
RESETSTAT, which restarts used_memory_peak there), sampled every 0.5 s until the end
(`sampled_peak`, which stage it was in, and the MEMORY USAGE of the channel's receipts
correlations then: a message's entry lives from its submit to its receipt),
`used_memory_peak` at the end, and
`used_memory` after (the run completed, its keys kept for the retention).
`bytes_per_recipient_after` = (after - before) / recipients; `..._peak` the same with
the peak. `keys_by_kind`: MEMORY USAGE (SAMPLES 0) of every key after the run, by the
kinds sender/store/keys.py lists (the campaign's shard streams, state hash, counters,
...; the channel's receipts correlations; the frequency cap ledgers), with bytes per
recipient; `keys_unaccounted` is used_memory's growth that no key's MEMORY USAGE holds
(the keyspace's own tables, allocator rounding, scripts, client buffers).

The stack's processes, Redis, the simulator and the operator all share the machine's
cores with the bench. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp.web  # noqa: E402
import yaml  # noqa: E402

from herald.local.kube.client import wait_for  # noqa: E402
from herald.local.stack import Stack, running_stack  # noqa: E402
from sender.simulator.config import SimulatorConfig  # noqa: E402
from sender.store.client import connect  # noqa: E402
from sender.store.keys import CampaignKeys, ChannelKeys  # noqa: E402

EXAMPLES = REPO / "examples"
NS = "default"
CHANNEL = "carrier-a"  # examples/channel.yaml
RATE = 100_000  # the API's highest messagesPerSecond, on the Channel and the Campaign
OUTCOMES = ("delivered", "failed", "expired", "unknown")
NOT_SENT = ("invalid", "suppressed", "optedOut", "holdout", "unroutable")
NAMES = ("王小明", "李华", "张伟", "刘芳", "陈静", "杨洋", "赵敏", "黄磊")
SAMPLE_SECONDS = 0.5
POLL_SECONDS = 0.1


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return body


def audience_csv(count: int) -> bytes:
    """phone,name,code: recipient i at +86 138 0000 0000 + i."""
    lines = ["phone,name,code"]
    lines.extend(f"+86{13_800_000_000 + i},{NAMES[i % len(NAMES)]},D11-{i:06X}"
                 for i in range(count))
    return ("\n".join(lines) + "\n").encode()


@contextlib.asynccontextmanager
async def serving_audience(body: bytes, times: dict[str, float]) -> AsyncIterator[str]:
    """The CSV at http://127.0.0.1:PORT/recipients.csv; `times` gets fetched (the GET
    arrives) and served (its last byte written)."""
    async def recipients(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        times.setdefault("fetched", time.time())
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/csv"})
        response.content_length = len(body)
        await response.prepare(request)
        for start in range(0, len(body), 1 << 16):
            await response.write(body[start:start + (1 << 16)])
        await response.write_eof()
        times.setdefault("served", time.time())
        return response

    app = aiohttp.web.Application()
    app.router.add_get("/recipients.csv", recipients)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/recipients.csv"
    finally:
        await runner.cleanup()


async def apply_examples(stack: Stack) -> None:
    """The example Secret and Templates, and the Channel at the simulator, at RATE."""
    channel = example("channel.yaml")
    channel["spec"]["smpp"] |= {"host": "127.0.0.1", "port": stack.simulator.port}
    channel["spec"]["rateLimit"] = {"messagesPerSecond": RATE, "burst": 1000}
    for doc in (example("secret.yaml"), channel, example("template.yaml"),
                example("template-reminder.yaml")):
        await stack.kube.create(doc)


def campaign_body(url: str, frequency_cap: bool, importers: int = 1) -> dict[str, Any]:
    body = example("campaign.yaml")
    del body["spec"]["schedule"]["sendWindow"]  # the bench runs at any hour
    if not frequency_cap:
        del body["spec"]["compliance"]["frequencyCap"]
    body["spec"]["audience"] = {"defaultRegion": "CN", "url": {"url": url},
                                "importers": importers}
    body["spec"]["rateLimit"] = {"messagesPerSecond": RATE}
    return body


# -- Redis ----------------------------------------------------------------------------------

_KINDS = (
    (re.compile(r"^herald:\{campaign:[^}]*\}:(shard|waiting|final)(:.*)?$"), "campaign:{}"),
    (re.compile(r"^herald:\{campaign:[^}]*\}:(.+)$"), "campaign:{}"),
    (re.compile(r"^herald:\{channel:[^}]*\}:(gcra:source)(:.*)?$"), "channel:{}"),
    (re.compile(r"^herald:\{channel:[^}]*\}:(.+)$"), "channel:{}"),
    (re.compile(r"^herald:\{cap:[^}]*\}:.*$"), "frequency_cap_ledgers"),
    (re.compile(r"^herald:\{sticky:[^}]*\}:.*$"), "sticky_sources"),
    (re.compile(r"^herald:link:.*$"), "short_links"),
    (re.compile(r"^herald:(labels|labelled):.*$"), "{}"),
    (re.compile(r"^herald:(optout(:\w+)?)$"), "{}"),
)


def key_kind(key: str) -> str:
    """The kind of a key as sender/store/keys.py lists them: `campaign:shard` for every
    lane's stream, `campaign:state`, `channel:receipts`, `frequency_cap_ledgers`, ..."""
    for pattern, name in _KINDS:
        if match := pattern.match(key):
            return name.format(*(g for g in match.groups()[:1] if g))
    return "other:" + ":".join(key.split(":")[:2])


async def used_memory(redis: Any) -> dict[str, int]:
    info = await redis.info("memory")
    return {"used_memory": int(info["used_memory"]),
            "used_memory_peak": int(info["used_memory_peak"])}


async def keys_by_kind(redis: Any) -> dict[str, dict[str, int]]:
    """MEMORY USAGE (SAMPLES 0) of every key, summed by kind."""
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: {"keys": 0, "bytes": 0})
    batch: list[str] = []

    async def measure() -> None:
        pipe = redis.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
        for key, size in zip(batch, await pipe.execute(), strict=True):
            kind = kinds[key_kind(key)]
            kind["keys"] += 1
            kind["bytes"] += int(size or 0)
        batch.clear()

    async for key in redis.scan_iter(count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await measure()
    if batch:
        await measure()
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]["bytes"]))


class MemorySampler:
    """INFO used_memory every SAMPLE_SECONDS; the highest seen, when, and what the
    channel's receipts correlations (the messages whose receipt is owed) held then."""

    def __init__(self, redis: Any, stage: dict[str, str], receipts: str) -> None:
        self.redis, self.stage, self.receipts = redis, stage, receipts
        self.peak, self.peak_at, self.peak_stage, self.samples = 0, 0.0, "", 0
        self.peak_receipts_bytes = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            used = (await used_memory(self.redis))["used_memory"]
            self.samples += 1
            if used > self.peak:
                self.peak, self.peak_at, self.peak_stage = used, time.time(), self.stage["now"]
                self.peak_receipts_bytes = int(
                    await self.redis.memory_usage(self.receipts, samples=0) or 0)
            await asyncio.sleep(SAMPLE_SECONDS)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# -- the run --------------------------------------------------------------------------------

async def counters(redis: Any, keys: CampaignKeys) -> dict[str, int]:
    raw = await redis.hgetall(keys.counters)
    return {k: int(v) for k, v in raw.items() if ":" not in k}


async def run(recipients: int, timeout: float, receipt_delay_ms: int, frequency_cap: bool,
              workdir: Path, importers: int = 1) -> dict[str, Any]:
    times: dict[str, float] = {}
    stage = {"now": "before"}
    body = audience_csv(recipients)
    simulator = SimulatorConfig(port=0, receipt_delay_ms=receipt_delay_ms, seed=7)
    started = time.time()
    async with (serving_audience(body, times) as url,
                running_stack(simulator=simulator, workdir=workdir) as stack):
        times["stack_up"] = time.time()
        await apply_examples(stack)
        campaign = campaign_body(url, frequency_cap, importers)
        name = campaign["metadata"]["name"]
        keys = CampaignKeys(NS, name)
        redis = connect(stack.redis_url)
        sampler = MemorySampler(redis, stage, ChannelKeys(NS, CHANNEL).receipts)
        try:
            await redis.config_resetstat()
            before = await used_memory(redis)
            sampler.start()
            deadline = time.monotonic() + timeout

            def left() -> float:
                return max(1.0, deadline - time.monotonic())

            times["created"] = time.time()
            stage["now"] = "import"
            await stack.kube.create(campaign)
            await wait_for(lambda: redis.hexists(keys.import_progress, "done"),
                           timeout=left(), interval=POLL_SECONDS,
                           message="the import never finished")
            times["imported"] = time.time()
            stage["now"] = "send"
            imported = await counters(redis, keys)
            total = imported.get("total", 0) - sum(imported.get(k, 0) for k in NOT_SENT)
            settled = await wait_for(
                lambda: counters(redis, keys), timeout=left(), interval=POLL_SECONDS,
                message="outcomes still owed",
                until=lambda c: sum(c.get(k, 0) for k in OUTCOMES) >= total)
            times["settled"] = time.time()
            done = await stack.wait_for_phase(NS, name, ("Completed", "Failed"),
                                              timeout=left())
            times["completed"] = time.time()
            stage["now"] = "after"
            await wait_for(lambda: stack.jobs.runs and all(
                not run.pods for run in stack.jobs.runs.values()), timeout=left(),
                interval=POLL_SECONDS, message="sender pods still running")
            await sampler.stop()
            after = await used_memory(redis)
            kinds = await keys_by_kind(redis)
        finally:
            if sampler._task is not None and not sampler._task.done():
                await sampler.stop()
            await redis.aclose()
        accepted = stack.simulator.accepted
        sim = stack.simulator.counters
        times["first_submit"] = accepted[0].timestamp if accepted else float("nan")
        times["last_submit"] = accepted[-1].timestamp if accepted else float("nan")
        submits, receipts = sim.accepted, sim.receipts_acked
        duplicates = sum(n - 1 for n in sim.per_destination.values() if n > 1)
        destinations = len(sim.per_destination)
    times["stopped"] = time.time()
    result = report(recipients, times, started, before, after, sampler, kinds, settled,
                    done, submits=submits, receipts=receipts, duplicates=duplicates,
                    destinations=destinations)
    return {"frequency_cap": frequency_cap, "importers": importers} | result


def report(recipients: int, times: dict[str, float], started: float, before: dict[str, int],
           after: dict[str, int], sampler: MemorySampler, kinds: dict[str, dict[str, int]],
           settled: dict[str, int], done: dict[str, Any], **simulator: int) -> dict[str, Any]:
    def between(a: str, b: str) -> float:
        return round(times[b] - times[a], 2)

    end = max(times["settled"], times["completed"])
    import_s, send_s = between("fetched", "imported"), between("first_submit", "settled")
    peak = max(after["used_memory_peak"], sampler.peak)
    keyed = sum(k["bytes"] for k in kinds.values())
    grown = after["used_memory"] - before["used_memory"]
    per = {kind: dict(v, bytes_per_recipient=round(v["bytes"] / recipients, 1))
           for kind, v in kinds.items()}
    return {
        "recipients": recipients,
        "rate_limit_msg_per_s": {"channel": RATE, "campaign": RATE,
                                 "note": "raised from the examples' 2,000 and 1,000 so the"
                                         " send figure is the engine's"},
        "senders": 2,
        "phase": done["status"].get("phase"),
        "counters": settled,
        "status_counters": done["status"].get("counters"),
        "simulator": simulator,
        "stack_start_seconds": round(times["stack_up"] - started, 2),
        "import_seconds": import_s,
        "import_rows_per_s": round(recipients / import_s) if import_s else None,
        "import_seconds_from_create": between("created", "imported"),
        "import_served_seconds": between("fetched", "served"),
        "send_seconds": send_s,
        "send_msg_per_s": round(recipients / send_s) if send_s else None,
        "submit_seconds": between("first_submit", "last_submit"),
        "first_submit_after_import_seconds": between("imported", "first_submit"),
        "completed_after_settled_seconds": round(times["completed"] - times["settled"], 2),
        "wall_seconds": round(end - times["created"], 2),
        "redis": {
            "used_memory_before": before["used_memory"],
            "used_memory_peak": peak,
            "used_memory_peak_info": after["used_memory_peak"],
            "sampled_peak": sampler.peak,
            "sampled_peak_stage": sampler.peak_stage,
            "sampled_peak_after_create_seconds": round(sampler.peak_at - times["created"], 2),
            "sampled_peak_receipts_bytes": sampler.peak_receipts_bytes,
            "samples": sampler.samples,
            "used_memory_after": after["used_memory"],
        },
        "bytes_per_recipient_after": round(grown / recipients, 1),
        "bytes_per_recipient_peak": round((peak - before["used_memory"]) / recipients, 1),
        "keys_by_kind": per,
        "keys_bytes_per_recipient": round(keyed / recipients, 1),
        "keys_unaccounted_bytes": grown - keyed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds from the Campaign's creation to its end")
    parser.add_argument("--receipt-delay-ms", type=int, default=20,
                        help="simulator: submit_sm_resp to receipt")
    parser.add_argument("--frequency-cap", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the example's compliance.frequencyCap (a ledger in Redis"
                             " per number); --no-frequency-cap: the campaign without it")
    parser.add_argument("--importers", type=int, default=1,
                        help="spec.audience.importers: importer pods of the list at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="herald-campaign-bench-") as directory:
        workdir = Path(directory)
        try:
            result = asyncio.run(run(args.recipients, args.timeout, args.receipt_delay_ms,
                                     args.frequency_cap, workdir, args.importers))
        except AssertionError as error:
            for log in sorted(workdir.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-5:]
                print(f"== {log.name}", *tail, sep="\n", file=sys.stderr)
            print(json.dumps({"recipients": args.recipients, "error": str(error)[:2000]}))
            return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
