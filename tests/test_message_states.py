"""Message state transitions in a real Redis: allowed moves, idempotence, counters, acks."""

from __future__ import annotations

from typing import cast

import pytest
import redis.asyncio as aioredis

from sender.sms.states import (
    State,
    StateValue,
    Transition,
    failed,
    message_key,
    message_outcome,
    parse_state,
    receipt_state,
    receipt_transition,
    submitted,
)
from sender.store.keys import SENDERS_GROUP, CampaignKeys
from sender.store.transitions import StateStore, read_counters

KEYS = CampaignKeys("shop", "spring-sale")


NOW = 1_764_750_000
"""The stores' clock (stamps are whole unix seconds); `Clock` below moves it."""


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(redis: aioredis.Redis) -> StateStore:
    await redis.hset(KEYS.counters, "total", 10)
    return StateStore(redis, KEYS, clock=lambda: NOW)


def t(n: int, state: str, variant: str = "a", channel: str = "ch1") -> Transition:
    return Transition(message_key(0, f"1-{n}"), state, variant, channel)


@pytest.mark.parametrize("path, final, applied", [
    pytest.param([State.SUBMITTING, submitted("ab12"), State.DELIVERED], f"D~,{NOW},{NOW}", 3,
                 id="happy-path"),
    pytest.param([State.SUBMITTING, failed("0x0000000b")], f"F:0x0000000b~,,{NOW}", 2,
                 id="permanent-error"),
    pytest.param([State.SUBMITTING, State.QUEUED, State.SUBMITTING, submitted("x")],
                 f"s:x~,{NOW},", 4, id="temporary-error-retried"),
    pytest.param([State.SUBMITTING, State.UNKNOWN, State.DELIVERED], f"D~,,{NOW}", 3,
                 id="late-receipt-resolves-unknown"),
    pytest.param([State.SUBMITTING, submitted("ab"), State.DELIVERED, State.EXPIRED],
                 f"D~,{NOW},{NOW}", 3, id="second-receipt-ignored"),
    pytest.param([State.SUBMITTING, submitted("ab"), State.SUBMITTING], f"s:ab~,{NOW},", 2,
                 id="no-resend-after-submitted"),
    pytest.param([State.OPTED_OUT, State.SUBMITTING], f"O~,,{NOW}", 1,
                 id="opted-out-never-sent"),
    pytest.param([failed("render"), State.SUBMITTING], f"F:render~,,{NOW}", 1,
                 id="unbuildable-fails-unsent"),
    pytest.param([State.WAITING, State.QUEUED], "Q", 2, id="not-final-not-stamped"),
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


@pytest.mark.parametrize("steps, stamp", [
    pytest.param([(State.SUBMITTING, 0, 0), (submitted("a", "b"), 2, 5), (State.DELIVERED, 0, 9)],
                 StateValue("D", "", 2, NOW + 5, NOW + 9), id="accepted-then-delivered"),
    pytest.param([(State.SUBMITTING, 0, 0), (submitted("a"), 1, 1),
                  (failed("001"), 0, 60)],
                 StateValue("F", "001", 1, NOW + 1, NOW + 60), id="failed-by-receipt"),
    pytest.param([(State.SUBMITTING, 0, 0), (failed("0x0000000b"), 0, 2)],
                 StateValue("F", "0x0000000b", None, None, NOW + 2), id="refused-at-submit"),
    pytest.param([(State.SUBMITTING, 0, 0), (State.QUEUED, 0, 3), (State.SUBMITTING, 0, 4),
                  (submitted("z"), 1, 7)],
                 StateValue("s", "z", 1, NOW + 7, None), id="retried-takes-its-last-time"),
    pytest.param([(State.SUBMITTING, 0, 0), (State.UNKNOWN, 0, 1), (State.EXPIRED, 0, 90)],
                 StateValue("E", "", None, None, NOW + 90), id="unknown-has-no-submit-time"),
])
async def test_the_stamp_says_segments_and_when(
    redis: aioredis.Redis, steps: list[tuple[str, int, int]], stamp: StateValue
) -> None:
    """What an export's segments, submitted and done columns read: the segments and the
    time the SMSC took it, carried on to its final state with the time it got there."""
    clock = Clock()
    store = StateStore(redis, KEYS, clock=clock)
    key = message_key(0, "1-1")
    for state, segments, at in steps:
        clock.now = NOW + at + 0.9  # whole seconds are kept
        await store.apply([Transition(key, state, "a", "ch1", segments=segments)])
    assert parse_state((await store.states([key]))[0]) == stamp


@pytest.mark.parametrize("before, line, state, fields", [
    pytest.param([], Transition(message_key(0, "1-1"), State.SUBMITTING, "a", "ch1"), "S", {},
                 id="queued-to-submitting-counts-nothing"),
    pytest.param([State.SUBMITTING], t(1, State.QUEUED), "Q", {},
                 id="back-to-queued-counts-nothing"),
    pytest.param([State.SUBMITTING],
                 Transition(message_key(0, "1-1"), State.QUEUED, "a", "ch1", segments=2), "Q",
                 {"segmentsSubmitted": "2", "variant:a:segmentsSubmitted": "2",
                  "channel:ch1:segmentsSubmitted": "2"}, id="back-to-queued-with-parts-taken"),
    pytest.param([State.WAITING], t(1, State.SUBMITTING), "S", {},
                 id="waiting-to-submitting-leaves-waiting"),
    pytest.param([State.SUBMITTING, State.UNKNOWN], t(1, State.SUBMITTING), "S", {},
                 id="unknown-to-submitting-leaves-unknown"),
    pytest.param([State.WAITING], t(1, State.WAITING), "W",
                 {"waiting": "1", "variant:a:waiting": "1", "channel:ch1:waiting": "1"},
                 id="waiting-again-counted-once"),
])
async def test_moves_count_what_they_touch_and_no_more(
    store: StateStore, redis: aioredis.Redis, before: list[str], line: Transition,
    state: str, fields: dict[str, str]
) -> None:
    """Moves between queued and submitting (a mark, a retry) touch no counter, unless the
    line carries parts the SMSC took; those into or out of a counted state do (the script
    takes the first ones by a shorter path)."""
    for earlier in before:
        await store.apply([t(1, earlier)])
    assert await store.apply([line]) == 1
    assert await store.states([message_key(0, "1-1")]) == [state]
    counters = cast(dict[str, str], await redis.hgetall(KEYS.counters))
    assert {k: v for k, v in counters.items() if k != "total" and v != "0"} == fields


async def test_failures_are_counted_by_country(store: StateStore, redis: aioredis.Redis
                                               ) -> None:
    await store.apply([t(i, State.SUBMITTING) for i in range(4)])
    await store.apply([
        Transition(message_key(0, "1-0"), failed("0x0000000b"), "a", "ch1", country="CN"),
        Transition(message_key(0, "1-1"), failed("0x0000000b"), "a", "ch1", country="CN"),
        Transition(message_key(0, "1-2"), failed("0x00000058"), "a", "ch1", country="HK"),
        Transition(message_key(0, "1-3"), submitted("x"), "a", "ch1", country="HK")])
    fields = cast(dict[str, str], await redis.hgetall(KEYS.counters))
    assert {k: v for k, v in fields.items() if k.startswith("country:")} == {
        "country:CN:error:0x0000000b": "2", "country:HK:error:0x00000058": "1"}


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


async def test_one_call_counts_each_lines_own_channel_variant_and_country(
    store: StateStore, redis: aioredis.Redis
) -> None:
    """Lines of the call's first channel without variant or country are packed short
    (transitions.lua takes the channel from ARGV); the others carry theirs, and each
    is counted under its own, whatever the order."""
    def m(n: int, state: str, variant: str = "", channel: str = "ch1",
          country: str = "") -> Transition:
        return Transition(message_key(0, f"1-{n}"), state, variant, channel, segments=0,
                          country=country)

    await store.apply([m(i, State.SUBMITTING) for i in range(5)])
    await store.apply([
        m(0, submitted("a")), m(1, submitted("b"), channel="ch2"),
        m(2, submitted("c"), variant="b"), m(3, failed("0x58"), country="CN"),
        m(4, failed("0x58"), channel="ch2", country="HK")])
    fields = cast(dict[str, str], await redis.hgetall(KEYS.counters))
    assert {k: v for k, v in fields.items() if ":" in k and v != "0"} == {
        "channel:ch1:submitted": "2", "channel:ch1:sent": "2", "channel:ch1:failed": "1",
        "channel:ch1:error:0x58": "1", "channel:ch2:submitted": "1", "channel:ch2:sent": "1",
        "channel:ch2:failed": "1", "channel:ch2:error:0x58": "1",
        "variant:b:submitted": "1", "variant:b:sent": "1",
        "country:CN:error:0x58": "1", "country:HK:error:0x58": "1", "error:0x58": "2"}
    assert (fields["submitted"], fields["sent"], fields["failed"]) == ("3", "3", "2")


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


async def test_one_call_applies_its_lines_in_order(
    store: StateStore, redis: aioredis.Redis
) -> None:
    """The script reads every state first and writes once at the end: a message moved
    twice in one call still goes step by step, and a duplicate line moves it once."""
    path = [State.SUBMITTING, State.QUEUED, State.SUBMITTING, submitted("x"), State.DELIVERED,
            State.EXPIRED]
    assert await store.apply([t(1, state) for state in path]) == 5
    assert await store.states([message_key(0, "1-1")]) == [f"D~,{NOW},{NOW}"]
    counters = await read_counters(redis, KEYS)
    assert (counters.delivered, counters.submitted, counters.expired, counters.sent) \
        == (1, 0, 0, 1)


async def test_a_batch_larger_than_a_chunk_is_applied_whole(redis: aioredis.Redis) -> None:
    """More lines than the script writes per call (1,000): all states, counters and acks."""
    count = 2_500
    stream = KEYS.shard(0)
    pipe = redis.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(stream, {"n": f"+1415{i:07d}"}, id=f"1-{i}")
    pipe.hset(KEYS.counters, "total", count)
    await pipe.execute()
    await redis.xgroup_create(stream, SENDERS_GROUP, id="0")
    await redis.xreadgroup(SENDERS_GROUP, "pod-0", {stream: ">"}, count=count)
    store = StateStore(redis, KEYS)
    await store.apply([t(i, State.SUBMITTING) for i in range(count)], ack_shard=0)
    applied = await store.apply([Transition(message_key(0, f"1-{i}"), submitted(f"{i:x}"),
                                            "a", "ch1", segments=1) for i in range(count)],
                                ack_shard=0)
    assert applied == count
    counters = await read_counters(redis, KEYS)
    assert (counters.submitted, counters.sent, counters.segments_submitted) == (count,) * 3
    assert (await redis.xpending(stream, SENDERS_GROUP))["pending"] == 0
    assert parse_state((await store.states([message_key(0, "1-2499")]))[0]).detail == "9c3"


def test_keys_share_the_campaign_hash_tag() -> None:
    tag = "{campaign:shop/spring-sale}"
    assert all(tag in key for key in (KEYS.state, KEYS.counters, KEYS.parts, KEYS.shard(3)))


# -- long messages: each part's receipt counts --------------------------------------------

D, E, F = State.DELIVERED, State.EXPIRED, State.FAILED

# (part outcomes in the order their receipts come, as (part, outcome); parts; the
# message's outcome once they are all in, or None if undecided)
PART_RECEIPTS = [
    pytest.param([(1, D), (2, D), (3, D)], 3, D, id="all-delivered"),
    pytest.param([(3, D), (1, D), (2, D)], 3, D, id="any-order"),
    pytest.param([(1, D), (2, F), (3, D)], 3, F, id="one-failed"),
    pytest.param([(2, F)], 3, F, id="a-failure-decides-at-once"),
    pytest.param([(1, D), (2, E), (3, D)], 3, E, id="one-expired"),
    pytest.param([(1, E), (2, F), (3, D)], 3, F, id="failed-beats-expired"),
    pytest.param([(1, E), (2, E)], 2, E, id="all-expired"),
    pytest.param([(1, D), (2, D)], 3, None, id="a-part-missing"),
    pytest.param([(1, D), (2, E)], 3, None, id="expired-waits-for-the-rest"),
    pytest.param([(1, D), (1, D), (2, D)], 3, None, id="duplicate-part-counts-once"),
    pytest.param([], 2, None, id="nothing-yet"),
]


@pytest.mark.parametrize("receipts, parts, outcome", PART_RECEIPTS)
def test_a_long_messages_outcome_from_its_parts(
    receipts: list[tuple[int, State]], parts: int, outcome: State | None
) -> None:
    seen: list[State | None] = [None] * parts
    for part, state in receipts:
        seen[part - 1] = state
    assert message_outcome(seen) == outcome


@pytest.mark.parametrize("receipts, parts, outcome", PART_RECEIPTS)
async def test_transitions_lua_decides_long_messages_as_message_outcome(
    store: StateStore, redis: aioredis.Redis, receipts: list[tuple[int, State]], parts: int,
    outcome: State | None,
) -> None:
    """The same table through transitions.lua: the sender and the receiver both apply
    part receipts there, so both decide as message_outcome does."""
    key = message_key(0, "1-1")
    await store.apply([t(1, State.SUBMITTING)])
    await store.apply([Transition(key, submitted(*(f"id{p}" for p in range(parts))), "a",
                                  "ch1", segments=parts)])
    for part, state in receipts:
        await store.apply([receipt_transition(key, state, "001", "a", "ch1", part, parts)])

    now = (await store.states([key]))[0] or ""
    counters = await read_counters(redis, KEYS)
    if outcome is None:
        assert now.startswith("s:") and counters.submitted == 1
        # The parts so far are kept for the rest.
        assert await redis.hexists(KEYS.parts, key) == bool(receipts)
    else:
        # The segments the SMSC took go on to the outcome (the export's segments).
        assert now == (failed("001") if outcome == F else outcome.value) + f"~{parts},{NOW},{NOW}"
        assert (counters.submitted, getattr(counters, COUNTER_OF[outcome])) == (0, 1)
        assert not await redis.hexists(KEYS.parts, key)  # decided: the record goes
    # However the receipts went, the message was sent once, in all its segments.
    assert (counters.sent, counters.segments_submitted) == (1, parts)
    assert counters.queued == 10 - 1


COUNTER_OF = {D: "delivered", E: "expired", F: "failed"}


async def test_receipts_after_a_long_message_failed_change_nothing(
    store: StateStore, redis: aioredis.Redis
) -> None:
    key = message_key(0, "1-1")
    await store.apply([t(1, State.SUBMITTING), t(1, submitted("a", "b", "c"))])
    applied, outcomes = await store.apply_outcomes(
        [receipt_transition(key, D, "", "a", "ch1", 1, 3),
         receipt_transition(key, F, "069", "a", "ch1", 2, 3)])
    assert applied == 2
    assert outcomes == [Transition(key, failed("069"), "a", "ch1")]  # the message's outcome
    assert await store.apply([receipt_transition(key, D, "", "a", "ch1", 3, 3)]) == 0
    counters = await read_counters(redis, KEYS)
    assert (counters.failed, counters.delivered, counters.submitted) == (1, 0, 0)
    fields = await redis.hgetall(KEYS.counters)
    assert fields["error:069"] == "1" and fields["channel:ch1:failed"] == "1"
    assert fields["channel:ch1:error:069"] == "1"  # status.channels[].topErrors


async def test_sent_counts_what_the_smsc_accepted_and_segments_what_it_bills(
    store: StateStore, redis: aioredis.Redis
) -> None:
    """sent: messages accepted, whatever their receipts; segmentsSubmitted: every part
    accepted, a part taken before its message was retried included."""
    await store.apply([t(i, State.SUBMITTING) for i in range(5)])
    await store.apply([
        Transition(message_key(0, "1-0"), submitted("a"), "a", "ch1", segments=1),
        Transition(message_key(0, "1-1"), State.QUEUED, "a", "ch1", segments=1),  # part 1 of 2
        Transition(message_key(0, "1-2"), failed("0x0000000b"), "a", "ch1"),  # refused
        t(3, State.UNKNOWN),
        Transition(message_key(0, "1-4"), submitted("b", "c"), "a", "ch1", segments=2),
    ])
    await store.apply([t(1, State.SUBMITTING)])
    await store.apply([Transition(message_key(0, "1-1"), submitted("d", "e"), "a", "ch1",
                                  segments=2)])
    await store.apply([t(0, State.DELIVERED), t(3, State.DELIVERED),  # a late receipt proves it
                       t(4, State.EXPIRED)])
    counters = await read_counters(redis, KEYS)
    assert (counters.sent, counters.segments_submitted) == (4, 6)
    assert (counters.delivered, counters.expired, counters.submitted, counters.failed) \
        == (2, 1, 1, 1)
    assert counters.queued == 10 - 5  # the running totals are not states
    fields = await redis.hgetall(KEYS.counters)
    assert (fields["channel:ch1:sent"], fields["variant:a:segmentsSubmitted"]) == ("4", "6")


def test_the_shortcuts_make_the_general_forms() -> None:
    """submitted() without translate when an id has nothing to replace, and a delivered
    receipt's transition built at once: the same values as the general forms, for ids
    with and without tabs, newlines and stamps, every state, part and country."""
    for smsc_id in ("1a2b", "", "a\tb", "a\nb", "a~b", "~", "x y", "é"):
        assert submitted(smsc_id) == "s:" + smsc_id.translate(str.maketrans("\t\n~", "   "))
        assert submitted(smsc_id) == submitted(smsc_id, "")[:-1]
    for state in State:
        for part, parts in ((0, 1), (1, 1), (2, 3), (0, 0)):
            for error, country in (("", ""), ("012", "CN")):
                general = Transition(
                    "0/1-0", receipt_state(state, error), "b", "carrier", part=part if parts > 1
                    else 0, parts=max(parts, 1), country=country if state == State.FAILED else "")
                made = receipt_transition("0/1-0", state, error, "b", "carrier", part, parts,
                                          country)
                assert made == general and type(made.state) is str, (state, part, error)
