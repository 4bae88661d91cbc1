"""The opt-out set and its log: who opted out or back in, when, on which channel, how.

The set (`herald:optout`, keys.OPT_OUT_SET) is what the importer and the senders check;
it is shared by every campaign of every namespace of this Herald install: a person who
replied STOP to any channel gets nothing from any campaign that respects opt-outs.
Separate brands that must not share opt-outs run separate installs (separate Redis).

Each change is also logged, per number, in `herald:optout:log` (keys.OPT_OUT_LOG): the
last change as "out|in UNIX_TIME CHANNEL KEYWORD", so a carrier's or a regulator's
question "when did this number opt out, and how" has an answer. Changes are queued on
the writers' pipelines in order, so STOP then START in one batch ends opted in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from sender.sms.replies import Reply, ReplyKind
from sender.store.keys import OPT_OUT_CONFIRM, OPT_OUT_LOG, OPT_OUT_SET

OPT_OUTS = "optOuts"
OPT_INS = "optIns"
"""Names of the channel activity totals the changes add to."""


@dataclass(frozen=True)
class OptChange:
    number: str
    """E.164."""
    opted_in: bool
    """True: back in (a START reply); False: out."""
    at: float
    """Unix time of the reply."""
    channel: str
    """NAMESPACE/NAME of the channel the reply came on."""
    keyword: str
    confirm_ref: str = ""
    """For an opt-out: the ref of its keyword-reply request, claimed as the number's owed
    confirmation (sender.store.keyword_replies); empty: none claimed."""


def change_of(reply: Reply, channel: str, at: float, confirm_ref: str = "") -> OptChange | None:
    """The change a reply asks for, if any (None too when its number is unknown)."""
    if reply.number is None or reply.kind == ReplyKind.OTHER:
        return None
    opted_in = reply.kind == ReplyKind.OPT_IN
    return OptChange(reply.number, opted_in, at, channel, reply.keyword,
                     "" if opted_in else confirm_ref)


def queue_changes(pipe: Any, changes: Sequence[OptChange], channel_activity: str) -> None:
    """Queue the changes on a pipeline (transaction=False): set, log, channel totals. An
    opt-out with a confirm_ref claims the number's confirmation unless one is owed
    already (HSETNX); an opt-in forgets it, so that the next opt-out is confirmed again
    (sender.store.keyword_replies). In order: STOP, START, STOP in one batch owes the
    second STOP's."""
    for change in changes:
        if change.opted_in:
            pipe.srem(OPT_OUT_SET, change.number)
            pipe.hdel(OPT_OUT_CONFIRM, change.number)
        else:
            pipe.sadd(OPT_OUT_SET, change.number)
            if change.confirm_ref:
                pipe.hsetnx(OPT_OUT_CONFIRM, change.number, change.confirm_ref)
        word = "in" if change.opted_in else "out"
        pipe.hset(OPT_OUT_LOG, change.number,
                  f"{word} {change.at:.0f} {change.channel} {change.keyword}")
    outs = sum(1 for c in changes if not c.opted_in)
    if outs:
        pipe.hincrby(channel_activity, OPT_OUTS, outs)
    if len(changes) > outs:
        pipe.hincrby(channel_activity, OPT_INS, len(changes) - outs)


async def opt_out_record(redis: aioredis.Redis, number: str) -> tuple[bool, str | None]:
    """Whether the number is opted out now, and its last logged change."""
    pipe = redis.pipeline(transaction=False)
    pipe.sismember(OPT_OUT_SET, number)
    pipe.hget(OPT_OUT_LOG, number)
    member, logged = await pipe.execute()
    return bool(member), logged
