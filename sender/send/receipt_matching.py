"""Which message a delivery receipt is for, as a shard sender sees it.

Most receipts come back to the process that submitted their message, within minutes: it
remembers the SMSC ids it got (`remember`, each part's for a long message) and matches
them in memory, in whichever form (hex or decimal) the carrier sends. A receipt it does
not remember belongs to a message another process submitted (another shard or campaign
on the same account, or this shard before a restart): it is looked up in the channel's
receipts hash and applied through the ReceiptApplier, which waits while such a message
is still `submitting` instead of losing the receipt. Those not found after a grace
period are counted unmatched. Either way a part's receipt becomes the same transition
(sender.sms.states.receipt_transition), decided in transitions.lua.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sender.send.outgoing import Outgoing, ShardStats
from sender.sms.countries import counted_country
from sender.sms.receipts import canonical_id, id_forms
from sender.sms.states import State, receipt_transition
from sender.store.client import Redis
from sender.store.correlations import (
    SETTLE_RETRY_SECONDS,
    SETTLE_SECONDS,
    UNMATCHED_GRACE_SECONDS,
    PendingReceipt,
    ReceiptApplier,
    look_up,
)
from sender.store.keys import ChannelKeys
from sender.store.state_writer import StateWriter

RECENT_IDS_SECONDS = 600.0  # receipts usually come within minutes; later ones go via Redis

logger = logging.getLogger(__name__)
_FAILED = State.FAILED  # looked up once, not an enum attribute a receipt


class ReceiptMatcher:
    def __init__(self, redis: Redis, channel: ChannelKeys, channel_name: str,
                 writer: StateWriter, stats: ShardStats,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis
        self._channel = channel
        self._channel_name = channel_name
        self._writer = writer
        self._stats = stats
        self._clock = clock
        self._recent: dict[str, tuple[float, Outgoing, int]] = {}
        """smsc id -> (when, message, which part: 0 for a message of one)."""
        self._unmatched: list[PendingReceipt] = []
        self._others = ReceiptApplier(redis, channel)

    @property
    def awaited(self) -> int:
        """Receipts this process still waits for (of messages it submitted)."""
        return len(self._recent)

    def remember(self, smsc_id: str, message: Outgoing, part: int = 0) -> None:
        """`smsc_id` in its canonical form (sender.sms.receipts.canonical_id)."""
        self._recent[smsc_id] = (self._clock(), message, part)

    def receipt(self, smsc_id: str, state: State, error: str) -> None:
        """A final receipt came: apply it, or keep it to look up in Redis."""
        # The ids are remembered in their canonical form: one given in that form (most
        # SMSCs echo the submit_sm_resp's) is found as it is, without making it again.
        recent = self._recent
        first = smsc_id
        found = recent.pop(first, None)
        if found is None:
            first = canonical_id(smsc_id)
            found = recent.pop(first, None)
        if found is not None:  # the common case: the form this process recorded
            message = found[1]  # _final inline: a receipt a message
            self._writer.receipt_done(receipt_transition(
                message.key, state, error, message.variant, self._channel_name, found[2],
                len(message.pdus), counted_country(message.phone) if state == _FAILED else ""),
                first)
            return
        for form in id_forms(smsc_id)[1:]:
            found = self._recent.pop(form, None)
            if found is not None:
                self._final(found[1], found[2], state, error, form)
                return
        self._unmatched.append(PendingReceipt(smsc_id, state, error, self._clock()))

    def _final(self, message: Outgoing, part: int, state: State, error: str,
               smsc_id: str) -> None:
        country = counted_country(message.phone) if state == _FAILED else ""
        self._writer.receipt_done(receipt_transition(message.key, state, error, message.variant,
                                                     self._channel_name, part, len(message.pdus),
                                                     country), smsc_id)

    async def match_in_redis(self) -> None:
        """Receipts for ids this process does not remember: look them up in the channel."""
        if not self._unmatched:
            return
        pending, self._unmatched = self._unmatched, []
        found = await look_up(self._redis, self._channel, pending)
        matched = [(r, c) for r, c in zip(pending, found, strict=True) if c is not None]
        again = [r for r, c in zip(pending, found, strict=True) if c is None]
        if matched:
            retry, _ = await self._others.apply(matched)
            again += retry
        now = self._clock()
        for receipt in again:
            if now - receipt.seen < UNMATCHED_GRACE_SECONDS:
                self._unmatched.append(receipt)  # maybe not written yet
            else:
                self._stats.receipts_unmatched += 1

    async def settle(self) -> None:
        """At the end of a run, once the binds are down: apply the receipts still
        unmatched, looking them up again for at most SETTLE_SECONDS.

        The SMSC does not send an answered deliver_sm again, so a receipt dropped here is
        lost for good: its message stays `submitted`. A paused campaign's senders stop
        together, and the SMSC resends the receipts owed to the first bind that closes to
        another bind of the account: a sender's, which answers them as it stops.
        """
        deadline = self._clock() + SETTLE_SECONDS
        while self._unmatched:
            await self.match_in_redis()
            if not self._unmatched or self._clock() >= deadline:
                break
            await asyncio.sleep(SETTLE_RETRY_SECONDS)
        if self._unmatched:
            self._stats.receipts_unmatched += len(self._unmatched)
            logger.warning("%d receipts answered and not matched before the sender stopped",
                           len(self._unmatched))
            self._unmatched = []

    def forget_old(self) -> None:
        """Ids older than RECENT_IDS_SECONDS: their receipts will go through Redis."""
        cutoff = self._clock() - RECENT_IDS_SECONDS
        if self._recent and next(iter(self._recent.values()))[0] < cutoff:
            self._recent = {k: v for k, v in self._recent.items() if v[0] >= cutoff}
