"""sender.sms.digit_tables: a table answers as the patterns it is built from do.

classify's own tables are held to phonenumbers in tests/test_number_parsing.py; these
check the automata on the constructs one at a time, against re itself.
"""

from __future__ import annotations

import itertools
import re

import pytest

from sender.sms.digit_tables import DIGITS, Pattern, build, lookup


def verdicts(patterns: list[Pattern], digits: str) -> tuple[bool, ...]:
    return tuple(bool(re.match(p.regex, digits) if p.prefix else re.fullmatch(p.regex, digits))
                 for p in patterns)


@pytest.mark.parametrize("regexes", [
    pytest.param(["1[3-9]\\d{2}", "13\\d\\d"], id="classes-and-repeats"),
    pytest.param(["(?:1|23)\\d?", "2(?:3|4\\d)"], id="branches-optional"),
    pytest.param(["1\\d{1,3}", "(?:12)*"], id="bounded-and-unbounded"),
    pytest.param(["[02-46-9]\\d{3}|5"], id="ranges"),
    pytest.param(["(?:)1?\\d{0,2}", "(1|)(2|)\\d*"], id="empty-pieces"),
])
@pytest.mark.parametrize("prefix", [False, True])
def test_a_table_answers_as_re_on_every_string(regexes: list[str], prefix: bool) -> None:
    patterns = [Pattern(r, prefix=prefix and i == 0) for i, r in enumerate(regexes)]
    for length in range(5):
        table = build(patterns, length, lambda digits: verdicts(patterns, digits))
        assert table is not None
        for chars in itertools.product(DIGITS, repeat=length):
            digits = "".join(chars)
            if length == 0:
                continue  # no digit to look up: classify has no empty numbers
            assert lookup(table, digits) == verdicts(patterns, digits), (regexes, digits)


@pytest.mark.parametrize("regex", ["^1\\d", "(?i)1\\d", "[^1]\\d", "(?=1)\\d", "1.", "(?>1)\\d"])
def test_a_construct_not_modelled_gives_no_table(regex: str) -> None:
    assert build([Pattern(regex)], 3, lambda digits: 0) is None


def test_a_plan_over_the_budget_gives_no_table() -> None:
    patterns = [Pattern("\\d{2}(?:12|34|56)\\d")]
    assert build(patterns, 5, lambda digits: verdicts(patterns, digits), budget=5) is None
    assert build(patterns, 5, lambda digits: verdicts(patterns, digits)) is not None


def test_a_leaf_is_a_prefix_every_completion_shares() -> None:
    patterns = [Pattern("13\\d{3}")]
    table = build(patterns, 5, lambda digits: verdicts(patterns, digits))
    assert table is not None
    assert table["1"]["3"] == (True,)  # decided after two digits
    assert table["2"] == (False,)
