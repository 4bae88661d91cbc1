"""The country of an E.164 number, fast, for what is looked up per message.

The importer parses every number once (sender.sms.numbers); what comes later (a
sender's address pool by country, a failure's count by country) has only the E.164
string, and most calling codes belong to one region, so a table answers them without a
parse.
"""

from __future__ import annotations

import functools

import phonenumbers

from sender.sms.numbers import NO_COUNTRY


@functools.cache
def _sole_regions() -> dict[str, str]:
    """Calling code (digits) -> its region, for the codes only one region uses."""
    return {str(code): regions[0]
            for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
            if len(regions) == 1}


def country_of(e164: str) -> str:
    """The ISO 3166-1 alpha-2 region of an E.164 number; "" when phonenumbers has none
    (an unparsable number, a non-geographic one such as +800).

    Where one region has the number's calling code (+86: CN), that is it, from a table
    (0.5 µs); where several share it (+1: US, CA and more; +44: GB, GG, IM, JE), from
    phonenumbers' reading of the whole number (about 10 µs)."""
    sole = _sole_regions()
    for length in (1, 2, 3):
        region = sole.get(e164[1:1 + length])
        if region is not None:
            return "" if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else region
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(number) or ""
    return "" if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else region


def counted_country(e164: str) -> str:
    """The country a number's counts go under: its region, or NO_COUNTRY ("ZZ") when it
    has none, as the import counts it (sender.sms.numbers.region_of)."""
    return country_of(e164) or NO_COUNTRY
