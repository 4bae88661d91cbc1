"""Ticks of a cron expression on the wall clock of an IANA time zone. Pure.

croniter walks the wall clock naively (no time zone, so no DST in it), each wall-clock
time once; each is then placed in the zone as Python places a local time (fold=0):

- a time the zone skips (02:30 on the night clocks go forward an hour) lands as far
  after the change as it lay after the skipped hour's start: 03:30 the new time. A tick
  that lands on an instant another tick already has (02:30 and 03:30 of an hourly cron)
  runs once.
- a time the zone has twice (01:30 on the night clocks go back) is its first
  occurrence; the second runs nothing, so a daily campaign sends once that day (an
  hourly one skips the repeated hour's tick).

Around a change the naive order and the real order differ, so the walk starts a few
hours before the wanted instant when the zone's offset changed in between.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

DST_REACH = timedelta(hours=3)
"""More than any offset change a zone makes at once (two hours, historically)."""
STEPS_MAX = 2000
"""Ticks one search walks at most (a minutely cron across DST_REACH: about 360)."""


class InvalidCron(ValueError):
    """The expression or the time zone cannot be used; the message says why."""


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidCron(f"schedule.timeZone {name!r} is not an IANA time zone") from error


def cron_error(expression: str, time_zone: str, now: datetime) -> str | None:
    """Why the recurrence cannot run (None when it can): croniter's message for an
    expression it refuses, or one that never fires (the 31st of February)."""
    try:
        next_tick(expression, time_zone, now)
    except InvalidCron as error:
        return str(error)
    return None


def _walker(expression: str, start: datetime) -> croniter:
    try:
        return croniter(expression, start)
    except (CroniterError, ValueError, KeyError) as error:
        raise InvalidCron(f"schedule.recurrence {expression!r}: {error}") from error


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _place(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _offset_changed(zone: ZoneInfo, instant: datetime) -> bool:
    return instant.astimezone(zone).utcoffset() != (instant - DST_REACH).astimezone(
        zone).utcoffset()


def _step(walker: croniter, forward: bool, expression: str) -> datetime:
    try:
        found: datetime = walker.get_next(datetime) if forward else walker.get_prev(datetime)
    except (CroniterError, ValueError) as error:
        raise InvalidCron(f"schedule.recurrence {expression!r} never fires: {error}") from error
    return found


def next_tick(expression: str, time_zone: str, after: datetime) -> datetime:
    """The first tick strictly after `after` (an aware datetime), in UTC."""
    zone = zone_of(time_zone)
    start = _wall(after, zone)
    if _offset_changed(zone, after):
        start -= DST_REACH
    walker = _walker(expression, start)
    for _ in range(STEPS_MAX):
        tick = _place(_step(walker, True, expression), zone)
        if tick > after:
            return tick
    raise InvalidCron(f"schedule.recurrence {expression!r}: no tick found after {after}")


def latest_tick(expression: str, time_zone: str, at: datetime) -> datetime:
    """The last tick at or before `at`, in UTC."""
    zone = zone_of(time_zone)
    start = _wall(at, zone) + timedelta(microseconds=1)
    if _offset_changed(zone, at):
        start += DST_REACH
    walker = _walker(expression, start)
    for _ in range(STEPS_MAX):
        tick = _place(_step(walker, False, expression), zone)
        if tick <= at:
            return tick
    raise InvalidCron(f"schedule.recurrence {expression!r}: no tick found before {at}")
