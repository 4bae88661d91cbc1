"""The frequency cap in a shard sender's line of ready messages (sender.send.shard_sender).

A message goes out only once its charge is made (sender.store.frequency_caps). The gate
keeps a run of charged messages at the head of the line: when the run falls below one
window (the sender's settle window), it charges every uncharged message of the next two
windows' worth in one round trip, in the background, while the binds send the run they
have; a turn waits only when the head itself is not charged yet. So a message is
charged at most two windows before its submit_sm, Redis sees one round trip per window
or so (the client's cost is per script call: a call per slot group, so bigger batches
cost less per message, bench/README.md), and a capped message takes no token and no
slot: it leaves the line at once, counted capped with the cap it met.
A message the SMSC refuses for good, or one dropped from the line by an opt-out or
moved to another channel (also while its charge is in flight), is refunded, and so is
the line when the sender stops (a pause, a cancel, a drained node): its messages stay
pending, and the run that sends them charges them then.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Mapping, Sequence

from crds.template import Category
from sender.send.outgoing import Outgoing, ShardStats
from sender.sms.states import Transition, capped
from sender.store.frequency_caps import CapCharge, FrequencyCaps, capped_state_detail
from sender.store.state_writer import StateWriter

logger = logging.getLogger(__name__)

CLOSE_SECONDS = 5.0


class CapGate:
    """Charges one shard's messages ahead of their submits; drops the capped ones."""

    def __init__(self, caps: FrequencyCaps, ready: deque[Outgoing], writer: StateWriter,
                 stats: ShardStats, categories: Mapping[str, Category], window: int,
                 channel: str = "") -> None:
        self.caps = caps
        self._channel = channel  # the lane's, for its channel:<name>:capped
        self._ready = ready  # the sender's line, shared with its reader: changed in place
        self._writer = writer
        self._stats = stats
        self._categories = dict(categories)
        """Each variant's template category ("" without variants)."""
        self._low = max(1, window)
        self._ahead = 2 * self._low
        self._state = capped(capped_state_detail(caps.cap))
        self._charging: asyncio.Task[None] | None = None
        self._stopped = False

    def _charge(self, message: Outgoing) -> CapCharge:
        return CapCharge(message.phone, message.key, self._categories[message.variant])

    def _run(self, most: int) -> int:
        """How many messages at the head of the line are charged (up to `most`)."""
        run = 0
        for message in self._ready:
            if run == most or not message.charged:
                break
            run += 1
        return run

    async def charge_ahead(self, wanted: int) -> int:
        """How many of the first `wanted` messages of the line may go now (all charged);
        0 only when the line is empty. Starts the next charge when the run runs low, and
        waits for one only when the head of the line is not charged."""
        while True:
            self._raise_failed()
            run = self._run(self._low)
            if run < self._low and self._charging is None and len(self._ready) > run:
                self._charging = asyncio.ensure_future(self._charge_next())
            if run or not self._ready:
                return min(run, wanted)
            assert self._charging is not None
            self._stats.cap_waits += 1
            await asyncio.shield(self._charging)  # a bind's turn cancelled: the charge goes on

    def _raise_failed(self) -> None:
        task = self._charging
        if task is not None and task.done():
            self._charging = None
            task.result()  # a Redis error: the sender's loop fails with it

    async def _charge_next(self) -> None:
        todo = [m for m in itertools.islice(self._ready, self._ahead) if not m.charged]
        allowed = await self.caps.charge([self._charge(m) for m in todo])
        self._stats.cap_calls = self.caps.calls
        self._settle(todo, allowed)

    def _settle(self, todo: Sequence[Outgoing], allowed: Sequence[bool]) -> None:
        # An uncharged message cannot be sent, so one that left the line while its charge
        # was in flight was dropped (an opt-out), moved to another channel (whose sender
        # charges it under its new key) or the line went (a stop): its charge goes back.
        in_line = {id(m) for m in self._ready}
        refused: set[int] = set()
        for message, ok in zip(todo, allowed, strict=True):
            gone = self._stopped or id(message) not in in_line
            if ok:
                message.charged = True
                if gone:
                    self.refund(message)
            elif not gone:
                refused.add(id(message))
                self._writer.transition(Transition(message.key, self._state,
                                                   message.variant, self._channel))
        if refused:
            self._stats.capped += len(refused)
            keep = [m for m in self._ready if id(m) not in refused]
            self._ready.clear()
            self._ready.extend(keep)
            logger.debug("%d messages capped (%s)", len(refused), self._state)

    def refund(self, message: Outgoing) -> None:
        """Give back the charge of a message the number never got (at the next flush)."""
        if not message.charged:
            return
        message.charged = False
        self._writer.refund_cap(*self.caps.refund_of(self._charge(message)))
        self._stats.cap_refunds += 1

    def stop(self) -> None:
        """The sender stops before sending the line: give its charges back (they are
        written at the sender's last flush), and those of a charge still in flight."""
        self._stopped = True
        for message in self._ready:
            self.refund(message)

    async def close(self) -> None:
        """Let a charge in flight land (its refunds, after a stop, go with the sender's
        last flush), for a few seconds at most; then it is cancelled, and what it charged
        stands until the next run sends those messages (a charge is idempotent) or the
        period ends."""
        task, self._charging = self._charging, None
        if task is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_SECONDS):
                    await task
