"""What crossed a channel, as senders and its receiver report it, for the Channel's status.

Every process holding binds to a channel (senders of any campaign, the channel's
receiver) notes in Redis, about once a second, which of its binds are up: a sorted set
of bind names scored by the time each was last seen up. A bind not seen for
`BIND_SEEN_SECONDS` is not counted, so a killed pod drops out by itself with no
cleanup. Running totals (messages submitted, receipts, replies, opt-outs) go to one
hash; the operator samples them to measure throughput. Both are channel keys (one hash
tag), written in the pipelines the writers already send.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from sender.redis_keys import ChannelKeys

BIND_SEEN_SECONDS = 30.0
"""A bind last seen up longer ago than this is counted down (its pod is gone)."""
HEARTBEAT_SECONDS = 1.0
RECEIVER_PREFIX = "receiver/"

SUBMITTED = "submitted"
RECEIPTS = "receipts"
REPLIES = "replies"
OPT_OUTS = "optOuts"
UNMATCHED = "unmatchedReceipts"


def bind_name(role: str, index: int) -> str:
    """A name unique to this process's bind: role/host/pid/index."""
    return f"{role}/{socket.gethostname()}/{os.getpid()}/{index}"


def note_binds(pipe: Any, channel: ChannelKeys, binds: Mapping[str, bool], now: float) -> None:
    """Queue on `pipe` (a pipeline) which of this process's binds are up at `now`."""
    up = {name: now for name, is_up in binds.items() if is_up}
    down = [name for name, is_up in binds.items() if not is_up]
    if up:
        pipe.zadd(channel.binds, up)
    if down:
        pipe.zrem(channel.binds, *down)


@dataclass(frozen=True)
class ChannelActivity:
    """One sample of a channel's binds and totals."""

    at: float
    """Unix time of the sample."""
    bound: int
    """Binds seen up lately, senders' and receiver's."""
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
    names = [_text(m) for m in members]
    return ChannelActivity(
        at=now,
        bound=len(names),
        receiver_bound=sum(1 for n in names if n.startswith(RECEIVER_PREFIX)),
        totals={_text(k): int(v) for k, v in totals.items()},
    )


async def forget_channel(redis: aioredis.Redis, channel: ChannelKeys) -> None:
    """Drop the channel's keys (the Channel was deleted)."""
    await redis.delete(channel.binds, channel.activity, channel.receipts, channel.gcra)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
