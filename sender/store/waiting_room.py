"""Messages held back for their send time: one sorted set per shard, of stream entry ids
scored by when they may go (their recipient's window opens, quiet hours end).

    herald:{campaign:NS/NAME}:waiting:I   sorted set: entry id -> when it may go (epoch s)

The set is an index, not the record: a held entry stays in its consumer's pending list
(its state `waiting` is not final, so it is never acked), which is what a restarted
sender recovers from. A sender takes due ids out of the set before it sends them, so an
entry is never both held and on its way; after a crash, recovery takes the pending ones
out again and decides anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sender.store.client import Redis
from sender.store.keys import CampaignKeys


class WaitingRoom:
    def __init__(self, redis: Redis, campaign: CampaignKeys, shard: int) -> None:
        self._redis = redis
        self.key = campaign.waiting(shard)

    async def hold(self, entries: Sequence[tuple[str, float]]) -> None:
        """Hold (entry id, when it may go) pairs; holding one again moves its time."""
        if entries:
            await self._redis.zadd(self.key, {entry_id: at for entry_id, at in entries})

    async def due(self, now: float, limit: int) -> list[str]:
        """Up to `limit` held ids whose time has come, earliest first."""
        return cast(list[str], await self._redis.zrangebyscore(
            self.key, "-inf", now, start=0, num=limit))

    async def release(self, ids: Sequence[str]) -> None:
        if ids:
            await self._redis.zrem(self.key, *ids)

    async def size(self) -> int:
        return int(await self._redis.zcard(self.key))

    async def wake_all(self) -> None:
        """Make every held entry due now (the rules changed: each is decided anew)."""
        await self._redis.zunionstore(self.key, {self.key: 0})


async def next_opening(redis: Redis, campaign: CampaignKeys, shards: int) -> float | None:
    """When the earliest held message of any shard may go (epoch s); None if none waits."""
    async with redis.pipeline(transaction=False) as pipe:
        for shard in range(shards):
            pipe.zrange(campaign.waiting(shard), 0, 0, withscores=True)
        replies = await pipe.execute()
    times = [float(reply[0][1]) for reply in replies if reply]
    return min(times) if times else None
