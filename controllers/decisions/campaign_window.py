"""Is now inside the campaign's send window? Pure, over spec.schedule and a time.

The window is read in schedule.timeZone. With timeZoneSource Recipient the senders do
not yet hold each message to its recipient's own hours, so the operator applies the
window in schedule.timeZone and says so in the message (a known gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crds.campaign import Schedule, TimeZoneSource

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class WindowCheck:
    open: bool
    message: str = ""
    """Why it is closed, and when it opens."""
    error: str = ""
    """A schedule that cannot be read (unknown time zone)."""
    opens_at: datetime | None = None
    """When a closed window opens next."""


def check_window(schedule: Schedule, now: datetime) -> WindowCheck:
    try:
        zone = ZoneInfo(schedule.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return WindowCheck(open=False, error=f"unknown time zone {schedule.time_zone!r} in"
                                             " schedule.timeZone (use an IANA name)")
    window = schedule.send_window
    if window is None:
        return WindowCheck(open=True)
    local = now.astimezone(zone)
    start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
    days = {d.value for d in window.days} or set(DAYS)
    if DAYS[local.weekday()] in days and start <= local.time() < end:
        return WindowCheck(open=True)
    note = (" (applied in schedule.timeZone: per-recipient windows are not supported yet)"
            if window.time_zone_source == TimeZoneSource.RECIPIENT else "")
    opens = _next_open(local, start, end, days)
    return WindowCheck(open=False, opens_at=opens, message=(
        f"outside the send window {window.start}-{window.end} {schedule.time_zone};"
        f" opens {opens.isoformat()}{note}"))


def _next_open(local: datetime, start: time, end: time, days: set[str]) -> datetime:
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        opening = datetime.combine(day, start, tzinfo=local.tzinfo)
        if DAYS[day.weekday()] in days and (opening > local or (
                offset == 0 and local.time() < end)):
            return opening
    return local  # unreachable: some day of the next eight is allowed
