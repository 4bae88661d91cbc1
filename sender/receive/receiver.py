"""A channel's receiver: one long-lived bind that takes late receipts and subscriber replies.

Senders exit when their shard is done, but receipts keep coming for hours (a phone off
until morning), and replies (TD, STOP) at any time. The SMSC sends them to any
receiver or transceiver bind of the account, so the operator keeps one receiver per
Channel (a Deployment of `herald receiver`):

    deliver_sm (receipt) -> channel receipts hash -> transition of the campaign it names
    deliver_sm (reply)   -> opt-out set (and its log) when the text is an opt-out
                            keyword, or out of it for the channel's opt-in keywords;
                            a request on the channel's replies stream when it may be
                            a keyword (short, from a number)
    replies stream       -> answers (spec.keywordReplies), from every bind of the
                            channel, submitted here (sender.receive.answers)

With keyword replies the receiver submits too: its bind is a transceiver, or with
bindMode TransmitterAndReceiver a receiver and a transmitter (two of the carrier's
binds), and answers take tokens from the channel's rate limit as campaigns do.

Everything is batched: receipts wait in memory for the next flush (every
`flush_interval`), then one HMGET finds their campaigns and one transitions.lua call
per campaign applies them. Bounded: when Redis falls behind and `max_pending` receipts
wait, new deliver_sm are answered ESME_RX_T_APPN (temporary application error), which
tells the SMSC to deliver them again later rather than having them lost.

What a crash loses: receipts and replies answered ESME_ROK and not yet flushed (one
flush interval's worth; a reply lost so is neither applied nor answered). SMPP has no
way to ack after the write; a shorter interval narrows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from crds.channel import Gsm7Coding
from sender import metrics
from sender.receive.answers import AnswerStats, ReplySender
from sender.run_config import ReplyTarget
from sender.smpp.bind import BindSettings, SmppBind
from sender.smpp.codes import ESM_DELIVERY_RECEIPT, CommandStatus
from sender.smpp.pdu import DeliverSm
from sender.sms.numbers import mask_number
from sender.sms.receipts import read_receipt
from sender.sms.replies import ReplyRules
from sender.store.channel_activity import (
    HEARTBEAT_SECONDS,
    RECEIPTS,
    RECEIVER_PREFIX,
    UNMATCHED,
    BindSlot,
    bind_names,
    count_activity,
    record_receiver_activity,
    release_binds,
)
from sender.store.correlations import (
    SETTLE_RETRY_SECONDS,
    SETTLE_SECONDS,
    UNMATCHED_GRACE_SECONDS,
    PendingReceipt,
    ReceiptApplier,
    look_up,
)
from sender.store.keys import ChannelKeys
from sender.store.keyword_replies import ReplyRequest, take_reply
from sender.store.opt_outs import OptChange
from sender.store.rate_limit import RateLimiter, channel_bucket

logger = logging.getLogger(__name__)



@dataclass
class ReceiverStats:
    receipts: int = 0
    applied: int = 0
    unmatched: int = 0
    replies: int = 0
    opt_outs: int = 0
    opt_ins: int = 0
    unreadable_sources: int = 0
    """Keyword replies whose source could not be read as a number (national format and
    no defaultRegion on the Channel)."""
    refused: int = 0
    """deliver_sm answered ESME_RX_T_APPN because Redis was behind."""
    answers: AnswerStats | None = None
    """What became of the keyword replies it answered (with keywordReplies)."""


class ChannelReceiver:
    """Holds one bind (Receiver mode, or Transceiver to answer keywords; or a Receiver
    and a Transmitter) and folds what comes in into Redis."""

    def __init__(self, redis: aioredis.Redis, channel: ChannelKeys, bind: BindSettings, *,
                 max_binds: int = 0, flush_interval: float = 0.2,
                 max_pending: int = 50_000, replies: ReplyRules | None = None,
                 answers: ReplyTarget | None = None, transmitter: BindSettings | None = None,
                 coding: Gsm7Coding = Gsm7Coding.SMSC_DEFAULT) -> None:
        self.redis = redis
        self.channel = channel
        settings = [bind] if transmitter is None else [bind, transmitter]
        self.bind_names = bind_names(RECEIVER_PREFIX.rstrip("/"), len(settings))
        self.bind_name = self.bind_names[0]
        self.binds = [
            SmppBind(b, self, name=f"{b.system_id}@receiver" + (f"#{i}" if i else ""),
                     gate=BindSlot(redis, channel, name, max_binds) if max_binds else None)
            for i, (b, name) in enumerate(zip(settings, self.bind_names, strict=True))]
        self.bind = self.binds[0]
        self.answering: ReplySender | None = None
        if answers is not None:
            submitting = next((b for b in self.binds if b.submits), None)
            if submitting is None:
                raise ValueError("keyword replies need a bind that submits: a Transceiver"
                                 " or a Transmitter beside the Receiver")
            limiter = RateLimiter(redis, channel_bucket(channel.namespace, channel.name,
                                                        answers.rate, answers.burst),
                                  batch=1)  # a few answers must not hold campaigns' tokens
            self.answering = ReplySender(redis, channel, submitting, limiter, answers, coding)
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.stats = ReceiverStats()
        self._receipts: list[PendingReceipt] = []
        self._opt_changes: list[OptChange] = []
        self._requests: list[ReplyRequest] = []
        self.replies = replies or ReplyRules()
        self._replies = 0
        self._applier = ReceiptApplier(redis, channel)

    # -- what the bind reports (BindListener) ---------------------------------------------

    def submits_done(self, done: Sequence[tuple[Any, int, str]]) -> None:
        """Only answers are submitted here."""
        if self.answering is not None:
            for ref, status, message_id in done:
                self.answering.submit_done(ref, status, message_id)

    def lost(self, refs: Sequence[Any], reason: str) -> None:
        if self.answering is not None:
            self.answering.lost(refs, reason)

    def _behind(self) -> bool:
        """Redis is behind: a deliver_sm is refused (the SMSC sends it again later)."""
        if len(self._receipts) + len(self._opt_changes) + len(self._requests) < self.max_pending:
            return False
        self.stats.refused += 1
        return True

    def receipts_in(self, receipts: Sequence[tuple[bytes, dict[int, bytes]]]) -> list[int]:
        return [self.receipt(short_message, tlvs) for short_message, tlvs in receipts]

    def receipt(self, short_message: bytes, tlvs: dict[int, bytes]) -> int:
        if self._behind():
            return CommandStatus.ESME_RX_T_APPN
        receipt = read_receipt(short_message, tlvs)
        if receipt is not None and receipt.state is not None:
            self.stats.receipts += 1
            self._receipts.append(PendingReceipt(receipt.smsc_id, receipt.state,
                                                 receipt.error, time.monotonic()))
        return CommandStatus.ESME_ROK

    def deliver(self, pdu: DeliverSm) -> int:
        if pdu.esm_class & ESM_DELIVERY_RECEIPT:
            return self.receipt(pdu.short_message, pdu.tlvs)
        if self._behind():
            return CommandStatus.ESME_RX_T_APPN
        self.stats.replies += 1
        self._replies += 1
        taken = take_reply(pdu, self.replies, self.channel.ref, time.time())
        reply, change = taken.reply, taken.change
        if taken.request is not None:
            self._requests.append(taken.request)
        if change is not None:
            self._opt_changes.append(change)
            logger.info("%s from %s", reply.kind, mask_number(change.number))
        elif reply.keyword and reply.number is None:
            self.stats.unreadable_sources += 1
            logger.warning("a %s reply from %r, a number the channel cannot read (set"
                           " its defaultRegion)", reply.kind, mask_number(pdu.source_addr))
        return CommandStatus.ESME_ROK

    # -- the run ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> ReceiverStats:
        """Hold the binds, answer keywords and flush until `stop` is set; flush what is
        left, unbind."""
        bind_tasks = [asyncio.create_task(b.run(), name=b.name) for b in self.binds]
        answer_task = (asyncio.create_task(self.answering.run(stop), name="answers")
                       if self.answering is not None else None)
        noted = 0.0
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.flush_interval):
                        await stop.wait()
                now = time.time()
                beat = now - noted >= HEARTBEAT_SECONDS
                try:
                    await self.flush(heartbeat=beat)
                    noted = now if beat else noted
                except (RedisError, OSError) as error:
                    logger.warning("receiver: Redis write failed, will retry: %s", error)
        finally:
            if answer_task is not None:  # it may wait on a bind that is down: no longer
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await asyncio.shield(answer_task)
                answer_task.cancel()
                await asyncio.gather(answer_task, return_exceptions=True)
            for bind in self.binds:
                await bind.stop()
            for task in bind_tasks:
                task.cancel()
            await asyncio.gather(*bind_tasks, return_exceptions=True)
            with contextlib.suppress(RedisError, OSError):
                await self._settle()  # the last receipts; the binds are now down
                if self.answering is not None:
                    await self.answering.flush()  # answers settled, unknown ones too
                await release_binds(self.redis, self.channel, self.bind_names)
        if self.answering is not None:
            self.stats.answers = self.answering.stats
        return self.stats

    async def _settle(self) -> None:
        """Flush, and look up the receipts still waiting for their `submitted` write for
        at most SETTLE_SECONDS: they were answered, so the SMSC will not send them again."""
        deadline = time.monotonic() + SETTLE_SECONDS
        await self.flush()
        while self._receipts and time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_RETRY_SECONDS)
            await self.flush()

    async def flush(self, *, heartbeat: bool = False) -> None:
        """Write opt-outs and apply receipts that can be matched; keep the others."""
        receipts, self._receipts = self._receipts, []
        changes, self._opt_changes = self._opt_changes, []
        requests, self._requests = self._requests, []
        replies, self._replies = self._replies, 0
        try:
            await self._write_activity(changes, requests, replies, heartbeat)
        except BaseException:
            self._opt_changes[:0], self._replies = changes, self._replies + replies
            self._requests[:0] = requests
            self._receipts[:0] = receipts
            raise
        try:
            again = await self._apply(receipts)
        except BaseException:
            self._receipts[:0] = receipts
            raise
        now = time.monotonic()
        kept = [r for r in again if now - r.seen < UNMATCHED_GRACE_SECONDS]
        self._receipts[:0] = kept  # before any other await: a failure must not lose them
        dropped = len(again) - len(kept)
        if dropped:
            self.stats.unmatched += dropped
            await count_activity(self.redis, self.channel, UNMATCHED, dropped)

    async def _write_activity(self, changes: list[OptChange], requests: list[ReplyRequest],
                              replies: int, heartbeat: bool) -> None:
        binds: dict[str, bool] = {}
        if heartbeat:
            for name, bind in zip(self.bind_names, self.binds, strict=True):
                binds[name] = bind.gate.held if bind.gate else bind.is_up
            metrics.BINDS_UP.labels(self.channel.ref, "receiver").set(
                sum(int(b.is_up) for b in self.binds))
        await record_receiver_activity(self.redis, self.channel, opt_changes=changes,
                                       replies=replies, binds=binds, now=time.time(),
                                       requests=requests)
        ins = sum(1 for c in changes if c.opted_in)
        self.stats.opt_outs += len(changes) - ins
        self.stats.opt_ins += ins

    async def _apply(self, receipts: list[PendingReceipt]) -> list[PendingReceipt]:
        """Apply the receipts found in the channel's hash; return those to look up again."""
        if not receipts:
            return []
        found = await look_up(self.redis, self.channel, receipts)
        matched = [(r, c) for r, c in zip(receipts, found, strict=True) if c is not None]
        again = [r for r, c in zip(receipts, found, strict=True) if c is None]
        retry, applied = await self._applier.apply(matched)
        self.stats.applied += applied
        await count_activity(self.redis, self.channel, RECEIPTS, applied)
        return again + retry

