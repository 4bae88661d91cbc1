"""Failover between the channels of a run, against a real redis-server and two SMPP
simulators: a message that spends its attempts on temporary errors moves to the next
channel (retry.failOver), a channel the operator marks unavailable has its queue moved
on without a submit to it, and what no other channel serves waits and goes once the
channel is back. Both simulators' records are the judge: no number twice, none lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from sender.run_config import RunConfig, TlsMaterial
from sender.send.process import send_lanes
from sender.simulator.config import Outcome, PrefixRule, SimulatorConfig
from sender.simulator.server import Simulator
from sender.smpp.codes import CommandStatus
from sender.sms.states import State, message_key
from sender.store.keys import SENDERS_GROUP, CampaignKeys
from sender.store.lane_moves import Move, move_messages
from sender.store.run_store import write_run
from sender.store.transitions import read_counters
from tests.run_configs import fill_shard, run_config

pytestmark = pytest.mark.timeout(60)
CAMPAIGN = CampaignKeys("shop", "fail-over")
MESSAGES = 30
CREDENTIALS = [("herald", TlsMaterial())] * 2  # the simulators' default account


@pytest.fixture
async def refusing() -> AsyncIterator[Simulator]:
    """Channel a's SMSC: every submit to +86 refused with a temporary error."""
    rules = [PrefixRule(prefix="86", outcome=Outcome.ERROR, status=CommandStatus.ESME_RSYSERR)]
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=5, window=0, rules=rules)
                         ) as smsc:
        yield smsc


@pytest.fixture
async def taking() -> AsyncIterator[Simulator]:
    """Channel b's SMSC: delivers everything."""
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=5, window=0, seed=4)
                         ) as smsc:
        yield smsc


@pytest.fixture
async def also_taking() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=5, window=0, seed=5)
                         ) as smsc:
        yield smsc


def two_channels(a: Simulator, b: Simulator, *, fail_over: bool = True,
                 b_routing: dict[str, Any] | None = None, unavailable: tuple[str, ...] = (),
                 ) -> RunConfig:
    run = run_config(CAMPAIGN.namespace, CAMPAIGN.name, port=a.port, receipt_wait_seconds=1)
    first = run.channels[0].model_copy(update={
        "name": "a", "fail_over": fail_over, "max_attempts": 2, "initial_backoff_seconds": 0})
    second = run.channels[0].model_copy(deep=True, update={"name": "b"})
    second.smpp.port = b.port
    if b_routing:
        second.routing = second.routing.model_copy(update=b_routing)
    return run.model_copy(update={"channels": [first, second],
                                  "unavailable": list(unavailable)})


async def queue_on_a(redis: aioredis.Redis, run: RunConfig) -> None:
    """Channel a's lane as the import leaves it (+86139..., MESSAGES of them), b's empty."""
    await write_run(redis, run)
    await fill_shard(redis, CAMPAIGN, MESSAGES, "+86139")
    await redis.xgroup_create(CAMPAIGN.shard(1), SENDERS_GROUP, id="0", mkstream=True)
    await redis.hset(CAMPAIGN.counters, mapping={"channel:a:total": MESSAGES,
                                                  "channel:a:country:CN": MESSAGES})


def destinations(smsc: Simulator) -> Counter[str]:
    return Counter(m.destination for m in smsc.accepted)


async def moved_keys(redis: aioredis.Redis) -> list[str]:
    entries: Any = await redis.xrange(CAMPAIGN.shard(0))
    states: list[Any] = await redis.hmget(CAMPAIGN.state,
                                          [message_key(0, entry_id) for entry_id, _ in entries])
    return [s for s in states if s and s.startswith(State.MOVED)]


@pytest.mark.parametrize("fail_over", [True, False], ids=["fail-over", "no-fail-over"])
async def test_a_message_that_spends_its_attempts_moves_to_the_next_channel(
        redis: aioredis.Redis, refusing: Simulator, taking: Simulator, fail_over: bool) -> None:
    run = two_channels(refusing, taking, fail_over=fail_over)
    await queue_on_a(redis, run)

    figures = await send_lanes(run, run.lanes.of_shard(0), redis, CREDENTIALS, asyncio.Event())

    counters = await read_counters(redis, CAMPAIGN)
    fields = {k: int(v) for k, v in (await redis.hgetall(CAMPAIGN.counters)).items()}
    assert refusing.counters.submit_errors == 2 * MESSAGES  # each tried twice on a
    if fail_over:
        assert set(destinations(taking).values()) == {1} and len(destinations(taking)) == MESSAGES
        assert (counters.delivered, counters.failed, counters.queued) == (MESSAGES, 0, 0)
        assert (fields["failedOver"], fields["channel:a:total"],
                fields["channel:b:total"]) == (MESSAGES, 0, MESSAGES)
        assert (fields["channel:a:country:CN"], fields["channel:b:country:CN"]) == (
            0, MESSAGES)  # status.plan's split by channel follows the moves
        assert len(await moved_keys(redis)) == MESSAGES
        assert figures["lanes"]["a"]["failed_over"] == MESSAGES
    else:  # the control: without failOver they fail on a, and b sends nothing
        assert not taking.accepted
        assert (counters.failed, counters.delivered) == (MESSAGES, 0)


async def test_an_unavailable_channel_moves_its_queue_and_keeps_what_only_it_serves(
        redis: aioredis.Redis, also_taking: Simulator, taking: Simulator) -> None:
    # b serves only the odd numbers; a is unavailable from the start (the operator said so).
    odd = [f"+86139{i:08d}" for i in range(MESSAGES) if i % 2]
    run = two_channels(also_taking, taking, b_routing={"prefixes": odd}, unavailable=("a",))
    await queue_on_a(redis, run)

    stop = asyncio.Event()
    sending = asyncio.create_task(
        send_lanes(run, run.lanes.of_shard(0), redis, CREDENTIALS, stop))
    async with asyncio.timeout(30):
        while len(taking.accepted) < len(odd):
            await asyncio.sleep(0.05)
    assert not also_taking.accepted  # nothing went to a while it was unavailable
    assert not sending.done()  # the even numbers wait for a
    assert (await read_counters(redis, CAMPAIGN)).queued == MESSAGES - len(odd)

    await write_run(redis, run.model_copy(update={"unavailable": []}))  # a is back
    figures = await asyncio.wait_for(sending, 30)

    assert sorted(destinations(taking)) == sorted(n.lstrip("+") for n in odd)
    assert sorted(destinations(also_taking)) == sorted(
        f"86139{i:08d}" for i in range(MESSAGES) if not i % 2)
    assert not figures["stopped"]
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.delivered, counters.queued) == (MESSAGES, 0)


async def test_a_waiting_message_let_go_by_its_window_moves_and_leaves_the_waiting_count(
        redis: aioredis.Redis) -> None:
    # Lane 0 (channel a) holds four messages as the sender left them: one waiting but let
    # go by its send window, one queued, one the SMSC took, one a stop settled.
    ids = [str(await redis.xadd(CAMPAIGN.shard(0), {"n": f"+8613900000{i:03d}", "v": "x"}))
           for i in range(4)]
    await redis.xgroup_create(CAMPAIGN.shard(0), SENDERS_GROUP, id="0")
    await redis.xreadgroup(SENDERS_GROUP, "sender", {CAMPAIGN.shard(0): ">"})
    await redis.hset(CAMPAIGN.state, mapping={
        message_key(0, ids[0]): State.WAITING, message_key(0, ids[2]): "s:abc",
        message_key(0, ids[3]): State.OPTED_OUT})
    await redis.hset(CAMPAIGN.counters, mapping={
        "waiting": 1, "variant:x:waiting": 1, "channel:a:waiting": 1, "channel:a:total": 4,
        "channel:a:country:CN": 4})

    moved = await move_messages(redis, CAMPAIGN, 0, "a",
                                [Move(entry_id, 1, "b", "x", "CN") for entry_id in ids])

    assert [key is not None for key in moved] == [True, True, False, False]
    assert await redis.xlen(CAMPAIGN.shard(1)) == 2
    fields = {k: int(v) for k, v in (await redis.hgetall(CAMPAIGN.counters)).items()}
    assert (fields["waiting"], fields["variant:x:waiting"], fields["channel:a:waiting"]) == (
        0, 0, 0)
    assert (fields["channel:a:total"], fields["channel:b:total"], fields["failedOver"]) == (
        2, 2, 2)
    assert (fields["channel:a:country:CN"], fields["channel:b:country:CN"]) == (2, 2)
    pending: Any = await redis.xpending(CAMPAIGN.shard(0), SENDERS_GROUP)
    assert pending["pending"] == 2  # the two settled ones stay for their sender to ack


async def test_a_move_that_redis_refuses_crashes_the_lane_instead_of_dropping_its_messages(
        redis: aioredis.Redis, refusing: Simulator, taking: Simulator) -> None:
    run = two_channels(refusing, taking)
    await queue_on_a(redis, run)
    await redis.delete(CAMPAIGN.shard(1))
    await redis.set(CAMPAIGN.shard(1), "not a stream")  # every XADD to lane b fails

    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await send_lanes(run, [0], redis, CREDENTIALS, asyncio.Event())

    # Nothing moved and nothing settled: every message is still lane a's, pending for
    # the recovery of the next start.
    pending: Any = await redis.xpending(CAMPAIGN.shard(0), SENDERS_GROUP)
    assert pending["pending"] == MESSAGES
    assert not await moved_keys(redis)
