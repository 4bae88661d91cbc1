"""The time zone a phone number places its owner in, from phonenumbers' prefix data.

phonenumbers maps a number to the zones of its prefix (a US area code, a Chinese mobile
range) or, for numbers whose type says nothing of place, of its country. Many answers
list several zones that keep the same clock (the UK's mobiles: London, Guernsey, Jersey,
the Isle of Man): one of them serves. An answer whose zones keep different clocks
(Russia, Australia, Spain with the Canaries) gives no zone of its own: "" here, and the
campaign's zone times such a recipient.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumber
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

# The clocks of two zones are compared hourly over these years: zones that agree on
# every hour keep the same clock (past changes of a zone's rules do not matter).
_COMPARED_FROM = datetime(2026, 1, 1, tzinfo=UTC)
_COMPARED_HOURS = 2 * 366 * 24


def zone_of_number(number: PhoneNumber, kind: int, e164: str) -> str:
    """The one zone of a valid number of type `kind` (its E.164 form beside), or ""."""
    country = number.country_code or 0
    if phonenumbers.is_number_type_geographical(kind, country):
        zones = _longest_prefix(e164[1:])
    else:
        zones = _longest_prefix(str(country))
    return single_zone(zones) if zones is not None else ""


def _longest_prefix(digits: str) -> tuple[str, ...] | None:
    for length in range(min(len(digits), TIMEZONE_LONGEST_PREFIX), 0, -1):
        zones = TIMEZONE_DATA.get(digits[:length])
        if zones is not None:
            return tuple(zones)
    return None


@cache
def single_zone(zones: tuple[str, ...]) -> str:
    """The zone standing for all of `zones` if they keep one clock, else ""."""
    known = []
    for name in zones:
        try:
            known.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):  # Etc/Unknown, or a name tzdata lacks
            return ""
    if not known:
        return ""
    first, rest = known[0], known[1:]
    for hour in range(0, _COMPARED_HOURS):
        at = _COMPARED_FROM + timedelta(hours=hour)
        offset = at.astimezone(first).utcoffset()
        if any(at.astimezone(other).utcoffset() != offset for other in rest):
            return ""
    return str(first.key)
