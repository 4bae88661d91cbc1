"""A shard sender's choice of sender address, a read batch at a time.

The choice itself is pure (sender.sms.source_pool); this adds what a process keeps
(its round-robin turns) and, with sourceSelection Sticky, the batch's Redis lookups
(sender.store.sticky_sources): one round trip per read batch, a second only when the
batch has numbers seen for the first time. Nothing here runs per message against Redis.
A channel with one address chooses nothing and costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from crds.channel import PooledSourceAddress
from sender.sms.countries import country_of
from sender.sms.source_pool import SourcePool, choose_sources
from sender.store.sticky_sources import StickySources


class SourceChooser:
    """Chooses the address of each message of a batch from the channel's pool."""

    def __init__(self, addresses: Sequence[PooledSourceAddress],
                 sticky: StickySources | None = None) -> None:
        self.pool = SourcePool.of(addresses)
        self.sticky = sticky
        self._turns: dict[tuple[int, ...], int] = {}

    @property
    def single(self) -> bool:
        return len(self.pool.addresses) == 1

    async def choose(self, numbers: Sequence[str]) -> list[PooledSourceAddress]:
        """Each number's address, in order. A number twice in a batch gets one address."""
        addresses = self.pool.addresses
        if self.single:
            return [addresses[0]] * len(numbers)
        unique = list(dict.fromkeys(numbers))
        countries = ([country_of(n) for n in unique] if self.pool.by_country_needed
                     else [""] * len(unique))
        remembered = await self.sticky.recall(unique) if self.sticky is not None else None
        chosen, self._turns = choose_sources(self.pool, countries, self._turns, remembered)
        if self.sticky is not None and remembered is not None:
            new = [(n, addresses[i].address) for n, r, i in zip(unique, remembered, chosen,
                                                                 strict=True) if r is None]
            replaced = [(n, addresses[i].address)  # left the pool, or no longer suits it
                        for n, r, i in zip(unique, remembered, chosen, strict=True)
                        if r is not None and addresses[i].address != r]
            theirs = await self.sticky.remember(new, replaced)
            for position, number in enumerate(unique):
                index = self.pool.index_of(theirs.get(number, ""))
                if index is not None:  # another sender chose first: its choice stands
                    chosen[position] = index
        by_number = dict(zip(unique, chosen, strict=True))
        return [addresses[by_number[n]] for n in numbers]
