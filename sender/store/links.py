"""Short links in Redis: the codes senders hand out, the clicks `herald links` counts.

    herald:link:CODE                   string, LinkRecord.encode(): campaign, message key,
                                       variant, channel, url id, deadline; expires
                                       GONE_SECONDS after the deadline
    herald:{campaign:NS/NAME}:links    hash: url id -> target URL
    herald:{campaign:NS/NAME}:clicks   hash: message key -> "FIRST_UNIX COUNT"
    herald:{campaign:NS/NAME}:counters clicks, clickers, and variant:V: / channel:C: each

A sender claims a batch's codes in one round trip (SET NX each, pipelined) before the
messages are handed to the binds: a code is in Redis before its link can be read. A
record takes about 230 bytes of Redis memory (key, value of some 80 bytes, expiry;
measured over 100,000): the target URL is in the campaign's table, not in each. A click
is one GET and one script on the campaign's tag, which counts it atomically there: a
recipient's first click counts a clicker, every click a click. Between the two a crash
may lose one click's count, never count one twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sender.sms.links import GONE_SECONDS, LinkRecord
from sender.store.client import Redis
from sender.store.keys import CampaignKeys, campaign_from_ref, short_link

# KEYS: clicks, counters; ARGV: message key, now (unix), variant, channel.
# Returns {1 if the recipient's first click else 0, its clicks so far}.
_CLICK_LUA = """
local held = redis.call("HGET", KEYS[1], ARGV[1])
local first, count, since = 0, 1, ARGV[2]
if held then
  since, count = string.match(held, "^(%S+) (%d+)$")
  count = tonumber(count) + 1
else
  first = 1
end
redis.call("HSET", KEYS[1], ARGV[1], since .. " " .. count)
local scopes = {""}
if ARGV[3] ~= "" then scopes[#scopes + 1] = "variant:" .. ARGV[3] .. ":" end
if ARGV[4] ~= "" then scopes[#scopes + 1] = "channel:" .. ARGV[4] .. ":" end
for _, scope in ipairs(scopes) do
  redis.call("HINCRBY", KEYS[2], scope .. "clicks", 1)
  if first == 1 then redis.call("HINCRBY", KEYS[2], scope .. "clickers", 1) end
end
return {first, count}
"""


async def claim_links(redis: Redis, links: Sequence[tuple[str, LinkRecord]]) -> list[bool]:
    """Write each (code, record) unless its code is taken; whether each was written."""
    if not links:
        return []
    pipe = redis.pipeline(transaction=False)
    for code, record in links:
        pipe.set(short_link(code), record.encode(), nx=True, exat=record.deadline + GONE_SECONDS)
    return [bool(ok) for ok in await pipe.execute()]


async def register_targets(redis: Redis, keys: CampaignKeys, targets: Mapping[str, str]
                           ) -> None:
    """The campaign's table of target URLs (url id -> URL), which records point into."""
    if targets:
        await redis.hset(keys.links, mapping=dict(targets))  # type: ignore[arg-type]


async def read_link(redis: Redis, code: str) -> LinkRecord | None:
    """The record of a code; None if there is none (never was, or long expired)."""
    value = await redis.get(short_link(code))
    return LinkRecord.decode(str(value)) if value is not None else None


async def read_target(redis: Redis, record: LinkRecord) -> str | None:
    """The URL a record's link goes to."""
    return cast("str | None",
                await redis.hget(campaign_from_ref(record.campaign).links, record.target))


@dataclass(frozen=True)
class Click:
    first: bool
    """The recipient's first click (on any of its message's links)."""
    count: int
    """The recipient's clicks so far, this one included."""


class ClickCounter:
    """Counts clicks in their campaigns' hashes: one script call each."""

    def __init__(self, redis: Redis) -> None:
        # redis-py's script: EVALSHA, loaded again if a restarted Redis lost it
        self._script = redis.register_script(_CLICK_LUA)

    async def count(self, record: LinkRecord, now: int) -> Click:
        keys = campaign_from_ref(record.campaign)
        reply: Any = await self._script(keys=[keys.clicks, keys.counters], args=[
            record.message, str(now), record.variant, record.channel])
        first, count = reply
        return Click(bool(int(first)), int(count))


async def read_clicks(redis: Redis, keys: CampaignKeys, message: str) -> tuple[int, int] | None:
    """(first click unix time, clicks) of one recipient's message; None before any."""
    held = await redis.hget(keys.clicks, message)
    if held is None:
        return None
    since, _, count = str(held).partition(" ")
    return int(since), int(count)
