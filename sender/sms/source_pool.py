"""Which of a channel's sender addresses (smpp.sourceAddresses) a message goes from.

Pure. A recipient's candidates are the addresses that list its country (the region
phonenumbers gives its number); failing those, the addresses that list no country;
failing those too, the whole pool. Among its candidates a recipient takes the next in
turn: one turn counter per set of candidates, so the addresses of each country share
its recipients evenly, whatever the mix of countries in a batch.

Sticky selection (sourceSelection Sticky) keeps what a number was given before: the
sender looks the batch's numbers up in Redis (sender.store.sticky_sources) and passes
what it found; a remembered address still in the pool wins over the turn, one no
longer in it is chosen anew (and remembered in its place).

The country is looked up only when some address lists countries (`country_of`: a table
for most calling codes, a parse for the shared ones such as +1: sender.sms.countries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crds.channel import PooledSourceAddress


@dataclass(frozen=True)
class SourcePool:
    """A channel's addresses, ready to choose from."""

    addresses: tuple[PooledSourceAddress, ...]
    by_country: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Country -> indexes of the addresses that list it."""
    fallback: tuple[int, ...] = ()
    """Indexes of the candidates of a recipient whose country no address lists."""
    positions: Mapping[str, int] = field(default_factory=dict)
    """Address -> its index."""

    @classmethod
    def of(cls, addresses: Sequence[PooledSourceAddress]) -> SourcePool:
        if not addresses:
            raise ValueError("a source pool needs at least one address")
        by_country: dict[str, list[int]] = {}
        for index, address in enumerate(addresses):
            for country in address.countries:
                by_country.setdefault(country, []).append(index)
        generic = tuple(i for i, a in enumerate(addresses) if not a.countries)
        return cls(tuple(addresses), {c: tuple(i) for c, i in by_country.items()},
                   generic or tuple(range(len(addresses))),
                   {a.address: i for i, a in enumerate(addresses)})

    @property
    def by_country_needed(self) -> bool:
        """Whether choosing needs the recipients' countries."""
        return bool(self.by_country)

    def candidates(self, country: str) -> tuple[int, ...]:
        return self.by_country.get(country, self.fallback)

    def index_of(self, address: str) -> int | None:
        return self.positions.get(address)


def choose_sources(pool: SourcePool, countries: Sequence[str],
                   turns: Mapping[tuple[int, ...], int],
                   remembered: Sequence[str | None] | None = None,
                   ) -> tuple[list[int], dict[tuple[int, ...], int]]:
    """Each recipient's address (an index into the pool), and the turns after them.

    `countries` has one entry per recipient ("" when unknown or not needed); `turns`,
    per candidate set, how many recipients that set served before (this process's round
    robin state); `remembered`, for sticky selection, each recipient's address from
    before (None: none yet). A remembered address still in the pool, and still one that
    suits the recipient (its countries edited since may no longer list the number's),
    is kept and takes no turn."""
    after = dict(turns)
    chosen: list[int] = []
    for position, country in enumerate(countries):
        candidates = pool.candidates(country)
        if remembered is not None and remembered[position] is not None:
            kept = pool.index_of(remembered[position] or "")
            if kept is not None and kept in candidates:
                chosen.append(kept)
                continue
        turn = after.get(candidates, 0)
        chosen.append(candidates[turn % len(candidates)])
        after[candidates] = (turn + 1) % len(candidates)
    return chosen, after
