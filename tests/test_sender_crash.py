"""A sender killed with SIGKILL mid-shard and restarted sends no number twice, loses none."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from herald.local.redis import RedisServer
from sender.send.shard_sender import mark_ahead
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.store.keys import CampaignKeys
from sender.store.run_store import write_run
from sender.store.transitions import read_counters
from tests.run_configs import fill_shard, run_config, start_send

CAMPAIGN = CampaignKeys("shop", "flash-sale")
MESSAGES = 20_000
WINDOW = 100


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    # A little latency keeps a full window on the wire at any moment.
    config = SimulatorConfig(port=0, latency_ms=2, receipt_delay_ms=5, window=0, seed=11)
    async with Simulator(config) as sim:
        yield sim


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.01)


async def test_sigkill_mid_shard_then_restart(
    tmp_path: Path, redis: aioredis.Redis, redis_server: RedisServer, simulator: Simulator
) -> None:
    stream = CAMPAIGN.shard(0)
    await fill_shard(redis, CAMPAIGN, MESSAGES, "+86139")
    await write_run(redis, run_config(CAMPAIGN.namespace, CAMPAIGN.name, port=simulator.port,
                                      window=WINDOW, receipt_wait_seconds=2))

    first = start_send(redis_server.url, CAMPAIGN)
    # Killed with submits on the wire (their responses held by the latency), so the
    # restart has in-flight messages to count unknown, whatever the machine's load.
    await until(lambda: len(simulator.accepted) >= MESSAGES // 3 and simulator.unanswered > 0,
                60, "a third sent")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    accepted_at_kill = len(simulator.accepted)
    assert accepted_at_kill < MESSAGES, "killed too late to test anything"

    second = start_send(redis_server.url, CAMPAIGN)
    out, err = await asyncio.to_thread(second.communicate, timeout=120)
    assert second.returncode == 0, err
    figures = json.loads(out.strip().splitlines()[-1])["lanes"]["carrier-a"]  # its one lane

    per_number = Counter(m.destination for m in simulator.accepted)
    assert max(per_number.values()) == 1, "a number was sent twice"
    counters = await read_counters(redis, CAMPAIGN)
    # Recovery counts what was marked submitting as unknown: at most the window and the
    # messages marked ahead of it (one bind: its window's worth). A receipt may still
    # prove one accepted and move it on (when the kill fell after its correlation was
    # written), never the other way.
    bound = WINDOW + mark_ahead(WINDOW)
    assert counters.unknown <= figures["unknown"] <= bound and figures["unknown"] > 0
    assert counters.queued == 0
    assert counters.submitted + counters.delivered + counters.unknown == MESSAGES
    assert figures["recovered"] > 0

    # Nothing lost: every number not counted unknown reached the SMSC exactly once.
    states: dict[str, str] = await redis.hgetall(CAMPAIGN.state)  # type: ignore[assignment]
    entries: list[Any] = await redis.xrange(stream)  # type: ignore[assignment]
    number_of = {f"0/{i}": f["n"].lstrip("+") for i, f in entries}
    unknown = {number_of[k] for k, v in states.items() if v.startswith("U")}
    assert len(unknown) == counters.unknown
    assert set(number_of.values()) - unknown <= set(per_number)
    assert len(set(per_number) | unknown) == MESSAGES
