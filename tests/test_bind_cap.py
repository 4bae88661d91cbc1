"""The carrier's cap on binds (Channel spec.maxBinds) holds across sender processes: a
simulator account that refuses a bind over its cap sees no refusal, and every message
goes out once. Without the shared cap, two senders of two binds each ask for four."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from crds.channel import SourceAddress
from sender.send.messages import MessageBuilder
from sender.send.outgoing import ShardSettings
from sender.send.shard_sender import ShardSender
from sender.simulator.config import SimulatorConfig, with_account
from sender.simulator.server import Simulator
from sender.smpp.bind import BindSettings
from sender.store.channel_activity import BindSlot, read_activity
from sender.store.keys import SENDERS_GROUP
from sender.store.rate_limit import RateLimiter, channel_bucket
from sender.store.transitions import read_counters
from tests.test_shard_sender import CAMPAIGN, CHANNEL, TEMPLATE

CAP = 2


@pytest.fixture
async def capped() -> AsyncIterator[Simulator]:
    config = with_account(SimulatorConfig(port=0, receipt_delay_ms=5, window=0, seed=3),
                          "herald", "herald", max_binds=CAP)
    async with Simulator(config) as sim:
        yield sim


async def fill_shards(redis: aioredis.Redis, shards: int, per_shard: int) -> None:
    pipe = redis.pipeline(transaction=False)
    for shard in range(shards):
        stream = CAMPAIGN.shard(shard)
        pipe.xgroup_create(stream, SENDERS_GROUP, id="0", mkstream=True)
        for i in range(per_shard):
            pipe.xadd(stream, {"n": f"+8613{shard}{i:08d}", "v": "",
                               "x": '{"name":"n","code":"c"}'})
    pipe.hset(CAMPAIGN.counters, "total", shards * per_shard)
    await pipe.execute()


async def send_shard(redis: aioredis.Redis, sim: Simulator, shard: int, max_binds: int) -> None:
    builder = MessageBuilder({"": TEMPLATE}, SourceAddress(address="Herald", ton="Alphanumeric"))
    bind = BindSettings(host="127.0.0.1", port=sim.port, system_id="herald", password="herald",
                        window=20, response_timeout=5.0)
    settings = ShardSettings(CAMPAIGN, shard, CHANNEL, "carrier-a", max_binds=max_binds)
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 2000))
    async with ShardSender(redis, settings, builder, [bind, bind], limiter) as sender:
        await asyncio.wait_for(sender.run(), 60)


async def test_two_senders_stay_within_the_channel_bind_cap(
    redis: aioredis.Redis, capped: Simulator
) -> None:
    await fill_shards(redis, shards=2, per_shard=300)
    await asyncio.gather(send_shard(redis, capped, 0, CAP), send_shard(redis, capped, 1, CAP))
    assert capped.counters.bind_failures == 0
    assert (await read_counters(redis, CAMPAIGN)).delivered == 600
    assert len({m.destination for m in capped.accepted}) == 600 == len(capped.accepted)
    assert (await read_activity(redis, CHANNEL, time.time())).bound == 0  # all given back


async def test_without_the_cap_the_account_refuses_binds(
    redis: aioredis.Redis, capped: Simulator
) -> None:
    """The control: the same senders with no shared cap over-bind the account."""
    await fill_shards(redis, shards=2, per_shard=50)
    await asyncio.gather(send_shard(redis, capped, 0, 0), send_shard(redis, capped, 1, 0))
    assert capped.counters.bind_failures > 0


@pytest.mark.parametrize("held, cap, name, granted", [
    pytest.param(["a"], 2, "b", True, id="room"),
    pytest.param(["a", "b"], 2, "c", False, id="full"),
    pytest.param(["a", "b"], 2, "a", True, id="own-slot-again"),
])
async def test_bind_slots(redis: aioredis.Redis, held: list[str], cap: int, name: str,
                          granted: bool) -> None:
    for other in held:
        assert await BindSlot(redis, CHANNEL, other, cap).try_acquire()
    assert await BindSlot(redis, CHANNEL, name, cap).try_acquire() is granted


async def test_a_killed_pods_slots_age_out(redis: aioredis.Redis) -> None:
    await redis.zadd(CHANNEL.binds, {"sender/gone/1/0": time.time() - 31,
                                     "sender/gone/1/1": time.time() - 31})
    assert await BindSlot(redis, CHANNEL, "sender/new/2/0", 2).try_acquire()
    assert await redis.zcard(CHANNEL.binds) == 1
