"""Send windows and quiet hours on the recipient's wall clock, at DST edges (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from controllers.config import parse_quiet_hours
from crds.campaign import QuietHours
from sender.sms.send_times import (
    INFINITY,
    SendRules,
    SendTimes,
    Span,
    never_opens,
    next_change,
    weekday_numbers,
)

QUIET = Span.parse("21:00", "08:00")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("rules, zone, now, open_, until", [
    # Shanghai keeps no DST: quiet 21:00-08:00 is 13:00-00:00 UTC.
    pytest.param(SendRules(quiet=QUIET), "Asia/Shanghai", "2026-12-02T12:59:59", True,
                 "2026-12-02T13:00:00", id="shanghai-before-quiet"),
    pytest.param(SendRules(quiet=QUIET), "Asia/Shanghai", "2026-12-02T13:00:00", False,
                 "2026-12-03T00:00:00", id="shanghai-quiet-starts-on-the-dot"),
    # New York springs forward 2026-03-08 at 07:00 UTC (02:00 EST -> 03:00 EDT): quiet
    # hours end at 08:00 EDT, 12:00 UTC, not 13:00.
    pytest.param(SendRules(quiet=QUIET), "America/New_York", "2026-03-08T05:00:00", False,
                 "2026-03-08T12:00:00", id="new-york-spring-forward-night"),
    # ... and fall back 2026-11-01 at 06:00 UTC: 08:00 EST is 13:00 UTC.
    pytest.param(SendRules(quiet=QUIET), "America/New_York", "2026-11-01T05:00:00", False,
                 "2026-11-01T13:00:00", id="new-york-fall-back-night"),
    # A window opening at 02:30, a time that does not exist that day, opens at 03:00 EDT
    # (07:00 UTC): the first instant the clock reads 02:30 or later.
    pytest.param(SendRules(window=Span.parse("02:30", "05:00")), "America/New_York",
                 "2026-03-08T05:00:00", False, "2026-03-08T07:00:00", id="opening-in-the-gap"),
    # Quiet hours ending at 01:30 on fall-back day: they end at the first 01:30 (05:30
    # UTC) and start again when clocks go back to 01:00 (06:00 UTC).
    pytest.param(SendRules(quiet=Span.parse("00:30", "01:30")), "America/New_York",
                 "2026-11-01T05:30:00", True, "2026-11-01T06:00:00", id="fold-repeats-quiet"),
    pytest.param(SendRules(quiet=Span.parse("00:30", "01:30")), "America/New_York",
                 "2026-11-01T06:00:00", False, "2026-11-01T06:30:00", id="fold-second-pass"),
    # Lord Howe moves half an hour at 02:00 (to 02:30): a 02:00-02:15 window that day
    # never comes, so the next is the day after's (15:00 UTC, +11:00).
    pytest.param(SendRules(window=Span.parse("02:00", "02:15")), "Australia/Lord_Howe",
                 "2026-10-03T12:00:00", False, "2026-10-04T15:00:00", id="half-hour-dst-gap"),
    # Santiago springs forward at midnight (2026-09-06 00:00 -04 -> 01:00 -03): quiet
    # hours to 00:30 end with the jump, at 04:00 UTC.
    pytest.param(SendRules(quiet=Span.parse("21:00", "00:30")), "America/Santiago",
                 "2026-09-06T02:00:00", False, "2026-09-06T04:00:00", id="midnight-dst-jump"),
    # A window on weekdays only: Friday 21:00 Shanghai closes until Monday 09:00.
    pytest.param(SendRules(window=Span.parse("09:00", "21:00"),
                           days=weekday_numbers(["Monday", "Tuesday", "Wednesday",
                                                 "Thursday", "Friday"])),
                 "Asia/Shanghai", "2026-12-04T13:00:00", False, "2026-12-07T01:00:00",
                 id="weekend-closed"),
    # The window in the campaign's zone, quiet hours in the recipient's: open only where
    # both allow. Shanghai 09:00-21:00 is 01:00-13:00 UTC; London quiet until 08:00 UTC.
    pytest.param(SendRules(window=Span.parse("09:00", "21:00"), window_zone="Asia/Shanghai",
                           quiet=QUIET), "Europe/London", "2026-12-02T02:00:00", False,
                 "2026-12-02T08:00:00", id="campaign-window-recipient-quiet"),
    pytest.param(SendRules(), "Europe/London", "2026-12-02T02:00:00", True, None,
                 id="no-rules-always-open"),
    pytest.param(SendRules(window=Span.parse("22:00", "23:00"), quiet=QUIET), "Asia/Tokyo",
                 "2026-12-02T02:00:00", False, None, id="window-inside-quiet-never-opens"),
])
def test_when_a_message_may_go(rules: SendRules, zone: str, now: str, open_: bool,
                               until: str | None) -> None:
    answer = next_change(rules, ZoneInfo(zone), utc(now))
    assert (answer.open, answer.until) == (open_, utc(until) if until else None)


def test_the_answer_flips_exactly_at_each_change_over_a_year() -> None:
    """Walk a year of New York quiet hours change by change: every answer holds until
    the instant it names, and flips there (a second before it still holds)."""
    rules, zone = SendRules(quiet=QUIET), ZoneInfo("America/New_York")
    at, flips = utc("2026-01-01T00:00:00"), 0
    while at < utc("2027-01-01T00:00:00"):
        answer = next_change(rules, zone, at)
        assert answer.until is not None
        before = answer.until.timestamp() - 1
        assert next_change(rules, zone, datetime.fromtimestamp(before, UTC)).open == answer.open
        local = answer.until.astimezone(zone)
        assert local.strftime("%H:%M") == ("21:00" if answer.open else "08:00")
        at, flips = answer.until, flips + 1
    assert flips == 1 + 2 * 365  # 2025-12-31 21:00 EST, then two a day of 2026


def test_send_times_cache_answers_until_they_change() -> None:
    times = SendTimes(SendRules(default_zone="Asia/Shanghai", quiet=QUIET))
    noon = utc("2026-12-02T04:00:00").timestamp()
    assert times.check("", noon) == (True, utc("2026-12-02T13:00:00").timestamp())
    assert times.check("Mars/Olympus", noon) == times.check("Asia/Shanghai", noon)
    assert times.check("Asia/Shanghai", utc("2026-12-02T13:00:00").timestamp()) == (
        False, utc("2026-12-03T00:00:00").timestamp())
    assert times.check("Asia/Tokyo", noon) == (True, utc("2026-12-02T12:00:00").timestamp())
    assert times.everyone(noon) == (True, INFINITY)
    times.replace(SendRules(default_zone="Asia/Shanghai"))
    assert times.check("", noon) == (True, INFINITY)


def test_a_window_inside_the_quiet_hours_is_found_before_the_run() -> None:
    rules = SendRules(window=Span.parse("22:00", "23:00"), quiet=QUIET)
    assert never_opens(rules, ["Asia/Shanghai", "Nowhere/Land"], utc("2026-12-02T00:00:00")) == [
        "Asia/Shanghai"]
    assert never_opens(SendRules(quiet=QUIET), ["Asia/Shanghai"], utc("2026-12-02T00:00:00")) == []


@pytest.mark.parametrize("text, quiet", [
    pytest.param("21:00-08:00", QuietHours(start="21:00", end="08:00"), id="default"),
    pytest.param(" 22:30-07:00 ", QuietHours(start="22:30", end="07:00"), id="spaces"),
    pytest.param("None", None, id="none"),
    pytest.param("", None, id="empty"),
])
def test_the_install_sets_the_marketing_quiet_hours(text: str, quiet: QuietHours | None) -> None:
    assert parse_quiet_hours(text) == quiet


@pytest.mark.parametrize("text", ["9pm-8am", "21:00", "21:00-8:00", "none"])
def test_bad_install_quiet_hours_stop_the_operator_saying_why(text: str) -> None:
    with pytest.raises(ValueError, match=r"HERALD_MARKETING_QUIET_HOURS.*HH:MM-HH:MM"):
        parse_quiet_hours(text)
