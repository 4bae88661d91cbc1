"""A run's per-message records, read a page at a time for an export (sender.export).

    herald:{campaign:NS/NAME}:shard:L   the lanes' entries (n number, v variant, ...)
    herald:{campaign:NS/NAME}:state     message key "<lane>/<entry id>" -> state code
    herald:{campaign:NS/NAME}:clicks    message key -> "FIRST_UNIX COUNT"

A run's final messages may have left the stream for their compacted records
(sender.store.final_records): a lane's pages are its stream's, then its records', read
under the records' hold so that no message moves from one to the other in between.

One stream page is one script call: an XRANGE of COUNT entries of one lane, an HMGET of their
states and one of their clicks, in one round trip (the client sends no message keys:
packing 2,000 of them was a third of the export's time). Memory stays one page whatever
the run's size, and the keys are the run's own (one hash tag), so it runs on Redis
Cluster too.
Nothing is written but the hold: an export may run while late receipts still come in, and reads
each message as it is at that moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from sender.sms.states import message_key
from sender.store.client import Redis
from sender.store.final_records import hold, records
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


# KEYS: the lane's stream, the state hash, the clicks hash; ARGV: start id ("-" or
# "(ID"), count, lane. One page: its entries, and each one's state and clicks.
_PAGE_LUA = """
local entries = redis.call("XRANGE", KEYS[1], ARGV[1], "+", "COUNT", ARGV[2])
if #entries == 0 then return {{}, {}, {}} end
local fields = {}
for i, entry in ipairs(entries) do fields[i] = ARGV[3] .. "/" .. entry[1] end
return {entries, redis.call("HMGET", KEYS[2], unpack(fields)),
        redis.call("HMGET", KEYS[3], unpack(fields))}
"""


async def lane_pages(redis: Redis, keys: CampaignKeys, lane: int, page: int = PAGE
                     ) -> AsyncIterator[list[MessageRecord]]:
    """Every message of one lane, a page at a time: the stream's entries in stream
    order, then the compacted ones."""
    async with hold(redis, keys) as renew:
        async for entries in _stream_pages(redis, keys, lane, page):
            yield entries
            await renew()
        async for found in records(redis, keys, lane):
            clicks = cast(list[str | None], await redis.hmget(
                keys.clicks, [message_key(lane, r.entry_id) for r in found]))
            yield [MessageRecord(lane, r.entry_id, {"n": r.number, "v": r.variant}, r.state,
                                 click) for r, click in zip(found, clicks, strict=True)]
            await renew()


async def _stream_pages(redis: Redis, keys: CampaignKeys, lane: int, page: int
                        ) -> AsyncIterator[list[MessageRecord]]:
    script = redis.register_script(_PAGE_LUA)
    start = "-"
    while True:
        reply: Any = await script(keys=[keys.shard(lane), keys.state, keys.clicks],
                                  args=[start, page, lane])
        entries, states, clicks = cast(tuple[list[Any], list[Any], list[Any]], reply)
        if not entries:
            return
        start = "(" + entries[-1][0]
        yield [MessageRecord(lane, entry_id, dict(zip(flat[::2], flat[1::2], strict=True)),
                             state, click)
               for (entry_id, flat), state, click in zip(entries, states, clicks,
                                                         strict=True)]
        if len(entries) < page:
            return
