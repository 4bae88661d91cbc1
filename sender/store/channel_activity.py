"""A channel's binds and totals in Redis: the carrier's bind cap, enforced across pods,
and what the Channel's status reports.

Carriers cap the binds of an account (spec.maxBinds), and every Herald process holding
binds to a channel counts: senders of any campaign, the channel's receiver, the
operator's bind check. Each bind claims a slot before it connects (`BindSlot`, one Lua
call on the channel's `binds` sorted set: bind name -> time last seen) and gives it back
when it goes down; while it holds one, its process refreshes the slot about once a
second. A slot not refreshed for `BIND_SEEN_SECONDS` is taken back, so a killed pod's
binds free themselves with no cleanup. The set's size is the channel's binds in use.

Running totals (messages submitted, receipts, replies, opt-outs) go to one hash; the
operator samples them to measure throughput. Both are channel keys (one hash tag),
written in the pipelines the writers already send.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from sender.store.keys import ChannelKeys
from sender.store.keyword_replies import ReplyRequest, add_requests
from sender.store.opt_outs import OptChange, queue_changes

logger = logging.getLogger(__name__)

BIND_SEEN_SECONDS = 30.0
"""A slot not refreshed for this long is taken back (its pod is gone)."""
HEARTBEAT_SECONDS = 1.0
RECEIVER_PREFIX = "receiver/"

SUBMITTED = "submitted"
RECEIPTS = "receipts"
REPLIES = "replies"
UNMATCHED = "unmatchedReceipts"


_owners = itertools.count()


def bind_names(role: str, count: int) -> list[str]:
    """Names for one owner's `count` binds, unique on the channel: role/host/pid/owner/i
    (one process may run several senders: tests, the bench)."""
    owner = next(_owners)
    return [f"{role}/{socket.gethostname()}/{os.getpid()}/{owner}/{i}" for i in range(count)]


def note_binds(pipe: Any, channel: ChannelKeys, binds: Mapping[str, bool], now: float) -> None:
    """Queue on `pipe` (a pipeline) a refresh of the slots this process's binds hold.

    Only refreshes: a bind gives its slot back itself (BindSlot.release), and a removal
    queued here could land after a new claim and undo it.
    """
    held = {name: now for name, holds in binds.items() if holds}
    if held:
        pipe.zadd(channel.binds, held)


async def record_receiver_activity(
    redis: aioredis.Redis, channel: ChannelKeys, *, opt_changes: Sequence[OptChange],
    replies: int, binds: Mapping[str, bool], now: float,
    requests: Sequence[ReplyRequest] = (),
) -> None:
    """One round trip for what a receiver's flush writes: opt-outs and opt-ins (the
    shared set and its log), the channel's reply and opt-out totals, its binds' slots;
    then, if there are any, keyword-reply requests (add_requests says why after)."""
    if not (opt_changes or replies or binds or requests):
        return
    pipe = redis.pipeline(transaction=False)
    queue_changes(pipe, opt_changes, channel.activity)
    if replies:
        pipe.hincrby(channel.activity, REPLIES, replies)
    note_binds(pipe, channel, binds, now)
    await pipe.execute()
    await add_requests(redis, channel, requests)


async def count_activity(redis: aioredis.Redis, channel: ChannelKeys, name: str,
                         count: int) -> None:
    """Add to one of the channel's running totals (RECEIPTS, UNMATCHED...)."""
    if count:
        await redis.hincrby(channel.activity, name, count)


CLAIM_LUA = """
-- KEYS[1] the channel's binds set; ARGV: bind name, now, max binds, seen seconds
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", tonumber(ARGV[2]) - tonumber(ARGV[4]))
if redis.call("ZSCORE", KEYS[1], ARGV[1]) or
   redis.call("ZCARD", KEYS[1]) < tonumber(ARGV[3]) then
  redis.call("ZADD", KEYS[1], ARGV[2], ARGV[1])
  return 1
end
return 0
"""


class BindSlot:
    """One bind's claim on its channel's bind cap, shared by every pod (see module doc)."""

    def __init__(self, redis: aioredis.Redis, channel: ChannelKeys, name: str, max_binds: int,
                 *, poll: float = 1.0) -> None:
        self.redis = redis
        self.channel = channel
        self.name = name
        self.max_binds = max_binds
        self.poll = poll
        self.held = False
        self._claim = redis.register_script(CLAIM_LUA)

    async def try_acquire(self) -> bool:
        got = await self._claim(keys=[self.channel.binds],
                                args=[self.name, time.time(), self.max_binds,
                                      BIND_SEEN_SECONDS])
        self.held = bool(got)
        return self.held

    async def acquire(self) -> None:
        """Wait for a slot: others' binds go down, or a killed pod's slots age out."""
        waited = False
        while not await self.try_acquire():
            if not waited:
                logger.info("bind %s waits: the channel's %d binds are in use",
                            self.name, self.max_binds)
                waited = True
            await asyncio.sleep(self.poll * random.uniform(0.8, 1.2))

    async def release(self) -> None:
        self.held = False
        await release_binds(self.redis, self.channel, [self.name])


async def release_binds(redis: aioredis.Redis, channel: ChannelKeys, names: Sequence[str]
                        ) -> None:
    """Give the slots of binds that went down back now, not when they age out."""
    if names:
        await redis.zrem(channel.binds, *names)


@dataclass(frozen=True)
class ChannelActivity:
    """One sample of a channel's binds and totals."""

    at: float
    """Unix time of the sample."""
    bound: int
    """Binds holding a slot: up, or connecting. Senders', receiver's, the bind check's."""
    receiver_bound: int
    """Of those, the receiver's."""
    totals: Mapping[str, int]
    """submitted, receipts, replies, optOuts, unmatchedReceipts since the channel's start."""

    @property
    def submitted(self) -> int:
        return self.totals.get(SUBMITTED, 0)


async def read_activity(redis: aioredis.Redis, channel: ChannelKeys, now: float
                        ) -> ChannelActivity:
    """Sample the channel; binds not seen lately are dropped from the set on the way."""
    pipe = redis.pipeline(transaction=False)
    pipe.zremrangebyscore(channel.binds, "-inf", now - BIND_SEEN_SECONDS)
    pipe.zrange(channel.binds, 0, -1)
    pipe.hgetall(channel.activity)
    _, members, totals = await pipe.execute()
    names = list(members)
    return ChannelActivity(
        at=now,
        bound=len(names),
        receiver_bound=sum(1 for n in names if n.startswith(RECEIVER_PREFIX)),
        totals={k: int(v) for k, v in totals.items()},
    )


async def forget_channel(redis: aioredis.Redis, channel: ChannelKeys) -> None:
    """Drop the channel's keys (the Channel was deleted)."""
    await redis.delete(channel.binds, channel.activity, channel.receipts, channel.gcra,
                       channel.replies, channel.replies_sending)

