"""sender.sms.number_parsing: the fast path reads every number as phonenumbers' full
parse does, and reads the plain forms itself.

The reference is the path numbers took before the fast path: phonenumbers.parse, then
is_valid_number, number_type, region_code_for_number and format_number, each on its
own. Inputs: 200,000 generated from phonenumbers' own example numbers for every region
and type, written in every form a list holds them (E.164, national, with the national
prefix, with the country code but no plus, after an IDD, with digits changed, cut or
added, random digits), read in the number's region and in others; and the rows of the
messy files the audience tests read.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType
from phonenumbers.phonenumberutil import _extract_country_code

from sender.sms import number_parsing
from sender.sms.number_parsing import number_of, parse_plain
from sender.sms.number_zones import zone_of_number
from sender.sms.numbers import DropReason, ParsedNumber, parse_number, parse_number_by_phonenumbers
from tests.test_audience_files import MESSY

GENERATED = 200_000
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
DEFAULTS = ["CN", "US", "GB", "IT", "AR", "MX", "BR", "DE", "IN", "RU", "", "cn", "001"]
"""Default regions a number is also read in besides its own ("" and "001": none)."""
TYPES = [t for t in vars(PhoneNumberType).values()
         if isinstance(t, int) and t != PhoneNumberType.UNKNOWN]

Outcome = tuple[str, int, str, str] | DropReason


def outcome(parsed: ParsedNumber | DropReason) -> Outcome:
    if isinstance(parsed, DropReason):
        return parsed
    return (parsed.e164, parsed.kind, parsed.region,
            zone_of_number(parsed.number, parsed.kind, parsed.e164))


def reference(raw: str, region: str) -> Outcome:
    """What Herald gave for a number before the fast path: phonenumbers alone."""
    return outcome(parse_number_by_phonenumbers(raw, region))


def herald(raw: str, region: str) -> Outcome:
    return outcome(parse_number(raw, region))


def examples() -> list[tuple[str, str, int, str]]:
    """(region, national significant number, country code, national prefix) of every
    example number phonenumbers has, by region and type."""
    found = []
    for region in REGIONS:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert metadata is not None
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append((region, phonenumbers.national_significant_number(number),
                              number.country_code or 0, metadata.national_prefix or ""))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.append(("001", phonenumbers.national_significant_number(number), code, ""))
    return found


def changed(digits: str, rng: random.Random) -> str:
    """The digits with a few changed, cut or added (valid and invalid neighbours)."""
    match rng.randrange(4):
        case 0:
            return digits
        case 1:  # other last digits: another subscriber of the same range
            keep = rng.randrange(len(digits) // 2, len(digits) + 1)
            return digits[:keep] + "".join(rng.choice("0123456789")
                                           for _ in range(len(digits) - keep))
        case 2:
            return digits[:-rng.randrange(1, 3)]
        case _:
            return digits + "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 3)))


def generated(count: int, seed: int = 17) -> Iterator[tuple[str, str]]:
    """(text, default region) pairs, `count` of them, the same on every run."""
    rng = random.Random(seed)
    pool = examples()
    for _ in range(count):
        region, national, code, prefix = rng.choice(pool)
        digits = changed(national, rng)
        form = rng.randrange(10)
        if form < 3:
            text = f"+{code}{digits}"
        elif form < 6:
            text = digits
        elif form == 6:
            text = f"{prefix}{digits}"
        elif form == 7:
            text = f"{code}{digits}"
        elif form == 8:
            text = rng.choice(["00", "011", "810", "0011", "+00", "+0"]) + f"{code}{digits}"
        else:
            text = rng.choice(["+", ""]) + "".join(
                rng.choice("0123456789") for _ in range(rng.randrange(5, 18)))
        default = region if rng.random() < 0.6 else rng.choice(DEFAULTS)
        yield text, "" if default == "001" else default


MESSY_CELLS = [line.split(",")[0] for line in MESSY.splitlines()[1:]] + [
    "１３８００１３８０００", "+86 139-0013-9000", "0086 137 0013 7000", "8613600136000",
    "13500135000.0", "1.38E+10", "010-65529988", "+8613800138000\t", " 13800138000 ",
    "+86138001380000", "+8613800138", "138-0013-8000", "+1 (415) 555-0123", "4155550123",
    "+44 7911 123456", "07911 123456", "+39 06 6982 1234", "0039066982", "+390312345678",
    "tel:+8613800138000", "+86 138 0013 8000 ext. 12", "1-800-FLOWERS", "+0086138",
    "٠١٣٨٠٠١٣٨٠٠٠", "+٨٦١٣٨٠٠١٣٨٠٠٠", "１３８００１３８０００.0", "+8613800138000.00", "",
]
"""The rows of the audience tests' messy export and other forms people write."""


@pytest.mark.parametrize("region", ["CN", "US", "GB", "IT", ""])
def test_messy_cells_read_as_phonenumbers_reads_them(region: str) -> None:
    for cell in MESSY_CELLS:
        assert herald(cell, region) == reference(cell, region), (cell, region)


def test_every_generated_number_reads_as_phonenumbers_reads_it() -> None:
    fast: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for text, region in generated(GENERATED):
        expected = reference(text, region)
        assert herald(text, region) == expected, (text, region)
        plain = parse_plain(text, region)
        if plain is not None:  # the fast path's number is parse's, field by field
            assert number_of(*plain) == phonenumbers.parse(text, region or None), (text, region)
            fast["plain"] += 1
        outcomes[expected if isinstance(expected, DropReason) else "valid"] += 1
    # The set reaches every outcome, and the fast path reads most of it itself.
    assert outcomes["valid"] > GENERATED // 20
    assert all(outcomes[reason] for reason in (DropReason.UNPARSABLE_NUMBER,
                                               DropReason.INVALID_NUMBER, DropReason.NOT_MOBILE))
    assert fast["plain"] > GENERATED // 2


def test_every_generated_number_reads_the_same_from_the_tables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same set with a table built for each country code and length on its first
    number (classify's tables, sender.sms.digit_tables): every answer is a table's."""
    monkeypatch.setattr(number_parsing, "TABLE_AFTER", {1: 20_000})
    monkeypatch.setattr(number_parsing, "_LAST_TRY", 1)
    monkeypatch.setattr(number_parsing, "_TABLES", {})
    monkeypatch.setattr(number_parsing, "_USES", {})
    for text, region in generated(GENERATED):
        assert herald(text, region) == reference(text, region), (text, region)
    assert len(number_parsing._TABLES) > 1000  # every country code, at several lengths
    assert None not in number_parsing._TABLES.values()  # each within the budget


@pytest.mark.parametrize("text, region", [
    ("+8613800138000", "CN"), ("+8613800138000", ""), ("13800138000", "CN"),
    ("4155550123", "US"), ("+447911123456", "US"), ("07911123456", "GB"),
    ("+390669821234", ""), ("0669821234", "IT"),
])
def test_clean_forms_take_the_fast_path(text: str, region: str) -> None:
    plain = parse_plain(text, region)
    assert plain is not None
    assert number_of(*plain) == phonenumbers.parse(text, region or None)


@pytest.mark.parametrize("text, region", [
    pytest.param("008613800138000", "CN", id="after-an-idd"),
    pytest.param("8613800138000", "CN", id="country-code-without-plus"),
    pytest.param("13800138000", "", id="national-without-a-region"),
    pytest.param("+0613800138000", "CN", id="no-country-code-after-the-plus"),
    pytest.param("+86 138 0013 8000", "CN", id="spaced"),
    pytest.param("１３８００１３８０００", "CN", id="full-width"),
])
def test_other_forms_are_left_to_phonenumbers(text: str, region: str) -> None:
    assert parse_plain(text, region) is None


def test_the_country_code_of_every_three_leading_digits_is_phonenumbers() -> None:
    for i in range(1000):
        digits = f"{i:03d}8001380"
        code, rest = _extract_country_code(digits)
        assert number_parsing._country_code(digits) == (code, rest if code else digits)
