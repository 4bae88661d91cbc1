"""Reading a phone number fast: the plain forms without phonenumbers' general parser, and
a number's region and type worked out once.

phonenumbers.parse reads whatever a person may write (letters as in 1-800-FLOWERS,
extensions, RFC 3966 URIs, punctuation, international prefixes such as 00 or 011), and
is_valid_number, number_type and region_code_for_number each match the number against
its region's patterns again. An import of clean lists spent most of its time there
(12-20k rows/s). Most rows of a list are in one of two plain forms: `+` and digits
(E.164), or digits alone in the national form of the campaign's default region.

`parse_plain` reads those two forms with the steps phonenumbers.parse takes once its
normalising is done (normalising plain ASCII digits changes nothing): the same
phonenumbers functions over the same metadata, in the same order. Wherever parse would
take a branch this does not follow (an international prefix such as 00 before the
digits, a national number that begins with the region's country code, a country code
phonenumbers does not know), it answers None and the caller's phonenumbers.parse
decides. `classify` gives region_code_for_number and number_type from one pass, and the
validity is_valid_number gives: is_valid_number is "the type over the region's patterns
is not UNKNOWN", the same match number_type makes. The type match itself is the one
piece written here rather than called: phonenumbers' _number_type_helper step by step,
over patterns compiled once a region (a third of its time). Once a country code and
length has had TABLE_AFTER numbers, classify answers from a table by leading digits
built from those same patterns (sender.sms.digit_tables), 0.45 µs against 2.5.

phonenumbers compiles its metadata's patterns through the re module's cache, which holds
512: a list of numbers from many countries recompiled them all the time (350 µs a number
against 22 on a mixed list). `phonenumbers.enable_pattern_cache()`, called on import
here, keeps each once (about 1,300 patterns for every region, well under a megabyte).

phonenumbers' private helpers are used on purpose, so that the steps are its own, not a
copy that drifts from its next release; tests/test_number_parsing.py holds every result
equal to the full parse on a large generated set and on the messy test files, so an
upgrade that changes them fails there first.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, NamedTuple, cast

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberDesc, PhoneNumberType
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    SUPPORTED_REGIONS,
    ValidationResult,
    _maybe_strip_national_prefix_carrier_code,
    _set_italian_leading_zeros_for_phone_number,
    _test_number_length,
)

from sender.sms.digit_tables import Pattern, Table, build

phonenumbers.enable_pattern_cache()

# `+` and digits, or digits alone: 7 to 15 ASCII digits, nothing else (the caller has
# stripped spaces around). Fewer than 7 is never a valid mobile number; more than 15 is
# not E.164. Anything else goes to phonenumbers.parse.
_PLAIN = re.compile(r"(\+?)([0-9]{7,15})", re.ASCII)

# Lengths parse refuses to strip a national prefix to (phonenumbers.parse).
_UNSTRIPPED = (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
               ValidationResult.INVALID_LENGTH)
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN
_LONGEST_COUNTRY_CODE = 3
_NON_GEO = "001"  # phonenumbers' REGION_CODE_FOR_NON_GEO_ENTITY (+800, +808, +870...)


def parse_plain(text: str, region: str) -> tuple[int, str] | None:
    """The country code and national significant number of the number
    phonenumbers.parse(text, region or None) gives (`number_of` builds it), or None when
    `text` is not a plain form or parse would read it another way (the caller then
    parses it)."""
    match = _PLAIN.fullmatch(text)
    if match is None:
        return None
    plus, digits = match.groups()
    if plus:  # parse: strip the plus, then the first 1-3 digits that are a country code
        country_code, national = _country_code(digits)
        if not country_code:
            return None  # parse retries it as a national number: its call
        reading = _code_reading(country_code)
        if reading is None:
            return None
    else:  # parse: no country code found, so the default region's
        reading = _national_reading(region)
        if reading is None or digits.startswith(reading.code):
            return None  # no region to read it in, or maybe the code without its plus
        if reading.idd is not None and reading.idd.match(digits):
            return None  # 00..., 011...: dialled from abroad (parse may not strip it)
        country_code, national = reading.country_code, digits
    # Where the national prefix does not match at the start,
    # _maybe_strip_national_prefix_carrier_code returns the number as it is (its first
    # steps): the call and the length test after it are skipped (two Python calls a
    # number of a clean list, for one regex match).
    if reading.national_prefix is not None and reading.national_prefix.match(national):
        _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, reading.metadata)
        if _test_number_length(stripped, reading.metadata) not in _UNSTRIPPED:
            national = stripped
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None  # parse raises: let it, with its reason
    return country_code, national


def number_of(country_code: int, national: str) -> PhoneNumber:
    """The PhoneNumber parse gives for a plain form parse_plain read (built only when
    asked for: an import needs it only to route a number or find its zone)."""
    number = PhoneNumber(country_code=country_code)
    _set_italian_leading_zeros_for_phone_number(national, number)  # "0" kept, as parse
    number.national_number = int(national)
    return number


def classify(country_code: int, national: str) -> tuple[str, int]:
    """The region (region_code_for_number, "" for none) and the type (number_type) of
    the number of `country_code` and national significant number `national`, UNKNOWN
    exactly when is_valid_number says it is not valid.

    Read from the country's table for numbers of this length once it has one
    (sender.sms.digit_tables: built from the same patterns, after TABLE_AFTER numbers),
    else by matching the patterns (_classify)."""
    key = (country_code, len(national))
    table = _TABLES.get(key)
    if table is not None:
        try:  # digit_tables.lookup, inlined: a clean row's hottest call
            node: Any = table
            index = 0
            while type(node) is dict:
                node = node[national[index]]
                index += 1
            return cast(tuple[str, int], node)
        except KeyError:  # not ASCII digits, which no table holds
            return _classify(country_code, national)
    if key not in _TABLES:
        uses = _USES[key] = _USES.get(key, 0) + 1
        budget = TABLE_AFTER.get(uses)
        if budget is not None:
            built = _table(country_code, len(national), budget)
            if built is not None or uses == _LAST_TRY:  # None: the patterns answer it
                _TABLES[key] = built
                del _USES[key]
    return _classify(country_code, national)


TABLE_AFTER = {4096: 2048, 65536: 20_000}
"""Numbers of a country code and length read by its patterns before its table is built,
and the states the table may have then. A table's states cost about 30 µs each to
build, a number matched about 2.5: a list's main countries get theirs early (China's
numbers of 11 digits need 560 states, the US's of 10, 1,800), one with a few thousand
numbers of a country does not pay for its table, and a plan too large for the first
budget gets a second, larger, after more numbers."""

_LAST_TRY = max(TABLE_AFTER)
_TABLES: dict[tuple[int, int], Table | None] = {}
"""(country code, length) -> its table, or None: none could be built (the patterns
answer). Bounded: a country code has a table at most for each length 1-17."""
_USES: dict[tuple[int, int], int] = {}


def _table(country_code: int, length: int, budget: int) -> Table | None:
    """classify's table for `country_code`'s numbers of `length` digits: built from
    the patterns _classify reads (a type excluding the length is left out: it matches
    none of them)."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code) or ()
    patterns: list[Pattern] = []

    def types(found: _Types | None) -> None:
        if found is not None:
            patterns.extend(Pattern(d.pattern.pattern) for d in (
                found.general, *(d for _, d in found.special), found.fixed_line, found.mobile)
                if d.pattern is not None and (d.lengths is None or length in d.lengths))

    for region in regions:
        types(_region_types(country_code, region))
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if len(regions) > 1 and metadata is not None:  # what _region_from_list reads
            if metadata.leading_digits is not None:
                patterns.append(Pattern(metadata.leading_digits, prefix=True))
            else:
                types(_types(metadata))
    return build(list(dict.fromkeys(patterns)), length,
                 lambda digits: _classify(country_code, digits), budget)


def _classify(country_code: int, national: str) -> tuple[str, int]:
    """classify by matching the patterns, as phonenumbers does."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return "", PhoneNumberType.UNKNOWN
    region = regions[0] if len(regions) == 1 else _region_from_list(national, regions)
    if region is None:
        return "", PhoneNumberType.UNKNOWN
    types = _region_types(country_code, region)
    if types is None:
        return region, PhoneNumberType.UNKNOWN  # is_valid_number_for_region's refusal
    return region, types.type_of(national)


@cache
def _region_types(country_code: int, region: str) -> _Types | None:
    """The types a number of `region` is matched against; None where
    is_valid_number_for_region refuses the region for the country code."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None or (region != _NON_GEO and country_code != metadata.country_code):
        return None
    return _types(metadata)


class _Reading(NamedTuple):
    """What parse_plain reads a number with, found once a region or country code."""

    metadata: PhoneMetadata
    country_code: int
    code: str
    """The country code's digits."""
    idd: re.Pattern[str] | None
    """The international prefix (parse strips it, if it is there, before reading)."""
    national_prefix: re.Pattern[str] | None
    """The national prefix parse strips (national_prefix_for_parsing), None for none."""

    @classmethod
    def of(cls, metadata: PhoneMetadata | None, country_code: int) -> _Reading | None:
        if metadata is None:
            return None
        idd, prefix = metadata.international_prefix, metadata.national_prefix_for_parsing
        return cls(metadata, country_code, str(country_code),
                   None if idd is None else _pattern(idd), _pattern(prefix) if prefix else None)


@cache
def _code_reading(country_code: int) -> _Reading | None:
    """What parse reads a number after +`country_code` with."""
    return _Reading.of(PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, phonenumbers.region_code_for_country_code(country_code)), country_code)


@cache
def _national_reading(region: str) -> _Reading | None:
    """What parse reads a national number of `region` with; None where it has no
    region to read it in."""
    metadata = _national_metadata(region)
    if metadata is None or metadata.country_code is None:
        return None
    return _Reading.of(metadata, metadata.country_code)


def _region_from_list(national: str, regions: tuple[str, ...]) -> str | None:
    """phonenumbers' _region_code_for_number_from_list: the first of a shared country
    code's regions whose leading digits the number has, or, for a region without them,
    whose patterns it matches."""
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if _pattern(metadata.leading_digits).match(national):
                return region
        elif _types(metadata).type_of(national) != PhoneNumberType.UNKNOWN:
            return region
    return None


class _Desc(NamedTuple):
    """One number type's description, as _is_number_matching_desc reads it."""

    lengths: frozenset[int] | None
    """The lengths it allows; None: any."""
    pattern: re.Pattern[str] | None
    """None: it matches no number (no description, or an empty pattern)."""

    @classmethod
    def of(cls, desc: PhoneNumberDesc | None) -> _Desc:
        if desc is None or not desc.national_number_pattern:
            return cls(None, None)
        return cls(frozenset(desc.possible_length) or None,
                   _pattern(desc.national_number_pattern))

    def matches(self, national: str) -> bool:
        return (self.pattern is not None
                and (self.lengths is None or len(national) in self.lengths)
                and self.pattern.fullmatch(national) is not None)


class _Types(NamedTuple):
    """A region's number types, compiled once: phonenumbers' _number_type_helper, which
    goes through its pattern cache and matches each pattern twice (match, then
    fullmatch: the same answer without prefix matches), for a third of the time."""

    general: _Desc
    special: tuple[tuple[int, _Desc], ...]
    """The types tried before fixed line and mobile, in _number_type_helper's order
    (those without a pattern left out: they match nothing)."""
    fixed_line: _Desc
    mobile: _Desc
    same_mobile_and_fixed_line: bool

    def type_of(self, national: str) -> int:
        if not self.general.matches(national):
            return PhoneNumberType.UNKNOWN
        for kind, desc in self.special:
            if desc.matches(national):
                return kind
        if self.fixed_line.matches(national):
            if self.same_mobile_and_fixed_line or self.mobile.matches(national):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self.same_mobile_and_fixed_line and self.mobile.matches(national):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN


_TYPES: dict[int, tuple[PhoneMetadata, _Types]] = {}


def _types(metadata: PhoneMetadata) -> _Types:
    """The compiled types of `metadata` (phonenumbers keeps one object a region, so
    its id names it; the entry holds the object, so the id is never reused)."""
    found = _TYPES.get(id(metadata))
    if found is None:
        found = _TYPES[id(metadata)] = (metadata, _Types(
            _Desc.of(metadata.general_desc),
            tuple((kind, _Desc.of(desc)) for kind, desc in (
                (PhoneNumberType.PREMIUM_RATE, metadata.premium_rate),
                (PhoneNumberType.TOLL_FREE, metadata.toll_free),
                (PhoneNumberType.SHARED_COST, metadata.shared_cost),
                (PhoneNumberType.VOIP, metadata.voip),
                (PhoneNumberType.PERSONAL_NUMBER, metadata.personal_number),
                (PhoneNumberType.PAGER, metadata.pager),
                (PhoneNumberType.UAN, metadata.uan),
                (PhoneNumberType.VOICEMAIL, metadata.voicemail))
                if _Desc.of(desc).pattern is not None),
            _Desc.of(metadata.fixed_line), _Desc.of(metadata.mobile),
            bool(metadata.same_mobile_and_fixed_line_pattern)))
    return found[1]


# The country codes as digits (no code begins with 0, so each is its int's str).
_COUNTRY_CODES = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}


def _code_of(digits: str) -> tuple[int, int]:
    """phonenumbers' _extract_country_code: the first 1-3 digits that are a country code
    (it compares int(digits[:n]); digits not starting with 0 are their int's str), and
    how many digits it is; 0, 0 for none."""
    if digits[0] == "0":
        return 0, 0
    for length in range(1, _LONGEST_COUNTRY_CODE + 1):
        code = _COUNTRY_CODES.get(digits[:length])
        if code is not None:
            return code, length
    return 0, 0


# _code_of each three leading digits: a number's country code in one lookup, not up to
# three (a tenth of reading an E.164 number).
_CODE_BY_PREFIX = {f"{i:03d}": _code_of(f"{i:03d}") for i in range(10 ** _LONGEST_COUNTRY_CODE)}


def _country_code(digits: str) -> tuple[int, str]:
    """The country code `digits` (three ASCII digits or more) begin with, as
    _code_of finds it, and the digits after it (all of them for none)."""
    code, length = _CODE_BY_PREFIX[digits[:_LONGEST_COUNTRY_CODE]]
    return code, digits[length:]


@cache
def _national_metadata(region: str) -> PhoneMetadata | None:
    """The metadata parse reads a national number of `region` with; None where parse
    refuses the region (_check_region_for_parsing)."""
    if region not in SUPPORTED_REGIONS:  # as parse: "cn" is no region, "CN" is
        return None
    return PhoneMetadata.metadata_for_region(region, None)


@cache
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)
