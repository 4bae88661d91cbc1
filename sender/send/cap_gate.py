"""The frequency cap in a shard sender's line of ready messages (sender.send.shard_sender).

Before a dispatch turn takes rate-limit tokens, `charge_ahead` makes sure the messages at
the head of the line are charged (sender.store.frequency_caps): when the charged run is
shorter than the turn wants, every uncharged message of the next window's worth is
charged in one round trip. So a message is charged at most one window before its
submit_sm, Redis sees about one call per few turns, and a capped message takes no token:
it leaves the line at once, counted capped with the cap it met. A message the SMSC
refuses for good, or one dropped from the line by an opt-out, is refunded.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Mapping

from crds.template import Category
from sender.send.outgoing import Outgoing, ShardStats
from sender.sms.states import Transition, capped
from sender.store.frequency_caps import CapCharge, FrequencyCaps, capped_state_detail
from sender.store.state_writer import StateWriter

logger = logging.getLogger(__name__)


class CapGate:
    """Charges one shard's messages ahead of their submits; drops the capped ones."""

    def __init__(self, caps: FrequencyCaps, ready: deque[Outgoing], writer: StateWriter,
                 stats: ShardStats, categories: Mapping[str, Category], ahead: int) -> None:
        self.caps = caps
        self._ready = ready  # the sender's line, shared with its reader: changed in place
        self._writer = writer
        self._stats = stats
        self._categories = dict(categories)
        """Each variant's template category ("" without variants)."""
        self._ahead = ahead
        self._state = capped(capped_state_detail(caps.cap))
        self._lock = asyncio.Lock()  # two binds' turns must not charge the same ones

    def _charge(self, message: Outgoing) -> CapCharge:
        return CapCharge(message.phone, message.key, self._categories[message.variant])

    async def charge_ahead(self, wanted: int) -> None:
        """Make the first `wanted` messages of the line (or all there are) charged, or
        take them out of the line, capped."""
        async with self._lock:
            run = sum(1 for _ in itertools.takewhile(
                lambda m: m.charged, itertools.islice(self._ready, wanted)))
            if run >= min(wanted, len(self._ready)):
                return
            todo = [m for m in itertools.islice(self._ready, max(wanted, self._ahead))
                    if not m.charged]
            allowed = await self.caps.charge([self._charge(m) for m in todo])
            self._stats.cap_calls = self.caps.calls
            refused: set[int] = set()
            for message, ok in zip(todo, allowed, strict=True):
                if ok:
                    message.charged = True
                else:
                    refused.add(id(message))
                    self._writer.transition(Transition(message.key, self._state,
                                                       message.variant))
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
        self._writer.refund_cap(*self.caps.ledger(self._charge(message)))
        self._stats.cap_refunds += 1
