"""Which channel serves a number: the first in the campaign's order whose routing
(Channel.spec.routing: countries, E.164 prefixes, carriers) takes it.

Pure, phonenumbers only. A route's lists each narrow it and are all that must hold
(country and prefix and carrier); an empty list takes any. Carriers are the names
phonenumbers' carrier data gives a number's prefix, in any of its languages (China
Mobile or 中国移动), compared without case; a route names a carrier by any of them and
matches the number's English name. The carrier is looked up only when some route asks
for one, and by the number's first digits through a cache (`carrier_name`): the lookup
phonenumbers makes (its number type check, then its prefix table) cost about 6 µs a
number on top of parsing.

`routing_problems` says what in a routing cannot match anything: a country phonenumbers
has no numbers for, a carrier name its data does not hold (a typo, or a carrier it does
not know: routing on it would send nothing there).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType
from phonenumbers.carrierdata import CARRIER_DATA, CARRIER_LONGEST_PREFIX

CARRIER_KINDS = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE,
                           PhoneNumberType.PAGER})
"""Number types phonenumbers gives a carrier for (carrier.name_for_number's check)."""


@functools.lru_cache(maxsize=1 << 16)
def carrier_of_prefix(digits: str) -> str:
    """The English carrier name phonenumbers' data gives numbers whose E.164 digits (no
    +) start with `digits`, the first CARRIER_LONGEST_PREFIX of them; "" when none. Its
    lookup reads no more of a number than that, so one answer holds for all of them."""
    for length in range(len(digits), 0, -1):
        names = CARRIER_DATA.get(digits[:length])
        if names is not None and "en" in names:
            return str(names["en"])
    return ""


def carrier_name(number: PhoneNumber, e164: str, kind: int | None = None) -> str:
    """What carrier.name_for_number(number, "en") answers, by the cache; `kind` the
    number's type when the caller has it (the importer does)."""
    if kind is None:
        kind = phonenumbers.number_type(number)
    if kind not in CARRIER_KINDS:
        return ""
    return carrier_of_prefix(e164[1:1 + CARRIER_LONGEST_PREFIX])


@functools.cache
def carrier_names() -> dict[str, str]:
    """Every carrier name phonenumbers knows, casefolded, in every language it gives it,
    -> the English name (or the name itself, where it has no English one)."""
    from phonenumbers.carrierdata import CARRIER_DATA

    names: dict[str, str] = {}
    for languages in CARRIER_DATA.values():
        english = languages.get("en")
        for name in languages.values():
            names.setdefault(name.casefold(), english or name)
    return names


@dataclass(frozen=True)
class Route:
    """One channel's routing, ready to match."""

    channel: str
    countries: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    """E.164 prefixes with their +, e.g. +86138."""
    carriers: frozenset[str] = frozenset()
    """English carrier names, casefolded."""

    @classmethod
    def of(cls, channel: str, countries: Sequence[str] = (), prefixes: Sequence[str] = (),
           carriers: Sequence[str] = ()) -> Route:
        known = carrier_names()
        return cls(channel, frozenset(countries), tuple(prefixes),
                   frozenset(known.get(c.casefold(), c).casefold() for c in carriers))

    @property
    def narrows(self) -> bool:
        """Whether the route serves fewer than every number."""
        return bool(self.countries or self.prefixes or self.carriers)

    def serves(self, e164: str, country: str, carrier_name: str | None) -> bool:
        if self.countries and country not in self.countries:
            return False
        if self.prefixes and not e164.startswith(self.prefixes):
            return False
        return not self.carriers or (carrier_name or "").casefold() in self.carriers


class Router:
    """Routes numbers to the first route that serves them, in the order given, passing
    over the channels `unavailable` names (not Ready, or failed over). `waits`: a number
    that only unavailable channels serve takes the first of them, to wait there until it
    is back (an import, an event); else it has no route (a failover: nowhere to move)."""

    def __init__(self, routes: Sequence[Route], unavailable: Collection[str] = (), *,
                 waits: bool = False) -> None:
        self.routes = tuple(routes)
        self.unavailable = frozenset(unavailable)
        self.waits = waits
        self.needs_carrier = any(route.carriers for route in self.routes)

    def route(self, number: PhoneNumber, e164: str | None = None, *,
              after: str | None = None, kind: int | None = None,
              country: str | None = None) -> str | None:
        """The channel for a parsed, valid number; None when no route serves it
        (counted Unroutable, with its country). `after`: only the routes after that
        channel's (where a message fails over to). `kind`: its type, `country` its
        region ("" for none), if known."""
        e164 = e164 or phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if country is None:
            country = phonenumbers.region_code_for_number(number) or ""
        name = carrier_name(number, e164, kind) if self.needs_carrier else None
        routes = self.routes
        if after is not None:
            routes = routes[1 + next(i for i, r in enumerate(routes) if r.channel == after):]
        waiting_for = None
        for route in routes:
            if route.serves(e164, country, name):
                if route.channel not in self.unavailable:
                    return route.channel
                if self.waits and waiting_for is None:
                    waiting_for = route.channel
        return waiting_for


def routing_problems(countries: Sequence[str], carriers: Sequence[str]) -> list[str]:
    """What in a channel's routing matches no number: unknown countries and carriers."""
    problems = []
    unknown = sorted(set(countries) - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        problems.append(f"countries phonenumbers has no numbers for: {', '.join(unknown)}")
    known = carrier_names()
    strangers = sorted({c for c in carriers if c.casefold() not in known})
    if strangers:
        problems.append("carriers phonenumbers does not know (no number would match them):"
                        f" {', '.join(strangers)}")
    return problems
