"""Typed audience filters: real CEL over real rows, typed by the column mapping; the
date helpers in the campaign's time zone with a clock the tests set; the apply-time
check; a row that cannot be judged counted FilterError through a real import."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from crds.campaign import VariableType
from sender.importer.process import run_import
from sender.importer.report import read_import_report
from sender.sms.audience_filter import FilterRowError, compile_filter, filter_error
from tests.test_import_process import KEYS, mounted, redis_env, start_run, stored

__all__ = ["mounted", "redis_env"]  # fixtures
T = VariableType
TYPES = {"age": T.INT, "spend": T.DECIMAL, "vip": T.BOOL, "born": T.DATE,
         "seen": T.TIMESTAMP, "tags": T.LIST, "city": T.STRING}
# 2026-12-02 10:00 UTC is 18:00 in Shanghai, still the 2nd; 2026-12-01 20:00 UTC is the 2nd
# in Shanghai but the 1st in UTC.
NOON = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
LATE = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def keep(expression: str, row: dict[str, str], *, zone: str = "Asia/Shanghai",
         at: datetime = NOON) -> bool:
    predicate = compile_filter(expression, TYPES, zone, lambda: at)
    assert predicate is not None
    return predicate(row)


# Each row: the expression, a row's cells, whether it is kept.
@pytest.mark.parametrize("expression, row, kept", [
    pytest.param("vars.age > 30", {"age": "42"}, True, id="int-compares-as-int"),
    pytest.param("vars.age > 30", {"age": "9"}, False, id="int-not-string-order"),
    pytest.param("vars.age >= 42", {"age": "42.0"}, True, id="int-written-by-excel"),
    pytest.param("vars.spend > 99.5", {"spend": "100"}, True, id="decimal"),
    pytest.param("vars.vip", {"vip": "是"}, True, id="bool-chinese-yes"),
    pytest.param("!vars.vip", {"vip": "No"}, True, id="bool-no"),
    pytest.param('"gold" in vars.tags', {"tags": "silver; gold"}, True, id="list-contains"),
    pytest.param("size(vars.tags) == 3", {"tags": "a|b|c"}, True, id="list-size"),
    pytest.param('vars.city == "上海"', {"city": "上海"}, True, id="string"),
    pytest.param("has(vars.age) && vars.age > 1", {"age": ""}, False, id="empty-cell-absent"),
    pytest.param("vars.seen < now", {"seen": "2026-12-02T09:00:00+00:00"}, True,
                 id="timestamp-with-offset"),
    pytest.param("vars.seen > now", {"seen": "2026-12-02T17:00:00"}, False,
                 id="timestamp-local-to-campaign"),
    pytest.param("vars.born < today", {"born": "2026-12-01"}, True, id="date-before-today"),
    pytest.param("age(vars.born) >= 18", {"born": "2008-12-02"}, True, id="eighteen-today"),
    pytest.param("age(vars.born) >= 18", {"born": "2008-12-03"}, False, id="eighteen-tomorrow"),
    pytest.param("daysUntil(vars.born) == 7", {"born": "2026/12/09"}, True, id="days-until"),
    pytest.param("daysToAnniversary(vars.born) == 0", {"born": "19901202"}, True,
                 id="birthday-today"),
    pytest.param("daysToAnniversary(vars.born) == 364", {"born": "1990-12-01"}, True,
                 id="birthday-just-past"),
    pytest.param("month(vars.born) == 12 && day(vars.born) == 2", {"born": "2000-12-02"},
                 True, id="month-and-day"),
])
def test_filters_see_typed_values(expression: str, row: dict[str, str], kept: bool) -> None:
    assert keep(expression, row) is kept


def test_today_is_the_campaigns_day() -> None:
    """At 20:00 UTC on the 1st it is already the 2nd in Shanghai."""
    row = {"born": "2000-12-02"}
    assert keep("daysToAnniversary(vars.born) == 0", row, zone="Asia/Shanghai", at=LATE)
    assert keep("daysToAnniversary(vars.born) == 1", row, zone="UTC", at=LATE)


def test_a_leap_day_birthday_comes_on_the_first_of_march() -> None:
    at = datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    assert keep("daysToAnniversary(vars.born) == 1", {"born": "2000-02-29"}, at=at)


# Each row: a row the filter cannot judge, and what the error says.
@pytest.mark.parametrize("expression, row, says", [
    pytest.param("vars.age > 30", {"age": "forty"}, "not a whole number", id="not-an-int"),
    pytest.param("vars.vip", {"vip": "maybe"}, "not true or false", id="not-a-bool"),
    pytest.param("vars.born < today", {"born": "02/12/1990"}, "not a date", id="not-a-date"),
    pytest.param("vars.age > 30", {}, "no such member", id="missing-variable"),
])
def test_a_row_that_cannot_be_judged_says_why(expression: str, row: dict[str, str],
                                              says: str) -> None:
    with pytest.raises(FilterRowError, match=says):
        keep(expression, row)


# Each row: a filter, and a word of why it is refused at apply time (None: accepted).
@pytest.mark.parametrize("expression, refused", [
    pytest.param('vars.age > 30 && "vip" in vars.tags', None, id="fine"),
    pytest.param("vars.age > ", "line 1, column", id="syntax"),
    pytest.param('vars.age > "30"', "type error", id="int-against-string"),
    pytest.param("vars.age < 5 || vars.city > 3", "type error", id="second-branch"),
    pytest.param("vars.age + 1", "not a bool", id="not-bool"),
    pytest.param("age(vars.city) > 3", "Date or Timestamp", id="helper-on-a-string"),
])
def test_the_filter_is_checked_when_applied(expression: str, refused: str | None) -> None:
    error = filter_error(expression, TYPES, "Asia/Shanghai", lambda: NOON)
    if refused is None:
        assert error is None
    else:
        assert error is not None and refused in error


def test_an_unknown_time_zone_is_refused_with_the_filter() -> None:
    error = filter_error("vars.age > 1", TYPES, "Mars/Olympus", lambda: NOON)
    assert error is not None and "Mars/Olympus" in error


async def test_an_import_counts_rows_it_cannot_judge(
    redis: aioredis.Redis, mounted: Path,
) -> None:
    mounted.write_text("phone,name,code,age,vip\n"
                       "13800130001,a,C1,42,yes\n"     # kept
                       "13800130002,b,C2,17,yes\n"     # filtered
                       "13800130003,c,C3,forty,yes\n"  # FilterError
                       "13800130004,d,C4,50,no\n")     # filtered
    await start_run(redis, {"configMapRef": {"name": "list"}, "filter":
                            "vars.age >= 18 && vars.vip", "columns": {"variables": [
                                {"name": "name", "value": "name"},
                                {"name": "code", "value": "code"},
                                {"name": "age", "value": "age", "type": "Int"},
                                {"name": "vip", "value": "vip", "type": "Bool"}]}})
    result = await run_import(KEYS.ref)
    assert (result["queued"], result["suppressed"], result["invalid"]) == (1, 2, 1)
    report = await read_import_report(redis, KEYS)
    assert report.reasons == {"FilterError": 1}
    assert list(await stored(redis)) == ["+8613800130001"]
