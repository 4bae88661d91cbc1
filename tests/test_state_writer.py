"""The state writer's flush in a real Redis: the channel's writes and the transitions of
one flush in one round trip on one server, in two on a cluster, the same outcome."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from sender.sms.states import State, Transition, message_key, submitted
from sender.store.correlations import correlation_value
from sender.store.keys import CampaignKeys, ChannelKeys
from sender.store.state_writer import StateWriter
from sender.store.transitions import StateStore, read_counters
from tests.test_long_messages import on_cluster, store

__all__ = ["on_cluster", "store"]  # fixtures: one Redis or a Cluster

CAMPAIGN = CampaignKeys("shop", "sale")
CHANNEL = ChannelKeys("shop", "carrier-a")


def writer_for(redis: aioredis.Redis) -> StateWriter:
    return StateWriter(redis, StateStore(redis, CAMPAIGN), 0, CHANNEL)


async def sent(writer: StateWriter, count: int, start: int = 0) -> list[str]:
    """Mark `count` messages submitting, then submitted with an SMSC id each, as a sender
    does (two flushes); the message keys."""
    keys = [message_key(0, f"{start + i}-0") for i in range(count)]
    for key in keys:
        writer.transition(Transition(key, State.SUBMITTING, "", "carrier-a"))
    await writer.flush()
    for i, key in enumerate(keys, start):
        writer.remember_receipt(f"id{i}", correlation_value(CAMPAIGN.ref, key, "", "carrier-a"))
        writer.transition(Transition(key, submitted(f"id{i}"), "", "carrier-a"))
    await writer.flush()
    return keys


async def test_a_flush_writes_correlations_and_transitions(store: aioredis.Redis) -> None:
    writer = writer_for(store)
    freed: list[int] = []
    keys = await sent(writer, 3)
    writer.transition(Transition(keys[0], State.DELIVERED, "", "carrier-a"),
                      after=lambda: freed.append(1))
    writer.forget_receipt("id0")
    await writer.flush()

    assert freed == [1]  # after it was durable
    counters = await read_counters(store, CAMPAIGN)
    assert (counters.submitted, counters.delivered, counters.sent) == (2, 1, 3)
    receipts = cast(dict[str, str], await store.hgetall(CHANNEL.receipts))
    assert sorted(receipts) == ["id1", "id2"]
    assert receipts["id1"] == correlation_value(CAMPAIGN.ref, keys[1], "", "carrier-a")


async def test_a_flush_after_redis_lost_its_scripts(redis: aioredis.Redis) -> None:
    """A restarted Redis has no scripts: the flush that finds none loads it and applies
    its transitions; its correlations were written already, once."""
    writer = writer_for(redis)
    await sent(writer, 2)
    await redis.script_flush()
    await sent(writer, 2, start=2)

    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.submitted, counters.sent) == (4, 4)
    assert await redis.hlen(CHANNEL.receipts) == 4
    assert await redis.hget(CHANNEL.activity, "submitted") == "4"
