"""Recipients: phone numbers normalised to E.164, why a row was dropped, how numbers
are masked in logs, and which shard a number belongs to.

Pure functions: the importer, the sender and the demo share them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType

from sender.sms.number_parsing import classify, number_of, parse_plain
from sender.sms.number_zones import zone_of_number

# Numbers that can receive SMS. FIXED_LINE_OR_MOBILE is what phonenumbers says for
# countries (the US, Canada) whose numbering does not tell the two apart.
SMS_CAPABLE = frozenset({
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PAGER,
    PhoneNumberType.UNKNOWN,  # valid but unclassified: let the carrier decide
})


class DropReason(StrEnum):
    """Why an audience row is not sent to (CamelCase: it shows in status)."""

    MISSING_NUMBER = "MissingNumber"
    UNPARSABLE_NUMBER = "UnparsableNumber"
    INVALID_NUMBER = "InvalidNumber"
    NOT_MOBILE = "NotMobile"
    MALFORMED_ROW = "MalformedRow"
    MISSING_VARIABLES = "MissingVariables"
    """The row lacks a variable its variant's template uses: it could not be rendered."""
    FILTER_ERROR = "FilterError"
    """A value did not convert to its declared type, or the filter errored on the row."""
    SCIENTIFIC_NOTATION = "ScientificNotation"
    """The number is written like 1.38E+10, as Excel saves a long number it shows in
    scientific notation to CSV: its last digits are gone, so it is not guessed at."""
    UNDECODABLE = "Undecodable"
    """The row has bytes the file's text encoding cannot decode; it is never sent with
    replacement characters."""


# A number a spreadsheet wrote as a decimal with a zero fraction (13800138000.0): exact.
_ZERO_FRACTION = re.compile(r"^(\+?\d+)[.．]0+$")
# One it wrote in scientific notation (1.38E+10): digits lost.
_SCIENTIFIC = re.compile(r"^[+-]?\d+([.．]\d+)?[eEｅＥ][+-]?\d+$")


@dataclass(frozen=True)
class Recipient:
    """One message to send: the number, its template variables, and its A/B variant."""

    phone: str
    """E.164, e.g. +8613800138000."""
    variables: dict[str, str] = field(default_factory=dict)
    variant: str = ""


def normalize_number(raw: str, default_region: str = "") -> str | DropReason:
    """The E.164 form of `raw`, or why it cannot be sent to.

    `default_region` (ISO 3166 alpha-2) reads numbers written without +country code.
    What people's files hold is read: full-width digits (１３８…), +86, 0086 and 86
    prefixes, spaces, dashes, dots and brackets, and a number a spreadsheet saved as
    13800138000.0; one saved as 1.38E+10 is refused (ScientificNotation).
    """
    parsed = parse_number(raw, default_region)
    return parsed if isinstance(parsed, DropReason) else parsed.e164


def normalize_number_in_zone(raw: str, default_region: str = "") -> tuple[str, str] | DropReason:
    """As normalize_number, with the number's own time zone: the one its prefix places
    it in, "" when it has none of its own (a country or range spanning several zones)."""
    parsed = parse_number(raw, default_region)
    if isinstance(parsed, DropReason):
        return parsed
    return parsed.e164, parsed.zone()


class ParsedNumber:
    """A number read once, for what else is asked of it (its zone, its route).

    Its phonenumbers PhoneNumber is built when first asked for: an import makes one of
    these a row and needs the PhoneNumber only to route or to find a zone."""

    __slots__ = ("_number", "country_code", "e164", "kind", "national", "region")

    def __init__(self, country_code: int, national: str, kind: int, region: str,
                 number: PhoneNumber | None = None) -> None:
        self.country_code = country_code
        self.national = national
        """Its national significant number."""
        self.kind = kind
        """Its phonenumbers PhoneNumberType."""
        self.region = region
        """Its ISO 3166 region as phonenumbers gives it (region_code_for_number), "" for
        none."""
        self.e164 = f"+{country_code}{national}"  # format_number(E164), as it builds it
        self._number = number

    @property
    def number(self) -> PhoneNumber:
        if self._number is None:
            self._number = number_of(self.country_code, self.national)
        return self._number

    def zone(self) -> str:
        """Its own time zone, as normalize_number_in_zone gives it."""
        return zone_of_number(self.number, self.kind, self.e164)

    def __repr__(self) -> str:
        return f"ParsedNumber({mask_number(self.e164)}, kind={self.kind})"


def parse_number(raw: str, default_region: str = "") -> ParsedNumber | DropReason:
    """As normalize_number, keeping the parsed number.

    A plain `+digits` or national `digits` is read without phonenumbers' general parser
    (sender.sms.number_parsing: same steps, same result, five times as fast); the rest,
    and what it leaves, phonenumbers parses."""
    text = raw.strip()
    plain = parse_plain(text, default_region)
    number: PhoneNumber | None = None
    if plain is not None:
        country_code, national = plain
    else:
        parsed = _parse(text, default_region)
        if isinstance(parsed, DropReason):
            return parsed
        number = parsed
        country_code = number.country_code or 0
        national = phonenumbers.national_significant_number(number)
    region, kind = classify(country_code, national)
    if kind == PhoneNumberType.UNKNOWN:
        return DropReason.INVALID_NUMBER
    if kind not in SMS_CAPABLE:
        return DropReason.NOT_MOBILE
    return ParsedNumber(country_code, national, kind, region, number)


def parse_number_by_phonenumbers(raw: str, default_region: str = "") -> ParsedNumber | DropReason:
    """parse_number as phonenumbers alone gives it (parse, is_valid_number, number_type,
    region_code_for_number, format_number), as Herald read numbers before its fast
    path: the oracle tests/test_number_parsing.py holds parse_number to, and the peer
    side of bench/import.py."""
    number = _parse(raw.strip(), default_region)
    if isinstance(number, DropReason):
        return number
    if not phonenumbers.is_valid_number(number):
        return DropReason.INVALID_NUMBER
    kind = phonenumbers.number_type(number)
    if kind not in SMS_CAPABLE:
        return DropReason.NOT_MOBILE
    country_code = number.country_code or 0
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ParsedNumber(country_code, e164[len(str(country_code)) + 1:], kind,
                        phonenumbers.region_code_for_number(number) or "", number)


def _parse(text: str, default_region: str) -> PhoneNumber | DropReason:
    """phonenumbers.parse of a stripped cell, after what spreadsheets do to numbers."""
    if not text:
        return DropReason.MISSING_NUMBER
    if _SCIENTIFIC.match(text):
        return DropReason.SCIENTIFIC_NOTATION
    try:
        return phonenumbers.parse(_ZERO_FRACTION.sub(r"\1", text), default_region or None)
    except phonenumbers.NumberParseException:
        return DropReason.UNPARSABLE_NUMBER


NO_COUNTRY = "ZZ"
"""The region a number's country counts go under when phonenumbers gives it none
(CLDR's code for an unknown region)."""


def region_of(number: PhoneNumber | str) -> str:
    """The ISO 3166 region a number's counts go under (a parsed one, or E.164)."""
    parsed = phonenumbers.parse(number) if isinstance(number, str) else number
    return phonenumbers.region_code_for_number(parsed) or NO_COUNTRY


def mask_number(number: str) -> str:
    """A number as logs may show it: country code and last four digits only.

    +8613800138000 -> +86*******8000. Enough to tell two numbers apart in a
    conversation with a carrier, not enough to text someone.
    """
    if len(number) <= 6:
        return "*" * len(number)
    keep_head = 3 if number.startswith("+") else 0
    return number[:keep_head] + "*" * (len(number) - keep_head - 4) + number[-4:]


def shard_of(number: str, shards: int) -> int:
    """Stable shard index of a number: the same number always lands in the same shard,
    whatever process or Python version computes it (unlike hash())."""
    digest = _blake2b(number.encode("ascii"), digest_size=8).digest()
    return _from_bytes(digest, "big") % shards


# Bound once: shard_of runs once a row of an import (a tenth of its time less).
_blake2b, _from_bytes = hashlib.blake2b, int.from_bytes
