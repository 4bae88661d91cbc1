"""Ordered, batched writes of a sender's results to Redis.

Everything a sender records goes through one ordered buffer flushed in one round trip:
receipt correlations (channel keys), opt-outs, keyword-reply requests (the channel's
replies stream, for its receiver to answer), frequency cap refunds (each number's
ledger), and message transitions (campaign keys, through transitions.lua, which also
acks stream entries). Order matters: a message
that was throttled goes submitting -> queued -> submitting, and the second mark must
not land before the first transition back. One buffer, flushed in order, gives that.

Callbacks registered with a transition run after it is durable; the sender uses them
to free the settle-window slot the message held (see shard_sender).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from sender import metrics
from sender.sms.states import Transition
from sender.store.channel_activity import SUBMITTED, note_binds
from sender.store.client import one_server
from sender.store.frequency_caps import queue_refunds
from sender.store.keys import ChannelKeys
from sender.store.keyword_replies import ReplyRequest, add_requests
from sender.store.opt_outs import OptChange, queue_changes
from sender.store.transitions import StateStore


@dataclass
class _Batch:
    transitions: list[Transition] = field(default_factory=list)
    receipts: dict[str, str] = field(default_factory=dict)
    forget_receipts: list[str] = field(default_factory=list)
    opt_changes: list[OptChange] = field(default_factory=list)
    requests: list[ReplyRequest] = field(default_factory=list)
    cap_refunds: list[tuple[str, str]] = field(default_factory=list)
    binds: dict[str, bool] = field(default_factory=dict)
    binds_at: float = 0.0
    after: list[Callable[[], None]] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.transitions) + len(self.receipts) + len(self.opt_changes)
                + len(self.requests))


class StateWriter:
    """Buffers one shard's writes and flushes them in order."""

    def __init__(
        self, redis: aioredis.Redis, store: StateStore, shard: int, channel: ChannelKeys
    ) -> None:
        self._redis = redis
        self.store = store
        self.shard = shard
        self.channel = channel
        self._batch = _Batch()
        self._lock = asyncio.Lock()
        self.flushes = 0

    def __len__(self) -> int:
        return len(self._batch)

    def transition(self, t: Transition, after: Callable[[], None] | None = None) -> None:
        self._batch.transitions.append(t)
        if after is not None:
            self._batch.after.append(after)

    def transitions(self, ts: list[Transition]) -> None:
        """Several transitions without after-callbacks (a batch of marks), in order."""
        self._batch.transitions += ts

    def remember_receipt(self, smsc_id: str, value: str) -> None:
        """smsc id (canonical form) -> its correlation (sender.store.correlations)."""
        self._batch.receipts[smsc_id] = value

    def forget_receipt(self, smsc_id: str) -> None:
        self._batch.forget_receipts.append(smsc_id)

    def receipt_done(self, t: Transition, smsc_id: str) -> None:
        """A final receipt's transition, and its id's correlation forgotten: `transition`
        and `forget_receipt` in one call (a receipt a message)."""
        batch = self._batch
        batch.transitions.append(t)
        batch.forget_receipts.append(smsc_id)

    def opt_change(self, change: OptChange) -> None:
        """A reply that opts a number out (or back in): written first at the next flush."""
        self._batch.opt_changes.append(change)

    def reply_request(self, request: ReplyRequest) -> None:
        """A reply that may be a keyword, for the channel's receiver to answer."""
        self._batch.requests.append(request)

    def refund_cap(self, group: str, line: str) -> None:
        """Give a message's frequency cap charge back at the next flush: its slot group and
        script line (sender.store.frequency_caps.FrequencyCaps.refund_of)."""
        self._batch.cap_refunds.append((group, line))

    def note_binds(self, binds: dict[str, bool], now: float) -> None:
        """Which of this process's binds are up (for the channel's status), at unix `now`."""
        self._batch.binds = binds
        self._batch.binds_at = now

    async def flush(self) -> None:
        """Write everything buffered so far, in order; then run the after-callbacks."""
        async with self._lock:
            batch, self._batch = self._batch, _Batch()
            if not (len(batch) or batch.forget_receipts or batch.after or batch.binds
                    or batch.cap_refunds):
                return
            outcomes = await self._write(batch)
            metrics.count_outcomes(self.store.keys.ref, self.channel.namespace, outcomes)
            self.flushes += 1
            for callback in batch.after:
                callback()

    async def _write(self, batch: _Batch) -> list[Transition]:
        """One round trip on one server for the channel's writes and the transitions
        together (a pipeline keeps their order there); on a cluster, the transitions
        after the channel's writes are done (its nodes keep no order between them), and
        so the reply requests, which must follow their opt changes, everywhere."""
        pipe = self._redis.pipeline(transaction=False)
        # Receipt correlations first: a receipt may come the moment the SMSC answers.
        # The channel's activity rides along: submits so far, binds up.
        if batch.receipts:
            pipe.hincrby(self.channel.activity, SUBMITTED, len(batch.receipts))
        if batch.binds:
            note_binds(pipe, self.channel, batch.binds, batch.binds_at)
        if batch.receipts:
            receipts: dict[Any, Any] = batch.receipts  # redis-py's Mapping is invariant
            pipe.hset(self.channel.receipts, mapping=receipts)
        if batch.forget_receipts:
            pipe.hdel(self.channel.receipts, *batch.forget_receipts)
        queue_changes(pipe, batch.opt_changes, self.channel.activity)
        queue_refunds(pipe, batch.cap_refunds)
        transitions = batch.transitions
        if transitions and not batch.requests and one_server(self._redis):
            self.store.queue(pipe, transitions, ack_shard=self.shard)
            try:
                replies = await pipe.execute()
            except NoScriptError:  # the server lost it (a restart): the rest is written
                return (await self.store.apply_outcomes(transitions, ack_shard=self.shard))[1]
            return self.store.outcomes(transitions, replies[-1])[1]
        if len(pipe):
            await pipe.execute()
        await add_requests(self._redis, self.channel, batch.requests)
        _, outcomes = await self.store.apply_outcomes(transitions, ack_shard=self.shard)
        return outcomes
