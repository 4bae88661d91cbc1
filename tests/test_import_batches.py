"""A batch's commit (sender.store.import_batches), against real redis-servers: each
commit reads the next batch's lookups behind its script, one round trip a batch, and a
read that another importer's commit made stale is read again, never trusted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis

from herald.local.redis_topologies import RedisCluster
from sender.store.client import connect
from sender.store.import_batches import BatchRead, BatchWrite, ImportBatches, Lookups
from sender.store.keys import OPT_OUT_SET, CampaignKeys

KEYS = CampaignKeys("shop", "batches")
FIRST = ["+8613800000001", "+8613800000002", "+8613800000003"]
SECOND = ["+8613800000002", "+8613800000004", "+8613800000005"]
"""The second batch: one number of the first, one opted out, one new."""
OPTED_OUT = "+8613800000004"


def batches(redis: aioredis.Redis) -> ImportBatches:
    return ImportBatches(redis, KEYS, shards=1, fingerprint="{}", dedupe=True,
                         respect_opt_outs=True)


def decider(numbers: Sequence[str], end: int, seen_by: list[Lookups]
            ) -> Callable[[int, Lookups], BatchWrite]:
    """A batch's decision as the importer's: new numbers queued, the rest counted."""
    def decide(done: int, lookups: Lookups) -> BatchWrite:
        seen_by.append(lookups)
        seen, opted_out, _ = lookups
        new = [n for n in numbers if n not in seen and n not in opted_out]
        counts = Counter({"total": len(numbers), "imported": len(new),
                          "suppressed": sum(n in seen for n in numbers),
                          "optedOut": sum(n in opted_out for n in numbers)})
        return BatchWrite(end, [(0, n, "", "{}", "") for n in new], set(new), counts,
                          Counter({0: len(new)}))
    return decide


async def commit(store: ImportBatches, numbers: list[str], start: int, after: int,
                 seen_by: list[Lookups], read: BatchRead | None = None,
                 following: list[str] | None = None) -> BatchRead | None:
    end = start + len(numbers)
    return await store.commit(start, end, numbers=lambda done: numbers[done - start:],
                              decide=decider(numbers, end, seen_by), after=after,
                              read=read, following=following)


async def test_a_commit_reads_the_next_batch_behind_its_script(redis: aioredis.Redis) -> None:
    await redis.sadd(OPT_OUT_SET, OPTED_OUT)
    store, seen_by = batches(redis), list[Lookups]()
    assert await store.begin() == 0
    read = await commit(store, FIRST, 0, 0, seen_by, following=SECOND)
    # What the next batch needs, read after this one landed: its mark, and which of
    # its numbers the first batch took.
    assert read == ("3", "{}", ({"+8613800000002"}, {OPTED_OUT}, set()))
    assert await commit(store, SECOND, 3, 3, seen_by, read=read) is None
    assert seen_by[1] == read[2]  # decided on it, without a read of its own
    counters = await redis.hgetall(KEYS.counters)
    assert (counters["imported"], counters["suppressed"], counters["optedOut"]) == ("4", "1", "1")
    assert await redis.hget(KEYS.import_progress, "rows_done") == "6"


async def test_a_read_another_importer_made_stale_is_read_again(redis: aioredis.Redis) -> None:
    store, other, seen_by = batches(redis), batches(redis), list[Lookups]()
    await store.begin()
    read = await commit(store, FIRST, 0, 0, seen_by, following=SECOND)
    await commit(other, SECOND, 3, 3, [])  # lands first: the read above is stale now
    assert await commit(store, SECOND, 3, 3, seen_by, read=read) is None
    # Decided on the stale read, whose script wrote nothing; the fresh read found the
    # batch in, and it was not decided again.
    assert len(seen_by) == 2
    counters = await redis.hgetall(KEYS.counters)
    assert (counters["total"], counters["imported"]) == ("6", "5")
    assert await redis.xlen(KEYS.shard(0)) == 5


async def test_on_a_cluster_each_commit_reads_its_own(redis_cluster: RedisCluster) -> None:
    client = connect(redis_cluster.url)
    try:
        store, seen_by = batches(client), list[Lookups]()
        await store.begin()
        # The nodes keep no order between them: no read behind the script.
        assert await commit(store, FIRST, 0, 0, seen_by, following=SECOND) is None
        assert await commit(store, SECOND, 3, 3, seen_by) is None
        assert seen_by[1][0] == {"+8613800000002"}
        assert await client.xlen(KEYS.shard(0)) == 5
    finally:
        await client.aclose()
