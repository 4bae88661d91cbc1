"""Keyword replies in Redis: the requests every bind of a channel takes, the receiver's
queue of them, the once-per-opt-out confirmation, and the labels custom keywords record.

Replies (MO) come to any receiving bind of a channel: the channel receiver's, or a
sender's transceiver. Whichever takes one that may be a keyword (short enough, from a
number it can read) appends a request to the channel's replies stream
(`herald:{channel:NS/NAME}:replies`), in the same pipeline as the opt-out or opt-in it
causes. Only the channel receiver reads the stream and answers: it has the channel's
current keywordReplies (its Deployment rolls when the Channel changes), where a sender
has what its run froze. So what a keyword means is decided in one place, at answer time.

Crash safety. An entry is acked only once its answer's submit_sm is answered (or it is
decided there is nothing to send). Before the submit goes out, the entry is marked in
`replies:sending`; an entry found pending and marked after a restart may be on the
SMSC's side, and is not sent again unless the channel's retry.resendUnknown says so:
the same at-most-once rule as a campaign's messages.

Once per opt-out. An opt-out with a request sets `herald:optout:confirm` NUMBER to the
request's ref with HSETNX, next to the SADD that opts the number out, in the writer's
pipeline (sender.store.opt_outs.queue_changes); an opt-in deletes it. The receiver
sends the confirmation only for the request whose ref the hash holds, while the number
is opted out: a second STOP (or the SMSC delivering the same STOP twice) finds the
first one's ref there and gets nothing, and a STOP after START is confirmed again. No
second round trip and no script across hash tags: the hash is a plain command in the
writer's pipeline (transaction=False).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from sender.smpp.pdu import DeliverSm
from sender.sms.replies import Reply, ReplyKind, ReplyRules, read_reply, reply_text
from sender.store.keys import (
    OPT_OUT_CONFIRM,
    OPT_OUT_SET,
    RECEIVER_GROUP,
    ChannelKeys,
    labelled,
    labels,
)
from sender.store.opt_outs import OptChange, change_of

REPLIES_MAXLEN = 10_000
"""Most requests a channel's stream keeps (approximately): with no receiver reading it
(no keyword replies configured), it holds the latest and no more."""
REPLY_MAX_AGE_SECONDS = 600.0
"""A request older than this when the receiver reads it is dropped, unanswered: an
answer to a HELP sent an hour ago (the receiver was down) is noise, not help."""
RECEIVER_CONSUMER = "receiver"
"""One receiver per channel (its Deployment is Recreate): a restarted one finds what the
last one left pending under the same name."""


@dataclass(frozen=True)
class Address:
    """An SMPP address as the deliver_sm wrote it."""

    addr: str
    ton: int = 0
    npi: int = 0


@dataclass(frozen=True)
class ReplyRequest:
    """A reply (MO) that may be a keyword, to be answered by the channel's receiver."""

    ref: str
    """Random; the value of the opt-out confirmation marker for an opt-out."""
    number: str
    """E.164 of the sender of the reply."""
    kind: ReplyKind
    text: str
    """The reply's text, folded (sender.sms.replies.fold)."""
    to: Address
    """Where an answer goes: the reply's source address."""
    via: Address
    """Where it comes from: the address the reply was sent to (its destination_addr)."""
    at: float
    """Unix time the reply came."""

    def fields(self) -> dict[str, str]:
        return {"ref": self.ref, "number": self.number, "kind": self.kind.value,
                "text": self.text, "to": self.to.addr, "to_ton": str(self.to.ton),
                "to_npi": str(self.to.npi), "via": self.via.addr,
                "via_ton": str(self.via.ton), "via_npi": str(self.via.npi),
                "at": f"{self.at:.3f}"}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> ReplyRequest:
        return cls(fields["ref"], fields["number"], ReplyKind(fields["kind"]), fields["text"],
                   Address(fields["to"], int(fields["to_ton"]), int(fields["to_npi"])),
                   Address(fields["via"], int(fields["via_ton"]), int(fields["via_npi"])),
                   float(fields["at"]))


def request_of(reply: Reply, source: Address, destination: Address, at: float
               ) -> ReplyRequest | None:
    """The request for a reply, if it may be a keyword and its number is known."""
    if reply.number is None or not reply.text:
        return None
    return ReplyRequest(secrets.token_hex(8), reply.number, reply.kind, reply.text, source,
                        destination, at)


@dataclass(frozen=True)
class TakenReply:
    """What one reply a bind took asks of Redis, beside counting it."""

    reply: Reply
    change: OptChange | None
    """Its opt-out or opt-in, if it is one."""
    request: ReplyRequest | None
    """Its request to be answered, if the channel answers keywords and it may be one."""


def take_reply(pdu: DeliverSm, rules: ReplyRules, channel: str, now: float) -> TakenReply:
    """Read a deliver_sm that is not a receipt (a sender's transceiver and the channel
    receiver alike): its reply, its opt change and its request. The change carries the
    request's ref, its claim on the confirmation (see the module's text). Pure."""
    reply = read_reply(pdu.source_addr, pdu.source_addr_ton,
                       reply_text(pdu.payload, pdu.data_coding), rules)
    request = request_of(
        reply, Address(pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi),
        Address(pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi), now,
    ) if rules.answered else None
    return TakenReply(reply, change_of(reply, channel, now, request.ref if request else ""),
                      request)


async def add_requests(redis: aioredis.Redis, channel: ChannelKeys,
                       requests: Sequence[ReplyRequest]) -> None:
    """Add the requests to the channel's stream, once their opt changes are written (an
    opt-out's claim on its confirmation rides with the change: OptChange.confirm_ref,
    queue_changes). A round trip of their own, not the changes' pipeline: on a Redis
    Cluster a pipeline's commands to different nodes keep no order, and the receiver
    could read a request before its claim is there (and send no confirmation)."""
    if not requests:
        return
    pipe = redis.pipeline(transaction=False)
    for request in requests:
        fields: dict[Any, Any] = request.fields()  # redis-py's Mapping is invariant
        pipe.xadd(channel.replies, fields, maxlen=REPLIES_MAXLEN, approximate=True)
    await pipe.execute()


@dataclass(frozen=True)
class Pending:
    """A request read from the stream, with its entry id."""

    entry: str
    request: ReplyRequest
    was_sending: bool = False
    """Found pending and marked after a restart: its answer may have gone out."""


@dataclass(frozen=True)
class Standing:
    """What Redis says of a request's number when it is about to be answered."""

    opted_out: bool
    owed_confirmation: bool
    """For an opt-out: this request holds the number's confirmation marker."""


class ReplyQueue:
    """The receiver's side of a channel's replies stream (see the module doc)."""

    def __init__(self, redis: aioredis.Redis, channel: ChannelKeys) -> None:
        self.redis = redis
        self.channel = channel

    async def ensure_group(self) -> None:
        """Create the consumer group (from the stream's start: old entries age out)."""
        try:
            await self.redis.xgroup_create(self.channel.replies, RECEIVER_GROUP, id="0",
                                           mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def recover(self, count: int = 500) -> list[Pending]:
        """What the last receiver read and did not ack, with whether it was sending: all
        of it, `count` at a time (reading pending entries after an id moves nothing)."""
        pending: list[Pending] = []
        after = "0"
        while True:
            reply = await self.redis.xreadgroup(RECEIVER_GROUP, RECEIVER_CONSUMER,
                                                {self.channel.replies: after}, count=count)
            page = self._entries(reply)
            pending += page
            if len(page) < count:
                break
            after = page[-1].entry
        if not pending:
            return []
        marks = await self.redis.hmget(self.channel.replies_sending,
                                       [p.entry for p in pending])
        return [Pending(p.entry, p.request, mark is not None)
                for p, mark in zip(pending, marks, strict=True)]

    async def read(self, count: int = 50, block_ms: int = 200) -> list[Pending]:
        """New requests, waiting up to `block_ms` for one."""
        reply = await self.redis.xreadgroup(RECEIVER_GROUP, RECEIVER_CONSUMER,
                                            {self.channel.replies: ">"}, count=count,
                                            block=block_ms)
        return self._entries(reply)

    def _entries(self, reply: Any) -> list[Pending]:
        found: list[Pending] = []
        for _, entries in reply or ():
            for entry, fields in entries:
                if fields:  # a pending entry trimmed away since reads back empty
                    found.append(Pending(entry, ReplyRequest.from_fields(fields)))
                else:
                    found.append(Pending(entry, _GONE))
        return found

    async def standing(self, requests: Sequence[ReplyRequest]) -> list[Standing]:
        """Whether each number is opted out, and whether each opt-out holds its marker."""
        if not requests:
            return []
        numbers = [r.number for r in requests]
        pipe = self.redis.pipeline(transaction=False)
        pipe.smismember(OPT_OUT_SET, numbers)
        pipe.hmget(OPT_OUT_CONFIRM, numbers)
        opted, markers = await pipe.execute()
        return [Standing(bool(out), r.kind == ReplyKind.OPT_OUT and marker == r.ref)
                for r, out, marker in zip(requests, opted, markers, strict=True)]

    async def sending(self, entry: str) -> None:
        """Mark an answer as about to go on the wire (see the module doc)."""
        await self.redis.hset(self.channel.replies_sending, entry, f"{time.time():.0f}")

    async def unmark(self, entry: str) -> None:
        """Nothing went on the wire after all (the bind was down)."""
        await self.redis.hdel(self.channel.replies_sending, entry)

    async def done(self, entries: Sequence[str]) -> None:
        """Ack requests answered (or with nothing to send) and drop their marks."""
        if not entries:
            return
        # No MULTI (a cluster client's pipeline may not do one); the order is the safety:
        # acked first, so a crash between leaves a stray mark, never an unmarked pending
        # entry that a restart would send again.
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.channel.replies, RECEIVER_GROUP, *entries)
        pipe.hdel(self.channel.replies_sending, *entries)
        await pipe.execute()


_GONE = ReplyRequest("", "", ReplyKind.OTHER, "", Address(""), Address(""), 0.0)
"""A pending entry the stream's cap trimmed away: nothing to answer, only to ack."""


async def record_labels(redis: aioredis.Redis, namespace: str, channel_ref: str,
                        marks: Sequence[tuple[str, str, str, float]]) -> None:
    """Record (number, label, keyword, unix time) marks: the number's labels hash and the
    label's set of numbers (keys.labels, keys.labelled)."""
    if not marks:
        return
    pipe = redis.pipeline(transaction=False)
    for number, label, keyword, at in marks:
        pipe.hset(labels(namespace, number), label, f"{at:.0f} {channel_ref} {keyword}")
        pipe.sadd(labelled(namespace, label), number)
    await pipe.execute()


async def number_labels(redis: aioredis.Redis, namespace: str, number: str) -> dict[str, str]:
    """The labels recorded on a number: label -> "UNIX_TIME CHANNEL KEYWORD"."""
    found = await redis.hgetall(labels(namespace, number))
    return {str(k): str(v) for k, v in found.items()}
