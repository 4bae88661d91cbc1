"""Send one shard of a campaign: Redis stream in, SMPP out, states and receipts back.

    read (XREADGROUP, a batch)  ->  drop opted-out numbers  ->  build PDUs
      -> reserve window slots  ->  charge frequency caps (with one: capped ones stop)
      -> rate-limit tokens  ->  mark `submitting`  ->  write
      <- submit_sm_resp: submitted / retry / failed      <- deliver_sm: receipts, replies

A reply that may be a keyword goes to the channel's replies stream, for the channel's
receiver to answer (sender.store.keyword_replies): a sender only passes it on.

Crash safety rests on two rules. A message is marked `submitting` in Redis before its
PDU is written, so after a SIGKILL the pending entries tell exactly which messages may
be on the SMSC's side (`submitting`: counted unknown, not resent) and which never left
(`queued` or unmarked: sent now). And a message holds a slot of the settle window from
its mark until its outcome is durable in Redis; a slot whose outcome is buffered may pass
to a new message, whose mark is written in the same flush or a later one (SettleWindow).

Messages are marked ahead of the binds' free slots (`mark_ahead`): a slot a response
frees is written at once, not after a Redis round trip for its successor's mark. So the
settle window is the binds' windows plus `ahead`, and Redis never holds more than that
many marked messages without their outcome: the unknowns after a kill never exceed
window + ahead (tests/test_sender_crash.py). A stop (or a diversion to another channel)
returns the marked messages no bind took to `queued`: only those on the wire can end
unknown.

A campaign with a frequency cap sends only messages whose charge is made, and takes
tokens only for them: the charges go ahead of the submits in the background, at most two
windows ahead, a round trip per window or so (sender.send.cap_gate). A charge is
idempotent per message, so a message sent again after a crash is not counted twice; one
the SMSC refuses for good is refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from crds.channel import ErrorClass
from sender import metrics
from sender.send.cap_gate import CapGate
from sender.send.held_messages import HeldMessages
from sender.send.link_codes import LinkCodes
from sender.send.messages import MessageBuilder
from sender.send.outgoing import (
    Outgoing,
    SenderGauges,
    SettleWindow,
    ShardSettings,
    ShardStats,
    after_failure,
    resend_lost,
)
from sender.send.receipt_matching import ReceiptMatcher
from sender.send.shard_reader import ShardReader
from sender.send.source_choice import SourceChooser
from sender.send.source_lanes import SourceLanes
from sender.smpp.bind import BindDown, BindSettings, SmppBind
from sender.smpp.codes import ESM_DELIVERY_RECEIPT, CommandStatus
from sender.smpp.errors import error_class, status_code, status_name
from sender.smpp.pdu import DeliverSm
from sender.sms.countries import counted_country
from sender.sms.numbers import mask_number
from sender.sms.receipts import canonical_id, read_receipt
from sender.sms.states import State, Transition, failed, submitted
from sender.store.channel_activity import (
    HEARTBEAT_SECONDS,
    BindSlot,
    bind_names,
    release_binds,
)
from sender.store.correlations import correlation_value
from sender.store.frequency_caps import FrequencyCaps
from sender.store.keyword_replies import take_reply
from sender.store.lane_moves import Move, move_messages
from sender.store.opt_outs import OptChange
from sender.store.rate_limit import RateLimiter
from sender.store.run_store import read_send_rules, read_unavailable
from sender.store.shard_stream import ShardStream
from sender.store.state_writer import StateWriter
from sender.store.sticky_sources import StickySources
from sender.store.transitions import StateStore
from sender.store.waiting_room import WaitingRoom

logger = logging.getLogger(__name__)

_SUBMITTING: str = State.SUBMITTING.value
_new_tuple = tuple.__new__
# The order _mark and _settle build transitions in: segments, part, parts, country.
assert Transition._fields[4:] == ("segments", "part", "parts", "country")
assert Transition("", "")[4:] == (0, 0, 1, "")  # a mark's: the defaults


def mark_ahead(window: int) -> int:
    """Messages marked `submitting` ahead of the binds' windows (`window`: their sum).

    Enough to refill every slot the responses free while the next mark's flush is on
    its way: the flush waits 1.4-7 ms for a core on a busy two-core box, in which the
    SMSC answers 20-70 submits at 10,000 msg/s. Half a window ran dry there (5,950 msg/s
    with Redis and the simulator on the box, where a whole window made 10,200-10,400,
    bench/README.md). Each is one more message a SIGKILL can leave unknown.
    """
    return max(1, window)


class ShardSender:
    """Sends one shard through one or more binds; `run` returns when the shard is done."""

    def __init__(
        self,
        redis: aioredis.Redis,
        settings: ShardSettings,
        builder: MessageBuilder,
        binds: Sequence[BindSettings],
        limiter: RateLimiter,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.builder = builder
        self._bind_names = bind_names("sender", len(binds))
        self._channel_ref = settings.channel.ref
        self._campaign_ref = settings.campaign.ref  # a property making its string each time
        # Exported at each flush, not a call a message (sender.metrics.BatchHistogram).
        self._latency = metrics.SUBMIT_LATENCY.labels(self._channel_ref)
        self._latencies: list[float] = []  # submit_sm to its response, not yet exported
        self._submitted_metric = metrics.SUBMITTED.labels(self._campaign_ref,
                                                          self._channel_ref)
        self._submitted_exported = 0  # of stats.submitted
        self.binds = [
            SmppBind(b, self, name=f"{b.system_id}#{i}", gate=BindSlot(
                redis, settings.channel, self._bind_names[i], settings.max_binds)
                if settings.max_binds else None)
            for i, b in enumerate(binds)]
        self._binds_noted = 0.0
        # The wire's clock (time.monotonic): the first submit_sm written, the last
        # response read. `herald send` reports the span; the bench's peer counts the same.
        self.first_write = 0.0
        self.last_answer = 0.0
        self._bind_tasks: list[asyncio.Task[None]] = []
        self.limiter = limiter
        self.gauges = SenderGauges(self._channel_ref, self.binds, limiter)
        self.consumer = settings.consumer or f"shard-{settings.shard}"
        self.stream = ShardStream(redis, settings.campaign, settings.shard, self.consumer,
                                  settings.read_batch, settings.variant)
        self.store = StateStore(redis, settings.campaign)
        self.writer = StateWriter(redis, self.store, settings.shard, settings.channel)
        in_flight = sum(b.settings.window for b in self.binds if b.submits)
        self.ahead = mark_ahead(in_flight)
        self.window = SettleWindow(in_flight + self.ahead)
        self._marked: deque[Outgoing] = deque()  # marked, not yet taken by a bind
        self._marked_event = asyncio.Event()
        self.stats = ShardStats()
        self.held = None if settings.send_times is None else HeldMessages(
            settings.send_times, WaitingRoom(redis, settings.campaign, settings.shard),
            self.stream, self.store, self.writer, self.stats, settings.shard,
            settings.channel_name, settings.window_poll_seconds,
            read_rules=lambda: read_send_rules(redis, settings.campaign))
        self.reader = ShardReader(settings, self.stream, self.store, self.writer, builder,
                                  self.stats, held=self.held)
        if settings.links is not None:
            targets = {variant: builder.link_targets(variant) for variant in builder.templates}
            if any(targets.values()):
                self.reader.links = LinkCodes(redis, settings.campaign, settings.channel_name,
                                              settings.links, targets)
        self._ready = self.reader.ready  # the same deque: the reader fills, dispatch takes
        self._ready_event = self.reader.ready_event
        self.lanes: SourceLanes | None = None
        if settings.sources:  # the channel's pool: chosen per read batch, limited per address
            channel = settings.channel
            self.reader.sources = SourceChooser(settings.sources, StickySources(
                redis, channel.namespace, channel.name) if settings.sticky_sources else None)
            self.lanes = self.reader.lanes = SourceLanes(
                redis, channel, settings.sources, self._ready, self._ready_event,
                settings.read_batch) or None
        self._retrying = 0
        self._unsettled = 0  # marked, outcome not yet buffered
        self._moving = 0  # failing over, the move not yet durable
        self.receipts = ReceiptMatcher(redis, settings.channel, settings.channel_name,
                                       self.writer, self.stats)
        self._flush_now = asyncio.Event()
        self._timers: set[asyncio.Future[None]] = set()
        # Moves to other lanes in flight: not timers (stopping must not cancel a move
        # half done on this side), and one that fails crashes the run (see _move).
        self._moves: set[asyncio.Task[None]] = set()
        self._crashed: BaseException | None = None
        self._finished = False
        cap = settings.frequency_cap
        self.caps = None if cap is None else CapGate(
            FrequencyCaps(redis, settings.campaign, cap), self._ready, self.writer,
            self.stats, {variant: t.category for variant, t in builder.templates.items()},
            self.window.size, settings.channel_name)

    # -- the run ---------------------------------------------------------------------

    async def __aenter__(self) -> ShardSender:
        """Bring the binds up (they reconnect on their own until the block ends)."""
        self._bind_tasks = [asyncio.create_task(b.run(), name=b.name) for b in self.binds]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for bind in self.binds:
            await bind.stop()
        for task in self._bind_tasks:
            task.cancel()
        await asyncio.gather(*self._bind_tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            # Receipts answered while the binds went down: written now, or they are lost
            # (the SMSC does not send an answered deliver_sm again). Then the slots go
            # back now, not when they age out.
            await self.writer.flush()
            await self.receipts.settle()
            await release_binds(self.redis, self.settings.channel, self._bind_names)
        self._export_metrics()  # what the last responses counted

    async def run(self) -> ShardStats:
        """Recover what a previous run left, then send until the shard is drained."""
        await self.reader.recover()
        tasks = [
            asyncio.create_task(self.reader.read(), name="read"),
            asyncio.create_task(self._flusher(), name="flush"),
            asyncio.create_task(self._mark(), name="mark"),
            *(asyncio.create_task(self._dispatch(b), name=f"dispatch-{b.name}")
              for b in self.binds if b.submits),
        ]
        fail_over = self.settings.fail_over
        if fail_over is not None:
            tasks.append(asyncio.create_task(self._watch_channel(), name="watch-channel"))
        if self.lanes is not None:
            tasks.append(asyncio.create_task(self.lanes.run(lambda: self._finished),
                                             name="lanes"))
        if self.held is not None:
            tasks.append(asyncio.create_task(self.held.release(
                self.reader.accept,
                room_for_more=lambda: len(self._ready) <= 2 * self.settings.read_batch,
                finished=lambda: self._finished or self.reader.stopped), name="release"))
        try:
            while self._crashed is None and not (self.reader.done and self._idle()):
                done, _ = await asyncio.wait(tasks, timeout=0.05,
                                             return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()  # re-raise a crashed loop
            if self._crashed is not None:
                raise self._crashed
            await self.writer.flush()
        finally:
            # The loops end on this flag at their next turn; cancelling is the backstop.
            # Both, and a bounded wait: a cancellation swallowed somewhere below (seen
            # under load on Python 3.11) must not keep the run from returning.
            self._finished = True
            self._export_metrics()
            self._flush_now.set()
            self._ready_event.set()
            self._marked_event.set()
            for task in tasks:
                task.cancel()
            if self.caps is not None:
                await self.caps.close()
            await self.limiter.close()
            _, stuck = await asyncio.wait(tasks, timeout=5.0)
            if stuck:
                logger.warning("%d sender loops did not stop in time: %s", len(stuck),
                               ", ".join(t.get_name() for t in stuck))
        return self.stats

    def stop_reading(self) -> None:
        """Stop gracefully: mark nothing new, let what is on the wire settle.

        Messages read but not yet marked stay pending in the stream (queued in Redis),
        and so do those waiting for a retry: the next run's recovery sends them. The
        frequency cap charges of the read ones are given back.
        """
        if self.caps is not None:
            self.caps.stop()
        self.reader.stop()
        self._unmark(requeue=False)
        for timer in self._timers:
            timer.cancel()
        self._retrying = 0

    @property
    def marked(self) -> int:
        """Messages marked `submitting` that no bind has written yet (at most `ahead`
        plus the binds' free slots)."""
        return len(self._marked)

    def _idle(self) -> bool:
        return (not self._ready and not self._marked and self._retrying == 0
                and self._unsettled == 0 and self._moving == 0
                and (self.lanes is None or self.lanes.waiting == 0)
                and self.window.held == 0 and len(self.writer) == 0
                # Held messages keep a shard going, unless it is stopping (they stay
                # pending and held, for the next run).
                and (self.held is None or self.held.left == 0 or self.reader.stopped))

    async def wait_for_receipts(self, timeout: float) -> None:
        """Give outstanding receipts up to `timeout` seconds to come in (bench, demo)."""
        deadline = time.monotonic() + timeout
        while self.receipts.awaited and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            await self._flush()

    # -- writing to the binds --------------------------------------------------------

    async def _mark(self) -> None:
        """Mark the line's messages `submitting`, ahead of the binds' free slots.

        The marked messages wait in `_marked` for a bind; a slot freed by a response is
        filled at once, without waiting a round trip to Redis for its mark. Redis holds
        at most the settle window of marked messages without an outcome: the binds'
        windows plus `ahead`.
        """
        fail_over = self.settings.fail_over
        while not self._finished:
            if fail_over is not None and fail_over.diverted:  # its queue moves on
                self._unmark(requeue=True)
                await asyncio.sleep(self.settings.window_poll_seconds)
                continue
            if not self._ready:
                self._ready_event.clear()
                await self._ready_event.wait()
                continue
            # Marks wait for half an ahead's worth of free slots (or every ready message):
            # a bind handling a burst of responses a few at a turn frees slots a few at a
            # time, and a flush for each few would double the flushes.
            held = await self.window.take(self.settings.read_batch,
                                          min(len(self._ready), self.ahead // 2))
            if self.caps is not None:  # only charged messages go: as many slots
                charged = await self.caps.charge_ahead(held)
                if charged < held:
                    self.window.give(held - charged)
                    held = charged
                if not held:  # the line emptied (all capped)
                    continue
            # A slot a message, however many parts it has (the binds' windows count those).
            batch: list[Outgoing] = []
            now = self.held.now() if self.held is not None else 0.0
            while self._ready and len(batch) < held:
                if self.caps is not None and not self._ready[0].charged:
                    break  # its charge is not made yet
                message = self._ready.popleft()
                if self.held is not None and not self.held.look_again(message, now):
                    if self.caps is not None:  # held back: charged again when it goes
                        self.caps.refund(message)
                    continue
                batch.append(message)
            if self.held is not None:
                await self.held.put_away()
            self.window.give(held - len(batch))
            if not batch:
                continue
            channel = self.settings.channel_name  # a waiting one leaves its channel's count
            marks = []
            for message in batch:
                # Built as the tuple it is (the named tuple's __new__ is a Python call:
                # 0.54 us, this 0.2), its state a str (an enum member formats into the
                # script's line 0.27 us slower, StateStore._call).
                marks.append(_new_tuple(Transition, (message.key, _SUBMITTING, message.variant,
                                                     channel, 0, 0, 1, "")))
                message.parts_left = parts = len(message.pdus)
                message.smsc_ids = [""] * parts
            self.writer.transitions(marks)
            self._unsettled += len(batch)
            await self.writer.flush()  # the mark is durable before anything is written
            self._marked.extend(batch)
            if self.reader.stopped:  # stopped during the flush: none of them goes
                self._unmark(requeue=False)
                continue
            self._marked_event.set()

    def _unmark(self, *, requeue: bool) -> None:
        """Marked messages no bind has taken go back to `queued` (a stop, a diversion),
        their frequency cap charges given back (charged again when they go)."""
        marked = list(self._marked)
        self._marked.clear()
        for message in marked:
            if self.caps is not None:
                self.caps.refund(message)
            self._settle(message, State.QUEUED, requeue=requeue)
        if marked:
            self._flush_now.set()

    async def _dispatch(self, bind: SmppBind) -> None:
        """Feed one bind marked messages: slots, tokens, write; repeat."""
        marked = self._marked
        while not self._finished:
            if not marked:
                self._marked_event.clear()
                await self._marked_event.wait()
                continue
            waiting = sum(len(m.pdus) for m in marked)
            if bind.free_slots < len(marked[0].pdus):
                self.limiter.refill_soon()  # its round trip while the window is full
            slots = await bind.reserve(waiting, len(marked[0].pdus))
            if not marked:
                bind.release(slots)
                continue
            tokens = await self.limiter.acquire(min(slots, waiting))
            if marked and len(marked[0].pdus) > tokens:
                # A long message needs a token per part, all before its first part goes.
                needed = min(len(marked[0].pdus), slots)
                while tokens < needed:
                    tokens += await self.limiter.acquire(needed - tokens)
            batch: list[Outgoing] = []
            parts = 0
            room = min(tokens, slots)
            while marked and parts + len(marked[0].pdus) <= room:
                message = marked.popleft()
                batch.append(message)
                parts += len(message.pdus)
            bind.release(slots - parts)
            if not batch:
                continue
            sent_at = time.monotonic()
            if not self.first_write:
                self.first_write = sent_at
            for message in batch:
                message.sent_at = sent_at
            try:
                # Each part's ref says which part it is: its id goes in that place.
                bind.send([(pdu, (message, part)) for message in batch
                           for part, pdu in enumerate(message.pdus)])
            except BindDown:
                marked.extendleft(reversed(batch))  # still marked: the next bind up sends
                self._marked_event.set()  # a bind up and waiting for marks takes them
                continue
            self.stats.sent += len(batch)
            await bind.drain()

    # -- what the binds report (BindListener) ---------------------------------------

    def submits_done(self, done: Sequence[tuple[Any, int, str]]) -> None:
        """A read's responses, in order. A message of one part the SMSC accepted (nearly
        every one) is settled here in one loop, as submit_done, _submitted and _settle
        would: its latency, its id remembered for its receipt (in Redis and here), its
        `submitted` buffered, its slot freed once that is durable. Any other response
        goes through submit_done."""
        self.last_answer = now = time.monotonic()  # the read's: one clock a read
        latencies, writer, window, channel = (self._latencies, self.writer, self.window,
                                              self.settings.channel_name)
        campaign = self._campaign_ref
        remember_receipt, transition = writer.remember_receipt, writer.transition
        remember, settled = self.receipts.remember, window.settled
        accepted = 0
        index = -1  # read by the except below
        try:
            for index, (ref, status, message_id) in enumerate(done):  # noqa: B007
                message: Outgoing = ref[0]
                if status or message.parts_left != 1 or message.failure or len(message.pdus) != 1:
                    self.submit_done(ref, status, message_id)
                    continue
                latencies.append(now - message.sent_at)
                smsc_id = canonical_id(message_id)
                message.smsc_ids[0] = smsc_id
                message.parts_left = 0
                key, variant = message.key, message.variant
                remember_receipt(smsc_id, correlation_value(campaign, key, variant, channel))
                remember(smsc_id, message)
                # segments: Outgoing.accepted of its one id
                transition(Transition(key, submitted(smsc_id), variant, channel,
                                      1 if smsc_id else 0), settled)
                accepted += 1
        except BaseException:
            # Their slots are free: those not acted on are lost, as if the bind fell.
            self.lost([ref for ref, _, _ in done[index + 1:]], "a response's handling failed")
            raise
        finally:
            if accepted:
                self.stats.submitted += accepted
                self._unsettled -= accepted
                window.settling(accepted)
                if not self._ready and len(writer) >= window.size // 2:
                    self._flush_now.set()  # as _settle decides

    def submit_done(self, ref: Any, status: int, message_id: str) -> None:
        message: Outgoing
        message, part = ref
        self.last_answer = now = time.monotonic()
        self._latencies.append(now - message.sent_at)
        if status == CommandStatus.ESME_ROK:
            message.smsc_ids[part] = canonical_id(message_id)
        else:
            metrics.SUBMIT_ERRORS.labels(self._channel_ref, status_name(status)).inc()
            if message.failure == 0:
                message.failure = status
        message.parts_left -= 1
        if message.parts_left > 0:
            return
        if message.failure == 0:
            self._submitted(message)
            return
        kind, delay = after_failure(message.failure, message.attempts, self.settings)
        if kind == ErrorClass.PERMANENT and self._fails_over(message):
            return
        if kind == ErrorClass.THROTTLED:
            self.stats.throttled += 1
            self.limiter.slow_down()
            self._retry_later(message, delay)
        elif kind == ErrorClass.TEMPORARY:
            message.attempts += 1
            self.stats.retried += 1
            self._retry_later(message, delay)
        else:
            self.stats.failed += 1
            if self.caps is not None and message.accepted == 0:  # no part reached it
                self.caps.refund(message)
            self._settle(message, failed(status_code(message.failure)),
                         country=counted_country(message.phone))

    def lost(self, refs: Sequence[Any], reason: str) -> None:
        """Submits whose answer will never come: unknown (the SMSC may have them), or,
        with resendUnknown, sent again (at-least-once: the phone may get two)."""
        again = 0
        messages = {id(m): m for m, _ in refs}.values()
        for message in messages:
            if resend_lost(message.attempts, self.settings):
                message.attempts += 1
                self.stats.resent_unknown += 1
                again += 1
                self._retry_later(message, 0.0)
            else:
                self.stats.unknown += 1
                self._settle(message, State.UNKNOWN)
        logger.warning("%d messages unanswered (%s): %d counted unknown, %d sent again",
                       len(messages), reason, len(messages) - again, again)

    def receipts_in(self, receipts: Sequence[tuple[bytes, dict[int, bytes]]]) -> list[int]:
        """A read's run of receipts (BindListener), each as `receipt` takes it."""
        match = self.receipts.receipt
        counted = 0
        try:
            for short_message, tlvs in receipts:
                receipt = read_receipt(short_message, tlvs)
                if receipt is not None:
                    smsc_id, state, error = receipt
                    if state is not None:
                        counted += 1
                        match(smsc_id, state, error)
        finally:
            self.stats.receipts += counted
        return [0] * len(receipts)  # ESME_ROK, each

    def receipt(self, short_message: bytes, tlvs: dict[int, bytes]) -> int:
        receipt = read_receipt(short_message, tlvs)
        if receipt is not None and receipt.state is not None:
            self.stats.receipts += 1
            self.receipts.receipt(receipt.smsc_id, receipt.state, receipt.error)
        return 0  # ESME_ROK

    def deliver(self, pdu: DeliverSm) -> int:
        if pdu.esm_class & ESM_DELIVERY_RECEIPT:
            return self.receipt(pdu.short_message, pdu.tlvs)
        self.stats.replies += 1
        taken = take_reply(pdu, self.settings.replies, self.settings.channel.ref, time.time())
        if taken.change is not None:
            self._opt_change(taken.change)
        if taken.request is not None:  # after its opt change, which holds its claim
            self.writer.reply_request(taken.request)
            self._flush_now.set()
        return CommandStatus.ESME_ROK

    def _opt_change(self, change: OptChange) -> None:
        """A reply said stop (or start again): record it at once; on a stop, drop what is
        queued for the number (unless the campaign does not respect opt-outs)."""
        self.writer.opt_change(change)
        self._flush_now.set()
        number = change.number
        if change.opted_in or not self.settings.respect_opt_outs:
            logger.info("opt-%s from %s", "in" if change.opted_in else "out",
                        mask_number(number))
            return
        dropped = [m for m in self._ready if m.phone == number]
        for message in dropped:
            self._ready.remove(message)
        # Marked ahead, not written yet: back to queued first (transitions.lua moves a
        # message from submitting only so), then opted out with the others, in order.
        marked = [m for m in self._marked if m.phone == number]
        for message in marked:
            self._marked.remove(message)
            self._settle(message, State.QUEUED)
        dropped += marked
        if self.lanes is not None:
            dropped += self.lanes.drop(number)
        for message in dropped:
            if self.caps is not None:
                self.caps.refund(message)
            self.writer.transition(Transition(message.key, State.OPTED_OUT, message.variant,
                                              self.settings.channel_name))
            self.stats.opted_out += 1
        logger.info("opt-out from %s; %d queued messages dropped", mask_number(number),
                    len(dropped))

    # -- failover (sender.send.failover) ----------------------------------------------

    def _fails_over(self, message: Outgoing) -> bool:
        """A message that spent its attempts on temporary errors, on a channel with
        retry.failOver: moved to the next channel that serves it, if there is one."""
        fail_over = self.settings.fail_over
        if (fail_over is None or not fail_over.per_message or message.accepted
                or error_class(message.failure, self.settings.overrides) != ErrorClass.TEMPORARY):
            return False
        target = fail_over.target(message.phone)
        if target is None:
            return False
        self._unsettled -= 1
        self._move([(message, target)], window=True)
        return True

    def _divert(self) -> None:
        """The lane's channel is unavailable: every queued message that another channel
        serves moves to it (none is on the wire); the others wait for the channel."""
        fail_over = self.settings.fail_over
        assert fail_over is not None
        # Marked ones no bind has taken go back to the line first (the mark loop may be
        # waiting for more to read, not looking): they move on from there at the next look.
        self._unmark(requeue=True)
        moving, staying = [], []
        for message in self._ready:
            target = fail_over.target(message.phone)
            if target is None:
                staying.append(message)
            else:
                moving.append((message, target))
        if self.lanes is not None:
            # Those waiting for their address's token too: else they would trickle into
            # the line at that address's rate (a long code's 1/s) to be moved from there.
            for message in self.lanes.take_all():
                target = fail_over.target(message.phone)
                if target is None:
                    self.lanes.put(message)
                else:
                    moving.append((message, target))
        if moving:
            self._ready.clear()
            self._ready.extend(staying)
            self._move(moving, window=False)

    def _move(self, moves: list[tuple[Outgoing, tuple[int, str]]], *, window: bool) -> None:
        """Move the messages in Redis (sender.store.lane_moves); `window`: they hold a
        slot of the settle window (they were sent), freed once the move is durable."""
        fail_over = self.settings.fail_over
        assert fail_over is not None
        self._moving += len(moves)
        if self.caps is not None:
            for message, _ in moves:  # charged again on the channel that sends it
                self.caps.refund(message)

        async def move() -> None:
            try:
                moved = await move_messages(
                    self.redis, self.settings.campaign, self.settings.shard,
                    self.settings.channel_name,
                    [Move(m.key.partition("/")[2], lane, name, m.variant,
                          fail_over.region(m.phone))
                     for m, (lane, name) in moves])
                count = sum(1 for key in moved if key)
                self.stats.failed_over += count
                # A refused one was settled meanwhile (a receipt, a stop, a cancel): its
                # outcome is recorded, and it is no longer this sender's to send.
                logger.info("%d messages failed over from channel %s (%d already settled)",
                            count, self.settings.channel_name, len(moves) - count)
                if fail_over.board is not None:
                    for lane in {lane for _, (lane, _) in moves}:
                        fail_over.board.wake(lane)
            except Exception as error:
                # Redis failed mid-move: the script is atomic, so each message is in one
                # lane or the other; the run crashes (before it could look idle) and
                # the restarted run's recovery reads them anew.
                self._crashed = self._crashed or error
            finally:
                self._moving -= len(moves)
                if window:
                    self.window.give(len(moves))

        task = asyncio.ensure_future(move())
        self._moves.add(task)
        task.add_done_callback(self._moves.discard)

    async def _watch_channel(self) -> None:
        """Follow the run's unavailable channels (the operator writes them): while this
        lane's channel is one, its queue moves on; when it is back, it sends again."""
        fail_over = self.settings.fail_over
        assert fail_over is not None
        while not self._finished:
            unavailable = await read_unavailable(self.redis, self.settings.campaign)
            if unavailable is not None:
                fail_over.mark_unavailable(unavailable)
            if fail_over.diverted:
                self._divert()
            await asyncio.sleep(self.settings.window_poll_seconds)

    # -- outcomes --------------------------------------------------------------------

    def _submitted(self, message: Outgoing) -> None:
        self.stats.submitted += 1
        ids = message.smsc_ids
        campaign, channel = self._campaign_ref, self.settings.channel_name
        if len(ids) == 1:
            self.writer.remember_receipt(ids[0], correlation_value(
                campaign, message.key, message.variant, channel))
            self.receipts.remember(ids[0], message)
        else:  # each part's receipt counts: the correlation says which part it is
            for part, smsc_id in enumerate(ids, 1):
                self.writer.remember_receipt(smsc_id, correlation_value(
                    campaign, message.key, message.variant, channel, part, len(ids)))
                self.receipts.remember(smsc_id, message, part)
        self._settle(message, submitted(*ids))

    def _settle(self, message: Outgoing, state: str, *, requeue: bool = False,
                country: str = "") -> None:
        """Buffer the outcome; the window slot frees once it is durable. `country`: a
        failure's, for its count by country."""
        self._unsettled -= 1
        self.window.settling()
        self.writer.transition(
            # Built as a mark is (0.36 us with keywords, 0.1 so): segments, part, parts.
            _new_tuple(Transition, (message.key, state, message.variant,
                                    self.settings.channel_name, message.accepted, 0, 1,
                                    country)),
            after=(lambda: self._requeue(message)) if requeue else self.window.settled,
        )
        # With messages ready the send loop's next mark flush carries the outcomes (their
        # slots are lent to that flush's marks already): a flush of their own here would
        # only make that one wait behind it (bench/sender.py: 850 flushes a run, 540).
        if not self._ready and len(self.writer) >= self.window.size // 2:
            self._flush_now.set()

    def _requeue(self, message: Outgoing) -> None:
        self.window.settled()
        if self.reader.stopped:  # stopped while its `queued` was flushed: it stays pending
            return  # in the stream, for the next run (else the stopped run never idles)
        self._ready.appendleft(message)
        self._ready_event.set()

    def _retry_later(self, message: Outgoing, delay: float) -> None:
        accepted = message.accepted  # parts taken before another failed: billed all the same
        message.smsc_ids.clear()
        message.failure = 0
        self._retrying += 1

        async def later() -> None:
            await asyncio.sleep(delay)
            self._retrying -= 1
            if self.lanes is not None and self.lanes.limits(message.source):
                self.lanes.put(message, front=True)  # a new try takes a new address token
                return
            self._ready.appendleft(message)
            self._ready_event.set()

        def durable() -> None:
            self.window.settled()
            task = asyncio.ensure_future(later())
            self._timers.add(task)
            task.add_done_callback(self._timers.discard)

        self._unsettled -= 1
        self.window.settling()
        self.writer.transition(
            Transition(message.key, State.QUEUED, message.variant, self.settings.channel_name,
                       segments=accepted),
            after=durable,
        )
        self._flush_now.set()

    async def _flusher(self) -> None:
        while not self._finished:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that lands as the wait completes, and this loop then outlives
            # the run that cancelled it (seen as a sender that never finished).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.flush_interval):
                    await self._flush_now.wait()
            self._flush_now.clear()
            await self._flush()

    def _export_metrics(self) -> None:
        """The submits and latencies since the last export, to Prometheus in one call
        each (a call a message cost about 1.5 us of the sender's ~47, bench/README.md)."""
        if self._latencies:
            self._latency.observe_all(self._latencies)
            self._latencies = []
        submitted = self.stats.submitted - self._submitted_exported
        if submitted:
            self._submitted_metric.inc(submitted)
            self._submitted_exported += submitted

    async def _flush(self) -> None:
        self._export_metrics()
        now = time.time()
        if now - self._binds_noted >= HEARTBEAT_SECONDS:
            self._binds_noted = now
            self.writer.note_binds(
                {name: b.gate.held if b.gate else b.is_up
                 for name, b in zip(self._bind_names, self.binds, strict=True)},
                now)
            self.gauges.export()
        await self.receipts.match_in_redis()
        await self.writer.flush()
        self.receipts.forget_old()


