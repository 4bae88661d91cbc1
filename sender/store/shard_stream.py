"""One shard's stream as its sender reads it: the senders' consumer group, acks, opt-outs.

    herald:{campaign:NS/NAME}:shard:I   stream of recipients (sender.importer.shards
                                        writes it; fields n, v, x, z)

A sender reads new entries (`>`) in batches, and after a restart first its own pending
ones (from `0`), which is how it finds what a killed process left. Entries leave the
pending list when their message's state is final (transitions.lua acks them in the same
call), or here when recovery finds them settled already. The opt-out set is checked as
entries are read, so a number that opted out after the import is never sent to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sender.store.client import Redis
from sender.store.keys import OPT_OUT_SET, SENDERS_GROUP, CampaignKeys

Entry = tuple[str, dict[str, str]]
"""A stream entry: its id and its fields."""

NEW = ">"
"""Where `read` starts for entries no consumer has read yet."""
PENDING = "0"
"""Where `read` starts for this consumer's own unacknowledged entries."""


class ShardStream:
    def __init__(self, redis: Redis, campaign: CampaignKeys, shard: int, consumer: str,
                 batch: int = 500, variant: str | None = None) -> None:
        self._redis = redis
        self.key = campaign.shard(shard)
        self.consumer = consumer
        self.batch = batch
        self.variant = variant
        """Read every entry as this variant (v): a winner campaign's rest; None: its own."""

    async def read(self, after: str = NEW, *, block_ms: int | None = None) -> list[Entry]:
        """Up to `batch` entries: new ones (NEW), or this consumer's pending ones after an id.
        With `block_ms`, waits that long for new ones to come (a followed stream)."""
        reply: Any = await self._redis.xreadgroup(
            SENDERS_GROUP, self.consumer, {self.key: after}, count=self.batch, block=block_ms)
        if isinstance(reply, dict):  # RESP3
            reply = list(reply.items())
        return self._as_variant(cast(list[Entry], reply[0][1]) if reply else [])

    async def entries(self, ids: Sequence[str]) -> list[Entry]:
        """The entries of these ids, in their order (one held back for its send time,
        read again when it may go); an id no longer in the stream is left out."""
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.xrange(self.key, min=entry_id, max=entry_id)
            replies: list[Any] = await pipe.execute()
        return self._as_variant([cast(Entry, reply[0]) for reply in replies if reply])

    def _as_variant(self, entries: list[Entry]) -> list[Entry]:
        if self.variant is not None:
            for _, fields in entries:
                fields["v"] = self.variant
        return entries

    async def ack(self, ids: Sequence[str]) -> None:
        if ids:
            await self._redis.xack(self.key, SENDERS_GROUP, *ids)

    async def opted_out(self, numbers: Sequence[str]) -> list[bool]:
        """For each number, whether it is in the opt-out set now."""
        if not numbers:
            return []
        found = await self._redis.smismember(OPT_OUT_SET, list(numbers))
        return [bool(flag) for flag in found]
