"""Benchmark: transitions.lua in Redis alone, a message's three lines, against a base script.

    git show main:sender/store/transitions.lua > /tmp/base.lua
    python bench/transitions_lua.py --base /tmp/base.lua --rounds 6
    python bench/transitions_lua.py --base /tmp/base.lua --check 300

Starts a redis-server (herald.local.redis) and, for each round, the base script and this
tree's (sender/store/transitions.lua) in turn, alternating which goes first: 20,000
shard entries read into the senders' group, then each message's three lines as the
sender writes them, packed by `StateStore` (the `submitting` mark, `submitted` with one
segment and the ack, the delivered receipt), in calls of `--batch` lines of one kind.
Redis's EVALSHA µs a line of each kind comes from INFO commandstats (the commands a
script runs are inside its time). Prints one JSON object: each script's medians and
ranges, and whether both left the same states, counters, parts, pending entries and
replies.

`--check N` instead runs N random sequences of calls (every state, long messages' part
receipts, variants, channels, countries, segments, calls with and without an ack stream)
through both scripts and reports the seeds whose results differ: for a change meant to
make the script cheaper and nothing else.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from herald.local.redis import start_redis
from sender.sms.states import (
    State,
    Transition,
    capped,
    failed,
    message_key,
    receipt_transition,
    submitted,
)
from sender.store.keys import SENDERS_GROUP, CampaignKeys
from sender.store.transitions import TRANSITIONS_LUA, StateStore

NOW = 1_765_000_000
KINDS = ("mark", "submitted", "delivered")


def lines(keys: list[str], channel: str = "bench-0") -> Iterator[tuple[str, list[Transition]]]:
    """Each message's three lines, a kind at a time, as the sender builds them."""
    yield "mark", [Transition(k, State.SUBMITTING, "", channel) for k in keys]
    yield "submitted", [Transition(k, submitted(f"{i:010x}"), "", channel, segments=1)
                        for i, k in enumerate(keys)]
    yield "delivered", [receipt_transition(k, State.DELIVERED, "", "", channel) for k in keys]


def pending_entries(r: redis.Redis, keys: CampaignKeys, messages: int) -> list[str]:
    """A fresh campaign: `messages` entries in shard 0, read into the senders' group."""
    r.flushall()
    r.hset(keys.counters, "total", messages)
    stream = keys.shard(0)
    r.xgroup_create(stream, SENDERS_GROUP, id="0", mkstream=True)
    pipe = r.pipeline(transaction=False)
    for i in range(messages):  # fixed ids: two runs' states compare field by field
        pipe.xadd(stream, {"n": f"+4479{i:08d}", "v": ""}, id=f"{NOW}{i // 1000:03d}-{i % 1000}")
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    read: Any = r.xreadgroup(SENDERS_GROUP, "bench", {stream: ">"}, count=messages)
    return [message_key(0, entry_id) for entry_id, _ in read[0][1]]


def outcome(r: redis.Redis, keys: CampaignKeys) -> list[Any]:
    """What a run leaves: states, counters, parts, the entries still pending."""
    pending: Any = r.xpending_range(keys.shard(0), SENDERS_GROUP, "-", "+", 100_000)
    return [sorted(r.hgetall(name).items())
            for name in (keys.state, keys.counters, keys.parts)] + [
        [p["message_id"] for p in pending]]


def evalsha(r: redis.Redis, sha: str, store: StateStore, ts: list[Transition],
            ack_shard: int | None) -> Any:
    keys, args = store._call(ts, ack_shard)  # the sender's packing, by the sender's code
    return r.evalsha(sha, len(keys), *keys, *args)


def run(r: redis.Redis, sha: str, messages: int, batch: int) -> tuple[dict[str, float], list[Any]]:
    store = StateStore(r, CampaignKeys("bench", "run"), clock=lambda: NOW)  # type: ignore[arg-type]
    keys = pending_entries(r, store.keys, messages)
    usec, replies = {}, []
    for kind, ts in lines(keys):
        r.config_resetstat()
        for i in range(0, len(ts), batch):
            replies.append(evalsha(r, sha, store, ts[i:i + batch], 0))
        stats: Any = r.info("commandstats")
        usec[kind] = stats["cmdstat_evalsha"]["usec"] / len(ts)
    return usec, [outcome(r, store.keys), replies]


def bench(r: redis.Redis, scripts: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    shas = {name: r.script_load(text) for name, text in scripts.items()}
    usecs: dict[str, list[dict[str, float]]] = {name: [] for name in scripts}
    results = {}
    for round_ in range(args.rounds):
        for name in (["base", "tree"] if round_ % 2 == 0 else ["tree", "base"]):
            r.script_load(scripts[name])  # flushall took it
            usec, results[name] = run(r, shas[name], args.messages, args.batch)
            usecs[name].append(usec)
    report: dict[str, Any] = {"messages": args.messages, "batch": args.batch,
                              "rounds": args.rounds}
    for name, runs in usecs.items():
        report[name] = {kind: {"median": round(statistics.median(u[kind] for u in runs), 3),
                               "range": [round(min(u[kind] for u in runs), 3),
                                         round(max(u[kind] for u in runs), 3)]}
                        for kind in KINDS}
        report[name]["message"] = round(sum(report[name][k]["median"] for k in KINDS), 3)
    report["same_results"] = results["base"] == results["tree"]
    return report


class Clock:
    def __init__(self) -> None:
        self.now = NOW + 0.5

    def __call__(self) -> float:
        return self.now


def random_line(rng: random.Random, keys: list[str], channel: str) -> Transition:
    key = rng.choice(keys)
    state = rng.choice([
        State.SUBMITTING, State.SUBMITTING, submitted(f"id{rng.randrange(99)}"),
        submitted("a", "b"), State.DELIVERED, State.EXPIRED, failed("0x0b"), failed("receipt"),
        failed("render"), State.UNKNOWN, State.QUEUED, State.WAITING, State.OPTED_OUT,
        capped("2/168h Namespace"), State.CANCELLED, f"M:{key}x"])
    part, parts, segments = 0, 1, rng.choice([0, 0, 1, 2, 3])
    if rng.random() < 0.2:  # a receipt for one part of a long message
        parts = rng.choice([2, 3])
        part, segments = rng.randint(1, parts), 0
        state = rng.choice([State.DELIVERED, State.EXPIRED, failed("0x45"), failed("receipt")])
    return Transition(key, state, rng.choice(["", "", "a", "b"]),
                      rng.choice([channel, channel, "other", ""]), segments, part, parts,
                      rng.choice(["", "", "CN", "HK"]))


def check(r: redis.Redis, scripts: dict[str, str], seeds: int) -> dict[str, Any]:
    differ = []
    for seed in range(seeds):
        results = {}
        for name, text in scripts.items():
            r.flushall()
            sha = r.script_load(text)
            clock = Clock()
            store = StateStore(r, CampaignKeys("check", "run"), clock)  # type: ignore[arg-type]
            rng = random.Random(seed)
            messages = rng.choice([3, 10, 40])
            stream = store.keys.shard(0)
            r.xgroup_create(stream, SENDERS_GROUP, id="0", mkstream=True)
            for i in range(messages):
                r.xadd(stream, {"n": str(i)}, id=f"1-{i + 1}")
            r.xreadgroup(SENDERS_GROUP, "check", {stream: ">"}, count=messages)
            r.hset(store.keys.counters, "total", messages)
            keys = [message_key(0, f"1-{i + 1}") for i in range(messages)]
            keys.append(message_key(1, "1-1"))  # another shard's entry: never acked here
            replies = []
            for _ in range(rng.randint(1, 30)):
                channel = rng.choice(["ch1", "", "ch1"])
                size = rng.choice([1, 2, 5, 20, 100])
                ts = [random_line(rng, keys, channel) for _ in range(size)]
                clock.now += rng.choice([0, 1, 7])
                replies.append(evalsha(r, sha, store, ts, rng.choice([0, 0, None])))
            results[name] = [outcome(r, store.keys), replies]
        if results["base"] != results["tree"]:
            differ.append(seed)
    return {"seeds": seeds, "differ": differ}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the script to compare with")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="lines a call")
    parser.add_argument("--check", type=int, default=0, metavar="N",
                        help="compare results on N random sequences instead of timing")
    args = parser.parse_args()
    scripts = {"base": args.base.read_text("utf-8"), "tree": TRANSITIONS_LUA}
    server = start_redis()
    try:
        r = redis.Redis.from_url(server.url, decode_responses=True)
        report = check(r, scripts, args.check) if args.check else bench(r, scripts, args)
    finally:
        server.stop()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
