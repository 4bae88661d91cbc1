"""A run's per-message records, read a page at a time for an export (sender.export).

    herald:{campaign:NS/NAME}:shard:L   the lanes' entries (n number, v variant, ...)
    herald:{campaign:NS/NAME}:state     message key "<lane>/<entry id>" -> state code
    herald:{campaign:NS/NAME}:clicks    message key -> "FIRST_UNIX COUNT"

One page is one XRANGE of COUNT entries of one lane, then one round trip with an HMGET
of their states and one of their clicks: memory stays one page whatever the run's size,
and the reads are the run's own keys (one hash tag), so they run on Redis Cluster too.
Nothing is written: an export may run while late receipts still come in, and reads
each message as it is at that moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from sender.sms.states import message_key
from sender.store.client import Redis
from sender.store.keys import CampaignKeys

PAGE = 2000
"""Entries per XRANGE: bench/export.py measured no gain past it."""


@dataclass(frozen=True)
class MessageRecord:
    """One stream entry of a lane, with what Redis holds of its message."""

    lane: int
    entry_id: str
    fields: dict[str, str]
    """The entry as imported: n (number), v (variant), x (variables), z (zone)."""
    state: str | None
    """The state code with its detail (sender.sms.states); None: never moved (queued)."""
    clicks: str | None
    """"FIRST_UNIX COUNT" of a recipient who clicked (sender.store.links); else None."""

    @property
    def key(self) -> str:
        return message_key(self.lane, self.entry_id)


async def lane_pages(redis: Redis, keys: CampaignKeys, lane: int, page: int = PAGE
                     ) -> AsyncIterator[list[MessageRecord]]:
    """Every entry of one lane, in stream order, a page at a time."""
    start = "-"
    while True:
        reply: Any = await redis.xrange(keys.shard(lane), min=start, count=page)
        entries = cast(list[tuple[str, dict[str, str]]], reply)
        if not entries:
            return
        start = "(" + entries[-1][0]
        messages = [message_key(lane, entry_id) for entry_id, _ in entries]
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.state, messages)
            pipe.hmget(keys.clicks, messages)
            states, clicks = await pipe.execute()
        yield [MessageRecord(lane, entry_id, fields, state, click)
               for (entry_id, fields), state, click in zip(entries, states, clicks,
                                                           strict=True)]
        if len(entries) < page:
            return
