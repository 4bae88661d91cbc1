"""Is now inside the campaign's send window? Pure, over spec.schedule and a time.

A window in schedule.timeZone (timeZoneSource Campaign) closes for every recipient at
once: the operator then stops the sender pods and wakes at its opening (the senders hold
messages to it too, to the second). A window in each recipient's zone, and quiet hours,
are the senders' alone: they hold each message until its own hours
(sender.send.held_messages), so here the window is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crds.campaign import Schedule, TimeZoneSource
from sender.sms.send_times import SendRules, Span, next_change, weekday_numbers


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
    if window is None or window.time_zone_source == TimeZoneSource.RECIPIENT:
        return WindowCheck(open=True)
    rules = SendRules(window=Span.parse(window.start, window.end),
                      days=weekday_numbers([d.value for d in window.days]),
                      window_zone=schedule.time_zone)
    answer = next_change(rules, zone, now.astimezone(UTC))
    if answer.open:
        return WindowCheck(open=True)
    if answer.until is None:  # a window with no day: the schema allows none
        return WindowCheck(open=False, error="the send window opens on no day")
    opens = answer.until.astimezone(zone)
    return WindowCheck(open=False, opens_at=opens, message=(
        f"outside the send window {window.start}-{window.end} {schedule.time_zone};"
        f" opens {opens.isoformat()}"))
