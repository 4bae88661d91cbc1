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
is not UNKNOWN", the same match number_type makes.

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

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberType
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    SUPPORTED_REGIONS,
    ValidationResult,
    _maybe_strip_national_prefix_carrier_code,
    _number_type_helper,
    _set_italian_leading_zeros_for_phone_number,
    _test_number_length,
    national_significant_number,
)

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


def parse_plain(text: str, region: str) -> PhoneNumber | None:
    """The number phonenumbers.parse(text, region or None) gives, or None when `text` is
    not a plain form or parse would read it another way (the caller then parses it)."""
    match = _PLAIN.fullmatch(text)
    if match is None:
        return None
    plus, digits = match.groups()
    if plus:  # parse: strip the plus, then the first 1-3 digits that are a country code
        country_code, national = _country_code(digits)
        if not country_code:
            return None  # parse retries it as a national number: its call
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(
            country_code, phonenumbers.region_code_for_country_code(country_code))
    else:  # parse: no country code found, so the default region's
        metadata = _national_metadata(region)
        if metadata is None or metadata.country_code is None \
                or digits.startswith(str(metadata.country_code)):
            return None  # no region to read it in, or maybe the code without its plus
        if _starts_with_international_prefix(metadata, digits):
            return None  # 00..., 011...: dialled from abroad
        country_code, national = metadata.country_code, digits
    if metadata is None:
        return None
    _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
    if _test_number_length(stripped, metadata) not in _UNSTRIPPED:
        national = stripped
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None  # parse raises: let it, with its reason
    number = PhoneNumber(country_code=country_code)
    _set_italian_leading_zeros_for_phone_number(national, number)
    number.national_number = int(national)
    return number


def classify(number: PhoneNumber) -> tuple[str, int]:
    """The number's region (region_code_for_number, "" for none) and its type
    (number_type), UNKNOWN exactly when is_valid_number says it is not valid."""
    region = phonenumbers.region_code_for_number(number)
    if region is None:
        return "", PhoneNumberType.UNKNOWN
    country_code = number.country_code or 0
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None or (region != _NON_GEO
                            and country_code != metadata.country_code):
        return region, PhoneNumberType.UNKNOWN  # is_valid_number_for_region's refusal
    return region, _number_type_helper(national_significant_number(number), metadata)


def e164(number: PhoneNumber) -> str:
    """format_number(number, E164): what it returns for a number parse gave."""
    return f"+{number.country_code}{national_significant_number(number)}"


def _country_code(digits: str) -> tuple[int, str]:
    """phonenumbers' _extract_country_code: the first 1-3 digits that are a country code."""
    if digits[0] == "0":
        return 0, digits
    for length in range(1, _LONGEST_COUNTRY_CODE + 1):
        code = int(digits[:length])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[length:]
    return 0, digits


@cache
def _national_metadata(region: str) -> PhoneMetadata | None:
    """The metadata parse reads a national number of `region` with; None where parse
    refuses the region (_check_region_for_parsing)."""
    if region not in SUPPORTED_REGIONS:  # as parse: "cn" is no region, "CN" is
        return None
    return PhoneMetadata.metadata_for_region(region, None)


def _starts_with_international_prefix(metadata: PhoneMetadata, digits: str) -> bool:
    """Whether parse might strip an IDD from `digits` (it strips less often than this
    says: then the fast path only gives the number to parse)."""
    prefix = metadata.international_prefix
    return prefix is not None and _idd(prefix).match(digits) is not None


@cache
def _idd(prefix: str) -> re.Pattern[str]:
    return re.compile(prefix)
