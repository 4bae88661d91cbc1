"""Long messages end to end: every part's receipt counts, in the sender and in the channel
receiver alike; a real redis-server and the SMPP simulator over TCP, its rules giving
single parts of a message their own outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from crds.channel import SourceAddress
from crds.template import TemplateSpec
from herald.local.kube.client import wait_for
from herald.local.redis_topologies import RedisCluster
from sender.receive.receiver import ChannelReceiver
from sender.send.messages import MessageBuilder
from sender.simulator.config import Outcome, SimulatorConfig
from sender.simulator.outcomes import OutcomePolicy
from sender.simulator.server import Simulator
from sender.sms.receipts import canonical_id
from sender.sms.states import STAMP, State, failed, parse_state
from sender.store.client import connect
from sender.store.correlations import Correlation
from sender.store.transitions import read_counters
from tests.test_channel_receiver import receiver_bind, running
from tests.test_shard_sender import CAMPAIGN, CHANNEL, enqueue, number, send

THREE_PARTS = TemplateSpec.model_validate(
    {"category": "Notification", "body": "您好{name}，" + "这是一条很长的通知消息。" * 14,
     "variables": [{"name": "name"}]})
# Numbers 0-9: part 2 undeliverable. 10-19: part 3 expired. 20-29: all delivered.
# 30-39: part 2 refused at submit with a temporary error, every attempt (3).
PART_RULES = [
    {"prefix": "861380000000", "part": 2, "outcome": "undeliverable"},
    {"prefix": "861380000001", "part": 3, "outcome": "expired"},
    {"prefix": "861380000003", "part": 2, "outcome": "error", "status": "ESME_RSYSERR"},
]
MESSAGES = 40


def test_the_template_goes_in_three_parts() -> None:
    builder = MessageBuilder({"": THREE_PARTS}, SourceAddress(address="Herald"))
    assert len(builder.build(number(0), {"name": "n0"})) == 3


def test_a_rule_gives_one_part_its_own_outcome() -> None:
    policy = OutcomePolicy(SimulatorConfig(rules=[
        {"prefix": "8613800000001", "part": 2, "outcome": "undeliverable"},
        {"prefix": "86138", "outcome": "expired"}]))
    outcomes = [policy.decide("8613800000001", part).outcome for part in (0, 1, 2, 3)]
    assert outcomes == [Outcome.EXPIRED, Outcome.EXPIRED, Outcome.UNDELIVERABLE,
                        Outcome.EXPIRED]  # short message, part 1, part 2, part 3
    assert policy.decide("8613800000002", 2).outcome == Outcome.EXPIRED  # other number


@pytest.fixture
async def on_cluster(redis_cluster: RedisCluster) -> AsyncIterator[aioredis.Redis]:
    """A client of a three-master Redis Cluster, emptied: a campaign's keys, a channel's
    and the frequency caps' ledgers sit in different slots there (shared with
    tests/test_frequency_caps.py)."""
    client = connect(redis_cluster.url)
    await client.flushall(target_nodes=ClusterClient.PRIMARIES)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["redis", "on_cluster"], ids=["one-redis", "cluster"])
def store(request: pytest.FixtureRequest) -> aioredis.Redis:
    client: aioredis.Redis = request.getfixturevalue(request.param)
    return client


async def assert_parts_decided(redis: aioredis.Redis) -> None:
    """Any part failed: failed; else any expired: expired; else delivered."""
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.delivered, counters.failed, counters.expired) == (10, 20, 10)
    assert (counters.submitted, counters.unknown, counters.queued) == (0, 0, 0)
    # Sent: the 30 the SMSC took whole. Segments: their 90 parts, and the two parts of
    # each of 30-39 accepted on each of its three attempts before part 2 was refused.
    assert (counters.sent, counters.segments_submitted) == (30, 90 + 10 * 3 * 2)
    states = {k: v.partition(STAMP)[0]  # its code and detail, not when
              for k, v in cast(dict[str, str], await redis.hgetall(CAMPAIGN.state)).items()}
    by_number = await message_keys(redis)
    assert {states[by_number[i]] for i in range(10)} == {failed("001")}
    assert {states[by_number[i]] for i in range(10, 20)} == {State.EXPIRED.value}
    assert {states[by_number[i]] for i in range(20, 30)} == {State.DELIVERED.value}
    assert {states[by_number[i]] for i in range(30, 40)} == {failed("0x00000008")}
    # Failures by the numbers' country (+86: CN).
    fields = cast(dict[str, str], await redis.hgetall(CAMPAIGN.counters))
    assert {k: int(v) for k, v in fields.items() if k.startswith("country:")} == {
        "country:CN:error:001": 10, "country:CN:error:0x00000008": 10}
    assert fields["error:001"] == "10" and fields["error:0x00000008"] == "10"
    assert await redis.hlen(CAMPAIGN.parts) == 0  # every record went with its decision


async def message_keys(redis: aioredis.Redis) -> dict[int, str]:
    """number(i)'s index i -> the message key of its shard entry."""
    entries: list[tuple[str, dict[str, str]]] = await redis.xrange(  # type: ignore[assignment]
        CAMPAIGN.shard(0))
    return {int(fields["n"][-8:]): f"0/{entry_id}" for entry_id, fields in entries}


async def test_each_part_counts_on_the_senders_own_binds(store: aioredis.Redis) -> None:
    redis = store
    config = SimulatorConfig(port=0, receipt_delay_ms=5, window=0, seed=3, rules=PART_RULES)
    async with Simulator(config) as sim:
        await enqueue(redis, MESSAGES)
        stats = await send(redis, sim, template=THREE_PARTS, initial_backoff=0.01)
    assert stats.submitted == 30
    await assert_parts_decided(redis)
    assert await redis.hlen(CHANNEL.receipts) == 0  # every part's correlation was used


@pytest.fixture
async def slow_receipts() -> AsyncIterator[Simulator]:
    """Receipts 1.5 s after each submit: after the sender below has exited."""
    config = SimulatorConfig(port=0, receipt_delay_ms=1500, window=0, seed=3,
                             rules=PART_RULES)
    async with Simulator(config) as sim:
        yield sim


async def test_each_part_counts_through_the_channel_receiver(
    store: aioredis.Redis, slow_receipts: Simulator
) -> None:
    redis = store
    await enqueue(redis, MESSAGES)
    await send(redis, slow_receipts, template=THREE_PARTS, initial_backoff=0.01,
               receipts_within=0.0)

    # Submitted, receipts not in: the state keeps every part's id, in part order, and
    # the channel a correlation per part that says which part it is.
    keys = await message_keys(redis)
    destination = number(25).lstrip("+")
    parts = sorted((m for m in slow_receipts.accepted if m.destination == destination),
                   key=lambda m: m.concat.seqnum if m.concat else 0)
    ids = [canonical_id(m.message_id) for m in parts]
    value = cast(str, await redis.hget(CAMPAIGN.state, keys[25]))
    assert parse_state(value).detail == " ".join(ids)
    found = [Correlation.parse(i, str(await redis.hget(CHANNEL.receipts, i))) for i in ids]
    assert [(c.key, c.part, c.parts) for c in found] == [(keys[25], p, 3) for p in (1, 2, 3)]
    assert await redis.hlen(CHANNEL.receipts) == 30 * 3

    receiver = ChannelReceiver(redis, CHANNEL, receiver_bind(slow_receipts))
    async with running(receiver):
        await wait_for(lambda: read_counters(redis, CAMPAIGN), timeout=20,
                       until=lambda c: c.submitted == 0, message="receipts never all applied")
        # The correlations of parts after a failed one go too, as duplicates.
        await wait_for(lambda: redis.hlen(CHANNEL.receipts), timeout=20,
                       until=lambda n: n == 0, message="correlations left behind")
    await assert_parts_decided(redis)
    assert receiver.stats.unmatched == 0
