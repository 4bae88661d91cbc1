"""Message state transitions in a real Redis: allowed moves, idempotence, counters, acks."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from sender.sms.states import State, Transition, failed, message_key, submitted
from sender.store.keys import SENDERS_GROUP, CampaignKeys
from sender.store.transitions import StateStore, read_counters

KEYS = CampaignKeys("shop", "spring-sale")


@pytest.fixture
async def store(redis: aioredis.Redis) -> StateStore:
    await redis.hset(KEYS.counters, "total", 10)
    return StateStore(redis, KEYS)


def t(n: int, state: str, variant: str = "a", channel: str = "ch1") -> Transition:
    return Transition(message_key(0, f"1-{n}"), state, variant, channel)


@pytest.mark.parametrize("path, final, applied", [
    pytest.param([State.SUBMITTING, submitted("ab12"), State.DELIVERED], "D", 3,
                 id="happy-path"),
    pytest.param([State.SUBMITTING, failed("0x0000000b")], "F:0x0000000b", 2,
                 id="permanent-error"),
    pytest.param([State.SUBMITTING, State.QUEUED, State.SUBMITTING, submitted("x")], "s:x", 4,
                 id="temporary-error-retried"),
    pytest.param([State.SUBMITTING, State.UNKNOWN, State.DELIVERED], "D", 3,
                 id="late-receipt-resolves-unknown"),
    pytest.param([State.SUBMITTING, submitted("ab"), State.DELIVERED, State.EXPIRED], "D", 3,
                 id="second-receipt-ignored"),
    pytest.param([State.SUBMITTING, submitted("ab"), State.SUBMITTING], "s:ab", 2,
                 id="no-resend-after-submitted"),
    pytest.param([State.OPTED_OUT, State.SUBMITTING], "O", 1, id="opted-out-never-sent"),
    pytest.param([failed("render"), State.SUBMITTING], "F:render", 1,
                 id="unbuildable-fails-unsent"),
    pytest.param([State.DELIVERED], None, 0, id="receipt-for-unsent-ignored"),
])
async def test_transition_paths(
    store: StateStore, path: list[str], final: str | None, applied: int
) -> None:
    total = 0
    for state in path:
        total += await store.apply([t(1, state)])
    assert total == applied
    assert await store.states([message_key(0, "1-1")]) == [final]


async def test_counters_follow_states_and_add_up(
    store: StateStore, redis: aioredis.Redis
) -> None:
    await store.apply([t(i, State.SUBMITTING) for i in range(6)])
    await store.apply([t(0, submitted("a")), t(1, submitted("b")), t(2, failed("0x58")),
                       t(3, State.UNKNOWN), t(4, submitted("c"))])
    await store.apply([t(0, State.DELIVERED), t(1, State.EXPIRED), t(6, State.OPTED_OUT),
                       t(7, State.CANCELLED)])
    counters = await read_counters(redis, KEYS)
    assert (counters.submitted, counters.delivered, counters.expired, counters.failed,
            counters.unknown, counters.opted_out, counters.cancelled) == (1, 1, 1, 1, 1, 1, 1)
    # 10 total: 7 settled above, 1 still submitting (5), 2 never touched (8, 9).
    assert counters.queued == 3
    fields = await redis.hgetall(KEYS.counters)
    assert fields["variant:a:delivered"] == "1"
    assert fields["channel:ch1:submitted"] == "1"
    assert fields["error:0x58"] == "1"


async def test_entries_are_acked_when_they_leave_the_sender(
    store: StateStore, redis: aioredis.Redis
) -> None:
    stream = KEYS.shard(0)
    ids = [await redis.xadd(stream, {"n": f"+1415555{i:04d}"}) for i in range(3)]
    await redis.xgroup_create(stream, SENDERS_GROUP, id="0")
    await redis.xreadgroup(SENDERS_GROUP, "pod-0", {stream: ">"}, count=10)
    keys = [message_key(0, str(i)) for i in ids]

    await store.apply([Transition(k, State.SUBMITTING) for k in keys], ack_shard=0)
    assert (await redis.xpending(stream, SENDERS_GROUP))["pending"] == 3
    await store.apply([Transition(keys[0], submitted("m1")), Transition(keys[1], State.QUEUED)],
                      ack_shard=0)
    pending = await redis.xpending_range(stream, SENDERS_GROUP, "-", "+", 10)
    assert [p["message_id"] for p in pending] == ids[1:]


def test_keys_share_the_campaign_hash_tag() -> None:
    tag = "{campaign:shop/spring-sale}"
    assert all(tag in key for key in (KEYS.state, KEYS.counters, KEYS.shard(3)))
