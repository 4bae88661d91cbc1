"""Sticky sender addresses: the address of a channel's pool each number is sent from,
kept across campaigns (smpp.sourceSelection Sticky).

    herald:{sticky:NS/NAME:G}:NUMBER   string, the address (keys.sticky_source); expires
                                       STICKY_SECONDS after it was last read for a message

A sender looks up a whole read batch at once (`recall`: one pipelined round trip, each
GETEX renewing the expiry) and writes the addresses it chose for numbers without one
(`remember`: one more round trip, only when some were new). A new number is set only if
absent (SET NX), so two senders of two campaigns choosing for the same number at the
same moment agree: the one that loses reads the winner's choice and sends from it. An
address that left the pool is replaced outright.

Redis Cluster: each key carries its number's slot group, never a campaign's tag, and no
script or MULTI spans keys; the pipelines are of single-key commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sender.store.client import Redis
from sender.store.keys import STICKY_SECONDS, sticky_source


class StickySources:
    """One channel's remembered addresses."""

    def __init__(self, redis: Redis, namespace: str, channel: str) -> None:
        self._redis = redis
        self.namespace, self.channel = namespace, channel
        self.round_trips = 0

    def key(self, number: str) -> str:
        return sticky_source(self.namespace, self.channel, number)

    async def recall(self, numbers: Sequence[str]) -> list[str | None]:
        """Each number's remembered address (None: none yet), renewing their expiry."""
        if not numbers:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for number in numbers:
            pipe.getex(self.key(number), ex=STICKY_SECONDS)
        self.round_trips += 1
        return cast(list[str | None], await pipe.execute())

    async def remember(self, new: Sequence[tuple[str, str]],
                       replaced: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
        """Write (number, address) pairs: `new` only where none is set yet, `replaced`
        (their address left the pool) outright. Returns the numbers of `new` another
        sender had set first, with its address: send from that one."""
        if not new and not replaced:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for number, address in new:
            pipe.set(self.key(number), address, ex=STICKY_SECONDS, nx=True)
        for number, address in replaced:
            pipe.set(self.key(number), address, ex=STICKY_SECONDS)
        self.round_trips += 1
        results = await pipe.execute()
        lost = [number for (number, _), ok in zip(new, results, strict=False) if not ok]
        if not lost:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for number in lost:
            pipe.get(self.key(number))
        self.round_trips += 1
        theirs = cast(list[str | None], await pipe.execute())
        return {n: a for n, a in zip(lost, theirs, strict=True) if a is not None}
