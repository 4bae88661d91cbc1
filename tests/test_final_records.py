"""Final messages compacted into bucket records (sender.store.final_records), on a real
redis-server: what moves and what stays, that every reader sees the same messages
before and after, the records' exact round trip, the hold, and the bytes it saves."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from sender.sms.states import message_key
from sender.store.export_pages import lane_pages
from sender.store.final_records import (
    SEQ,
    Layout,
    compact_lane,
    compact_run,
    final_state,
    hold,
    layout_for,
    records,
)
from sender.store.ingest_queue import message_state
from sender.store.keys import SENDERS_GROUP, CampaignKeys
from sender.store.run_store import delete_run

KEYS = CampaignKeys("shop", "spring")

# (state value, whether it is final and so compacted)
STATES = [
    ("D~1,1765000100,1765000102", True),
    ("F:0x0000000b~,,1765000101", True),
    ("F:receipt~2,1765000100,1765000200", True),
    ("E~1,1765000100,1765086500", True),
    ("O~,,1765000100", True),
    ("C:2/168h Namespace~,,1765000100", True),
    ("X~,,1765000300", True),
    ("M:1/1765000000000-7", True),
    ("D", True),  # written before stamps were
    ("s:ab12 cd34~2,1765000100,", False),
    ("U", False),
    ("S", False),
    ("W", False),
    ("Q", False),
    (None, False),  # queued, never moved
]
NUMBERS = ["+8613800000000", "+12025550123", "+447700900123", "+999999999999999",
           "+1", "not-a-number", "+0123", "+86 138"]


async def make_lane(redis: Any, lane: int, rows: Sequence[tuple[str, str, str | None]],
                    *, read: int | None = None) -> list[str]:
    """A lane with one entry per (number, variant, state); the senders' group has read the
    first `read` entries (all by default). The entry ids."""
    stream = KEYS.shard(lane)
    ids = []
    for number, variant, state in rows:
        entry_id = await redis.xadd(stream, {"n": number, "v": variant, "x": '{"a":"b"}'})
        ids.append(entry_id)
        if state is not None:
            await redis.hset(KEYS.state, message_key(lane, entry_id), state)
    await redis.xgroup_create(stream, SENDERS_GROUP, id="0")
    count = len(rows) if read is None else read
    if count:
        await redis.xreadgroup(SENDERS_GROUP, "s0", {stream: ">"}, count=count)
    return ids


async def everything(redis: Any, lane: int) -> dict[str, tuple[str, str, str | None]]:
    """Each message of a lane as the export reads it: key -> (number, variant, state)."""
    seen = {}
    async for page in lane_pages(redis, KEYS, lane, page=7):
        for record in page:
            assert record.key not in seen
            seen[record.key] = (record.fields["n"], record.fields["v"], record.state)
    return seen


def rows(count: int, seed: int = 1) -> list[tuple[str, str, str | None]]:
    pick = random.Random(seed)
    return [(pick.choice(NUMBERS), pick.choice(["", "a", "b-2"]), pick.choice(STATES)[0])
            for _ in range(count)]


async def test_final_messages_move_and_the_rest_stay(redis: Any) -> None:
    made = [(NUMBERS[i % len(NUMBERS)], "a", state) for i, (state, _) in enumerate(STATES)]
    ids = await make_lane(redis, 0, made)
    before = await everything(redis, 0)

    done = await compact_lane(redis, KEYS, 0, budget=10_000)

    finals = {ids[i] for i, (_, final) in enumerate(STATES) if final}
    assert done.written == len(finals)
    left = {entry_id for entry_id, _ in await redis.xrange(KEYS.shard(0))}
    assert left == set(ids) - finals
    assert await redis.hmget(KEYS.state, [message_key(0, i) for i in finals]) == \
        [None] * len(finals)
    assert await everything(redis, 0) == before
    for entry_id, (_, _, state) in before.items():
        _, _, bare = entry_id.partition("/")
        found = await final_state(redis, KEYS, 0, bare)
        assert found == (state if bare in finals else None)


async def test_records_round_trip_exactly(redis: Any) -> None:
    made = rows(600)
    await make_lane(redis, 0, made)
    before = await everything(redis, 0)

    while (await compact_lane(redis, KEYS, 0, budget=100, page=50)).more:
        pass

    assert await everything(redis, 0) == before
    compacted = [r async for page in records(redis, KEYS, 0) for r in page]
    assert len(compacted) == sum(1 for *_, s in made if s and s[0] in "DFEOCXM")


async def test_only_what_the_senders_read_unless_whole(redis: Any) -> None:
    ids = await make_lane(redis, 0, [("+12025550123", "", "X~,,1765000300")] * 4, read=2)

    await compact_lane(redis, KEYS, 0, budget=100)
    assert [i for i, _ in await redis.xrange(KEYS.shard(0))] == ids[2:]

    await compact_lane(redis, KEYS, 0, budget=100, whole=True)  # a cancelled run's
    assert await redis.xlen(KEYS.shard(0)) == 0


async def test_a_late_receipt_is_compacted_by_a_later_pass(redis: Any) -> None:
    ids = await make_lane(redis, 0, [("+12025550123", "", "s:ab~1,1765000100,")] +
                          [("+12025550124", "", "D~1,1765000100,1765000101")] * 5)
    await compact_lane(redis, KEYS, 0, budget=100)
    assert [i for i, _ in await redis.xrange(KEYS.shard(0))] == ids[:1]

    await redis.hset(KEYS.state, message_key(0, ids[0]), "D~1,1765000100,1765000999")
    await compact_lane(redis, KEYS, 0, budget=100)

    assert await redis.xlen(KEYS.shard(0)) == 0
    assert await final_state(redis, KEYS, 0, ids[0]) == "D~1,1765000100,1765000999"


async def test_nothing_moves_under_a_hold(redis: Any) -> None:
    await make_lane(redis, 0, [("+12025550123", "", "D")] * 3)
    async with hold(redis, KEYS):
        done = await compact_lane(redis, KEYS, 0, budget=100)
        assert (done.written, done.more) == (0, True)
        assert await redis.xlen(KEYS.shard(0)) == 3
    assert (await compact_lane(redis, KEYS, 0, budget=100)).written == 3


async def test_one_reader_leaving_keeps_another_readers_hold(redis: Any) -> None:
    """Two exports at once: the first to finish lifts only its own hold."""
    await make_lane(redis, 0, [("+12025550123", "", "D")] * 3)
    async with hold(redis, KEYS):
        async with hold(redis, KEYS):
            pass
        assert (await compact_lane(redis, KEYS, 0, budget=100)).written == 0
    assert (await compact_lane(redis, KEYS, 0, budget=100)).written == 3


async def test_a_hold_whose_reader_died_lapses(redis: Any) -> None:
    """A reader killed inside its hold never lifts it: it lapses HOLD_SECONDS after
    its last renewal (here made to have lapsed)."""
    await make_lane(redis, 0, [("+12025550123", "", "D")] * 3)
    await redis.zadd(KEYS.final_hold, {"dead-reader": 1})  # lapsed in 1970
    assert (await compact_lane(redis, KEYS, 0, budget=100)).written == 3


async def test_message_state_and_delete_run_see_the_records(redis: Any) -> None:
    ids = await make_lane(redis, 0, [("+12025550123", "", "D~1,1765000100,1765000101")])
    await make_lane(redis, 1, [("+12025550124", "", "F:0x0000000b~,,1765000101")])
    await compact_run(redis, KEYS, 2, budget=100)

    assert await message_state(redis, KEYS, message_key(0, ids[0])) == \
        "D~1,1765000100,1765000101"
    assert await message_state(redis, KEYS, "0/1-1") is None

    await delete_run(redis, KEYS, 2)
    assert await redis.keys(f"{KEYS.tag}*") == []


@pytest.mark.parametrize("generations", [
    "27 1765000000000",
    "27 1765000000000 55 1765000100000 111 1765001000000",  # a lane that grew twice
])
@pytest.mark.parametrize("entry_id", [
    "1765000000000-0", "1765000000000-1", "1765000000001-0", "1765000123456-65535",
    f"1765000000000-{SEQ}",  # a sequence past SEQ: the id's own text
    "1764999999999-3",  # before the lane's base: the same
    "9765000000000-0",  # beyond an exact slot
    "1765000100000-0", "1765000099999-7", "1765001000000-3", "1765001234567-2",
])
def test_a_place_gives_its_entry_back(generations: str, entry_id: str) -> None:
    layout = Layout.parse(generations)
    bucket, field = layout.place(entry_id)
    generation = layout.generation(int(entry_id.split("-")[0]))
    assert generation.first <= bucket < generation.first + generation.buckets
    assert layout.owner(bucket) == generation
    assert layout.entry_id(bucket, field) == entry_id


async def test_a_late_final_message_opens_no_generation_under_newer_records(
    redis: Any,
) -> None:
    """The first of a lane's entries waits for its receipt while the 239 after it are
    compacted; its late receipt then fills the generation. The next one starts after
    every record so far, so each is still found where it sits."""
    stream = KEYS.shard(0)
    await redis.xgroup_create(stream, SENDERS_GROUP, id="$", mkstream=True)
    ids = [str(await redis.xadd(stream, {"n": f"+8613800{i:06d}", "v": ""},
                                id=f"{1765000000000 + i}-0")) for i in range(240)]
    await redis.hset(KEYS.state, mapping={message_key(0, i): "D~1,1765000100,1765000101"
                                          for i in ids[1:]})
    await redis.hset(KEYS.state, message_key(0, ids[0]), "s:ab12~1,1765000100,")
    await redis.xreadgroup(SENDERS_GROUP, "c", {stream: ">"})
    await redis.hset(KEYS.final, "0", "3 1765000000000")  # 240 records fill it (3 x 80)
    await compact_lane(redis, KEYS, 0, budget=1000)
    await redis.hset(KEYS.state, message_key(0, ids[0]), "D~1,1765000100,1765000101")
    await compact_lane(redis, KEYS, 0, budget=1000)
    assert len(Layout.parse(await redis.hget(KEYS.final, "0")).generations) == 2
    for entry_id in ids:
        assert await final_state(redis, KEYS, 0, entry_id) == "D~1,1765000100,1765000101"


async def test_a_lane_that_keeps_growing_gets_generations_of_small_buckets(
    redis: Any,
) -> None:
    """A triggered campaign's lane: first compacted when it held 10 messages, then
    6,000 more arrive and are compacted as they go. The lane's layout grows by
    generations; every bucket stays a listpack, and every record reads back."""
    stream = KEYS.shard(0)
    await redis.xgroup_create(stream, SENDERS_GROUP, id="$", mkstream=True)
    written: dict[str, str] = {}
    for batch, size in enumerate([10] + [500] * 12):
        pipe: Any = redis.pipeline(transaction=False)
        for i in range(size):
            pipe.xadd(stream, {"n": f"+8613{batch:03d}{i:05d}", "v": "a"},
                      id=f"{1765000000000 + batch * 1000 + i // 10}-{i % 10}")
        ids = [str(entry_id) for entry_id in await pipe.execute()]
        await redis.hset(KEYS.state, mapping={message_key(0, i): "D~1,1765000100,1765000101"
                                              for i in ids})
        await redis.xreadgroup(SENDERS_GROUP, "c", {stream: ">"})
        written |= {i: f"+8613{batch:03d}{n:05d}" for n, i in enumerate(ids)}
        while (await compact_lane(redis, KEYS, 0, budget=20_000)).more:
            pass
    assert await redis.xlen(stream) == 0
    layout = Layout.parse(await redis.hget(KEYS.final, "0"))
    assert len(layout.generations) > 3
    sizes = [await redis.hlen(KEYS.final_bucket(0, b)) for b in range(layout.buckets)]
    assert sum(sizes) == len(written) and max(sizes) < 128
    encodings = {await redis.object("encoding", KEYS.final_bucket(0, b))
                 for b in range(layout.buckets) if sizes[b]}
    assert encodings == {"listpack"}
    read = {r.entry_id: r.number async for page in records(redis, KEYS, 0) for r in page}
    assert read == written
    for entry_id in list(written)[::250]:
        assert await final_state(redis, KEYS, 0, entry_id) == "D~1,1765000100,1765000101"


def test_buckets_are_odd_and_sized_for_listpack() -> None:
    for length in (0, 1, 48, 97, 1_000, 1_250_000):
        found = layout_for(length, "1765000000000-0")
        assert found.buckets % 2 == 1
        assert length / found.buckets <= 48


async def test_records_take_a_fraction_of_the_bytes(redis: Any) -> None:
    """Bytes in Redis for 20,000 delivered recipients, before and after: the records
    are a fifth of the stream entry and state field they replace (a figure the bench
    measures end to end: bench/campaign.py)."""
    stream = KEYS.shard(0)
    pipe: Any = redis.pipeline(transaction=False)
    for i in range(20_000):
        pipe.xadd(stream, {"n": f"+86138{i:08d}", "v": "a", "x": '{"name":"n"}'},
                  id=f"1765000000{i // 20:03d}-{i % 20}")
    await pipe.execute()
    ids = [entry_id for entry_id, _ in await redis.xrange(stream)]
    await redis.hset(KEYS.state, mapping={message_key(0, i): "D~1,1765000100,1765000101"
                                          for i in ids})
    await redis.xgroup_create(stream, SENDERS_GROUP, id="$")
    used = (await redis.memory_usage(stream) or 0) + (await redis.memory_usage(KEYS.state) or 0)

    while (await compact_lane(redis, KEYS, 0, budget=20_000)).more:
        pass

    layout = await redis.hget(KEYS.final, "0")
    assert layout is not None
    buckets = Layout.parse(layout).buckets
    kept = sum([await redis.memory_usage(KEYS.final_bucket(0, b)) or 0
                for b in range(buckets)])
    assert await redis.exists(stream, KEYS.state) in (0, 1)  # an empty stream may stay
    assert kept * 4 < used, (kept / 20_000, used / 20_000)
    assert await redis.object("encoding", KEYS.final_bucket(0, 0)) == "listpack"
