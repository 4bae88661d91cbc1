"""The channel receiver's answers to keyword replies: read the channel's replies stream,
decide, take the channel's tokens, submit, ack.

    replies stream (every bind of the channel appends; sender.store.keyword_replies)
      -> too old: dropped  -> no answer configured: acked  -> custom label: recorded
      -> opted out (or, for an opt-out, its confirmation not owed): acked unsent
      -> channel rate limit (one token per part)  -> mark sending  -> submit_sm
      <- submit_sm_resp: acked; throttled or temporary: again later; permanent: acked

What an answer says, and whether it goes, is decided when it is about to go, from the
Channel's texts and the number's standing then: a START that came a moment after a
STOP (before the STOP was answered) cancels the STOP's confirmation, and a HELP from a
number opted out by then gets nothing.

An answer goes from the address the reply was sent to (its destination_addr, TON and NPI
as the SMSC wrote them) to the address it came from, with no delivery receipt asked (no
campaign waits for it). It takes its tokens from the channel's bucket like any campaign
message, and from its address's when the pool limits that address (messagesPerSecond),
so answers and campaigns together stay within the carrier's rates. An answer's
entry is acked only once its submit is answered; one on the wire when the bind dropped
or the receiver stopped is unknown, sent again only under retry.resendUnknown
(at-most-once otherwise, as for campaigns).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from crds.channel import ErrorClass, Gsm7Coding
from sender import metrics
from sender.run_config import ReplyTarget
from sender.smpp.bind import BindDown, SmppBind
from sender.smpp.codes import ESM_UDHI, CommandStatus
from sender.smpp.errors import after_failure, resend_lost, status_name
from sender.smpp.pdu import SubmitSm
from sender.sms.numbers import mask_number
from sender.sms.payloads import ALPHABET, payloads
from sender.sms.replies import KeywordAnswers, ReplyKind
from sender.store.keys import ChannelKeys
from sender.store.keyword_replies import (
    REPLY_MAX_AGE_SECONDS,
    Pending,
    ReplyQueue,
    ReplyRequest,
    record_labels,
)
from sender.store.rate_limit import Bucket, RateLimiter

logger = logging.getLogger(__name__)

def answer_pdus(request: ReplyRequest, text: str, coding: Gsm7Coding,
                reference: int) -> list[SubmitSm]:
    """The submit_sm of an answer: from the address the reply went to, back to its
    sender; in the channel's alphabet (UCS-2 when the text needs it), in concatenated
    parts when long. Pure."""
    encoded = payloads(text, ALPHABET[coding], reference)
    return [SubmitSm(source_addr_ton=request.via.ton, source_addr_npi=request.via.npi,
                     source_addr=request.via.addr, dest_addr_ton=request.to.ton,
                     dest_addr_npi=request.to.npi, destination_addr=request.to.addr,
                     esm_class=ESM_UDHI if encoded.concatenated else 0,
                     data_coding=encoded.data_coding, short_message=payload)
            for payload in encoded.parts]


@dataclass
class AnswerStats:
    answered: int = 0
    """Answers the SMSC accepted."""
    unanswerable: int = 0
    """Replies with no answer configured (chatter, or keywords of no one)."""
    suppressed: int = 0
    """Answers not sent: the number is opted out, or its opt-out was confirmed before."""
    stale: int = 0
    """Replies older than REPLY_MAX_AGE_SECONDS when read."""
    labelled: int = 0
    failed: int = 0
    unknown: int = 0
    retried: int = 0


@dataclass(eq=False)
class _Answer:
    pending: Pending
    pdus: list[SubmitSm]
    attempts: int = 0
    parts_left: int = 0
    failure: int = 0
    lost: bool = False


@dataclass
class _Due:
    at: float
    answer: _Answer = field(compare=False)


class ReplySender:
    """Answers a channel's keyword replies on one submitting bind (see the module doc).
    The receiver passes on what the bind reports about submits (submit_done, lost)."""

    def __init__(self, redis: aioredis.Redis, channel: ChannelKeys, bind: SmppBind,
                 limiter: RateLimiter, target: ReplyTarget,
                 coding: Gsm7Coding = Gsm7Coding.SMSC_DEFAULT) -> None:
        self.redis = redis
        self.channel = channel
        self.bind = bind
        self.limiter = limiter
        # A pool address's own bucket (messagesPerSecond), found by the address the
        # reply came to as the SMSC wrote it: with or without its "+".
        self.source_limiters = {
            address.lstrip("+"): RateLimiter(redis, Bucket(channel.source_gcra(address), rate),
                                             batch=1)
            for address, rate in target.source_rates.items()}
        self.target = target
        self.answers = KeywordAnswers.of(target.replies)
        self.coding = coding
        self.queue = ReplyQueue(redis, channel)
        self.stats = AnswerStats()
        self._done: list[str] = []
        self._due: list[_Due] = []
        self._taken: set[str] = set()
        """Entries this process has in hand (on the wire, due again, settled and not yet
        acked): reading the pending list again after a Redis error passes over them."""
        self._reference = 0

    # -- the loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, block_ms: int = 200) -> None:
        """Answer until `stop`; Redis errors are logged and retried, never fatal."""
        recovered = False
        while not stop.is_set():
            try:
                if not recovered:
                    await self.queue.ensure_group()
                    await self._recover()
                    recovered = True
                await self.flush()
                await self._answer(await self.queue.read(block_ms=block_ms))
                await self._retry_due()
            except (RedisError, OSError) as error:
                # What was read and not yet taken in hand is pending in the stream: read
                # the pending list again, not only new entries, or it waits for a restart.
                recovered = False
                logger.warning("answers: Redis failed, will retry: %s", error)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await stop.wait()

    async def flush(self) -> None:
        """Ack what is settled."""
        done, self._done = self._done, []
        try:
            await self.queue.done(done)
        except BaseException:
            self._done[:0] = done
            raise
        self._taken.difference_update(done)

    def _settle(self, entry: str) -> None:
        """The reply is decided: acked at the next flush."""
        self._done.append(entry)
        self._taken.add(entry)

    async def _recover(self) -> None:
        """What the last receiver left: answers maybe on the wire are unknown (sent again
        only with resendUnknown); the others are answered now."""
        pending = [p for p in await self.queue.recover() if p.entry not in self._taken]
        fresh = []
        for item in pending:
            if item.was_sending and not self.target.resend_unknown:
                self._note("unknown", item.request.kind)
                self._settle(item.entry)
            else:
                fresh.append(item)
        if pending:
            logger.info("answers: %d replies left pending, %d to answer now", len(pending),
                        len(fresh))
        await self._answer(fresh)

    async def _answer(self, pending: Sequence[Pending]) -> None:
        now = time.time()
        todo: list[tuple[Pending, str]] = []
        marks = []
        for item in pending:
            request = item.request
            answer = self.answers.answer(request.kind, request.text) if request.ref else None
            if answer is not None and answer.label:
                marks.append((request.number, answer.label, request.text, request.at))
            if answer is None:
                self._note("unanswerable", request.kind)
                self._settle(item.entry)
            elif now - request.at > REPLY_MAX_AGE_SECONDS:
                self._note("stale", request.kind)
                self._settle(item.entry)
            else:
                todo.append((item, answer.text))
        await record_labels(self.redis, self.channel.namespace, self.channel.ref, marks)
        self.stats.labelled += len(marks)
        standing = await self.queue.standing([item.request for item, _ in todo])
        for (item, text), seen in zip(todo, standing, strict=True):
            # Nothing to a number that is opted out but its one confirmation; an opt-out
            # whose marker another request holds was confirmed already (or is owed by a
            # later STOP, after a START).
            if item.request.kind == ReplyKind.OPT_OUT:
                send = seen.owed_confirmation and seen.opted_out
            else:
                send = not seen.opted_out
            if send:
                self._reference += 1
                await self._submit(_Answer(item, answer_pdus(item.request, text, self.coding,
                                                             self._reference)))
            else:
                self._note("suppressed", item.request.kind)
                self._settle(item.entry)

    async def _submit(self, answer: _Answer) -> None:
        """Write every part, each with a window slot and a token of the channel's bucket;
        the mark goes just before the first write, after the waits (for the bind, for
        tokens), so that a receiver stopped while waiting leaves no mark on an answer
        that never went (it would count as unknown, and not be sent, after a restart)."""
        entry = answer.pending.entry
        answer.parts_left, answer.failure, answer.lost = len(answer.pdus), 0, False
        sent = 0
        while sent < len(answer.pdus):
            slots = await self.bind.reserve(len(answer.pdus) - sent)
            try:
                for limiter in self._limiters(answer):
                    tokens = 0
                    while tokens < slots:
                        tokens += await limiter.acquire(slots - tokens)
                if sent == 0:
                    await self.queue.sending(entry)
                    self._taken.add(entry)
            except BaseException:  # nothing of these slots went out: give them back
                self.bind.release(slots)
                raise
            parts = answer.pdus[sent:sent + slots]
            try:
                self.bind.send([(pdu.encode_body(), answer) for pdu in parts])
            except BindDown:
                if sent == 0:  # nothing went out: not unknown, just later
                    await self.queue.unmark(entry)
                    self._later(answer, 1.0)
                else:  # the parts sent are reported lost by the bind; these never went
                    answer.lost = True
                    self._parts_settled(answer, len(answer.pdus) - sent)
                return
            sent += len(parts)

    def _limiters(self, answer: _Answer) -> list[RateLimiter]:
        """The buckets an answer's parts take tokens of: the channel's, and its
        address's when the pool limits it."""
        source = self.source_limiters.get(answer.pending.request.via.addr.lstrip("+"))
        return [self.limiter] if source is None else [self.limiter, source]

    # -- what the bind reports --------------------------------------------------------

    def submit_done(self, ref: Any, status: int, message_id: str) -> None:
        answer: _Answer = ref
        if status != CommandStatus.ESME_ROK and answer.failure == 0:
            answer.failure = status
        self._parts_settled(answer, 1)

    def lost(self, refs: Sequence[Any], reason: str) -> None:
        for answer in refs:
            answer.lost = True
            self._parts_settled(answer, 1)

    def _parts_settled(self, answer: _Answer, parts: int) -> None:
        answer.parts_left -= parts
        if answer.parts_left > 0:
            return
        entry, number = answer.pending.entry, mask_number(answer.pending.request.number)
        target = self.target
        if answer.lost:
            if resend_lost(answer.attempts, resend_unknown=target.resend_unknown,
                           max_attempts=target.max_attempts):
                answer.attempts += 1
                self.stats.retried += 1
                self._later(answer, 0.0)
            else:
                self._note("unknown", answer.pending.request.kind)
                self._settle(entry)
            return
        if answer.failure == 0:
            self._note("answered", answer.pending.request.kind)
            self._settle(entry)
            logger.info("answered a %s reply from %s", answer.pending.request.kind, number)
            return
        kind, delay = after_failure(
            answer.failure, answer.attempts, max_attempts=target.max_attempts,
            initial_backoff=target.initial_backoff_seconds,
            max_backoff=target.max_backoff_seconds, overrides=target.error_overrides)
        if kind == ErrorClass.THROTTLED:  # slows down, never fails (the age limit ends it)
            self.limiter.slow_down()
            self.stats.retried += 1
            self._later(answer, target.initial_backoff_seconds)
        elif kind == ErrorClass.TEMPORARY:
            answer.attempts += 1
            self.stats.retried += 1
            self._later(answer, delay)
        else:
            self._note("failed", answer.pending.request.kind)
            self._settle(entry)
            logger.warning("an answer to %s failed: %s", number, status_name(answer.failure))

    def _note(self, outcome: str, kind: ReplyKind) -> None:
        """Count a reply decided: in the figures, and in the metric (sender.metrics)."""
        setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        metrics.KEYWORD_ANSWERS.labels(self.channel.ref, kind.value, outcome).inc()

    def _later(self, answer: _Answer, delay: float) -> None:
        self._taken.add(answer.pending.entry)
        self._due.append(_Due(time.monotonic() + delay, answer))

    async def _retry_due(self) -> None:
        now = time.monotonic()
        for item in [d for d in self._due if d.at <= now]:
            self._due.remove(item)  # one at a time: a Redis error leaves the rest due
            request = item.answer.pending.request
            if time.time() - request.at > REPLY_MAX_AGE_SECONDS:
                self._note("stale", request.kind)
                self._settle(item.answer.pending.entry)
                continue
            try:
                await self._submit(item.answer)
            except BaseException:
                self._due.append(item)
                raise
