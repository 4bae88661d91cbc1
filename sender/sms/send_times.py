"""When a message may go: send windows and quiet hours on a wall clock. Pure, no I/O.

A message may go at an instant when, on the wall clock of each rule's zone at that
instant, every rule agrees:

- a send window (`Span` with days) is open: the day is one of its days and
  start <= time < end;
- quiet hours (a `Span` that may cross midnight, 21:00-08:00) are not on.

"Wall clock" is what a clock on the recipient's wall shows, DST included. On the day New
York springs forward no 02:30 exists, so a window opening at 02:30 opens at 03:00 EDT,
the first instant whose clock reads 02:30 or later; on the day it falls back 01:30 comes
twice, and quiet hours ending at 01:30 end at the first and start again when the clock
is set back to 01:00 (what the recipient's clock says is what the law asks about).

`next_change` finds the next instant the answer changes by checking candidates: every
local date's rule times, under both folds, plus the zone's offset changes; between two
candidates nothing can change. `SendTimes` caches that answer per zone, so a sender
asks once per zone per boundary, and per message compares two floats.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INFINITY = float("inf")
HORIZON_DAYS = 8
"""How far ahead an opening is looked for: a week and a day covers any weekly pattern.
Rules that open nowhere in it never open (a window inside the quiet hours)."""


@dataclass(frozen=True)
class Span:
    """A stretch of the local clock: [start, end), across midnight when end <= start."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> Span:
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def holds(self, at: time) -> bool:
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


EVERY_DAY = frozenset(range(7))


@dataclass(frozen=True)
class SendRules:
    """What a campaign's messages are held to.

    `window` is in `window_zone` when one is given (the campaign's zone for all), else
    in each recipient's; quiet hours are always in the recipient's. A recipient without
    a zone of its own has `default_zone`.
    """

    default_zone: str = "UTC"
    window: Span | None = None
    days: frozenset[int] = EVERY_DAY
    """Weekdays (Monday 0) the window opens on."""
    window_zone: str | None = None
    quiet: Span | None = None

    @property
    def any(self) -> bool:
        """Whether the rules hold anything back at all."""
        return self.window is not None or self.quiet is not None


@dataclass(frozen=True)
class Answer:
    open: bool
    until: datetime | None
    """When `open` stops holding: the next opening of a closed message, the closing of
    an open one; None when it holds through the horizon (a closed one never opens)."""


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone of that name, None if there is none."""
    return _zone(name.strip())


@cache
def _zone(name: str) -> ZoneInfo | None:
    if not name or name.startswith("Etc/Unknown"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def allows(rules: SendRules, recipient: ZoneInfo, at: datetime) -> bool:
    """Whether a message to a recipient in zone `recipient` may go at instant `at`."""
    if rules.window is not None:
        window_zone = _zone(rules.window_zone) if rules.window_zone else recipient
        local = at.astimezone(window_zone or recipient)
        if local.weekday() not in rules.days or not rules.window.holds(local.time()):
            return False
    return rules.quiet is None or not rules.quiet.holds(at.astimezone(recipient).time())


def next_change(rules: SendRules, recipient: ZoneInfo, now: datetime) -> Answer:
    """Whether a message may go at `now`, and until when that holds."""
    state = allows(rules, recipient, now)
    for instant in _candidates(rules, recipient, now):
        if allows(rules, recipient, instant) != state:
            return Answer(state, instant)
    return Answer(state, None)


def _candidates(rules: SendRules, recipient: ZoneInfo, now: datetime) -> list[datetime]:
    """Every instant after `now`, within the horizon, at which the answer may change."""
    checks: list[tuple[ZoneInfo, Span]] = []
    if rules.window is not None:
        checks.append(((_zone(rules.window_zone) if rules.window_zone else None) or recipient,
                       rules.window))
    if rules.quiet is not None:
        checks.append((recipient, rules.quiet))
    found: set[datetime] = set()
    end = now + timedelta(days=HORIZON_DAYS + 1)
    for tz, span in checks:
        today = now.astimezone(tz).date()
        for offset in range(-1, HORIZON_DAYS + 2):
            day = today + timedelta(days=offset)
            for at in (span.start, span.end):
                for fold in (0, 1):
                    instant = datetime.combine(day, at, tzinfo=tz).replace(fold=fold)
                    found.add(instant.astimezone(UTC))
            # Midnight starts a new weekday: the window's days turn there.
            found.add(datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC))
        found.update(_offset_changes(tz, now, end))
    return sorted(instant for instant in found if now < instant <= end)


def _offset_changes(tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants in (start, end] at which the zone's UTC offset changes, to the second."""
    changes = []
    step = timedelta(hours=6)  # no zone changes its offset twice in six hours
    at = start
    while at < end:
        later = min(at + step, end)
        if at.astimezone(tz).utcoffset() != later.astimezone(tz).utcoffset():
            low, high = at, later  # the offset at low differs from the one at high
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
                    low = middle
                else:
                    high = middle
            # Offsets change on whole seconds: the first second after low is the one.
            changes.append(low.replace(microsecond=0) + timedelta(seconds=1))
        at = later
    return changes


@dataclass
class SendTimes:
    """The rules with each zone's last answer kept until it stops holding.

    `check(zone, now)` is what a sender asks of each message; `clock` is the time source
    (seconds since the epoch) the sender reads `now` from, which tests replace.
    """

    rules: SendRules
    clock: Callable[[], float] = clock.time
    _answers: dict[str, tuple[float, float, bool, float]] = field(default_factory=dict)
    """zone -> (asked at, holds until, open, next change as a timestamp or inf)."""

    def zone_of(self, name: str) -> str:
        """The zone a recipient is timed in: its own if it names one, else the default."""
        return name if name and _zone(name) is not None else self.rules.default_zone

    def zones(self) -> list[str]:
        """The zones answered so far (the bench reports them)."""
        return sorted(key for key in self._answers if key)

    def replace(self, rules: SendRules) -> None:
        """New rules (the spec was edited): every answer is worked out again."""
        self.rules = rules
        self._answers.clear()

    def check(self, zone_name: str, now: float) -> tuple[bool, float]:
        """(may it go at `now`, until when that holds: a timestamp, inf if for good)."""
        name = self.zone_of(zone_name)
        return self._answer(name, name, self.rules, now)

    def everyone(self, now: float) -> tuple[bool, float]:
        """The campaign-wide part alone: a send window in the campaign's zone, which
        holds back every recipient at once. (True, inf) without one."""
        rules = self.rules
        if rules.window is None or rules.window_zone is None:
            return True, INFINITY
        campaign = SendRules(default_zone=rules.default_zone, window=rules.window,
                             days=rules.days, window_zone=rules.window_zone)
        return self._answer("", rules.window_zone, campaign, now)

    def _answer(self, key: str, name: str, rules: SendRules, now: float) -> tuple[bool, float]:
        known = self._answers.get(key)
        if known is not None and known[0] <= now < known[1]:
            return known[2], known[3]
        tz = _zone(name) or ZoneInfo("UTC")
        answer = next_change(rules, tz, datetime.fromtimestamp(now, UTC))
        until = answer.until.timestamp() if answer.until is not None else INFINITY
        # Without a change in the horizon, ask again a day on (the horizon moves too).
        holds = until if answer.until is not None else now + 86400.0
        self._answers[key] = (now, holds, answer.open, until)
        return answer.open, until


def never_opens(rules: SendRules, zones: Sequence[str], now: datetime) -> list[str]:
    """The zones among `zones` in which the rules never let a message go (within the
    horizon): a window inside the quiet hours, or days the quiet hours cover whole."""
    closed = []
    for name in zones:
        tz = _zone(name)
        if tz is None:
            continue
        answer = next_change(rules, tz, now)
        if not answer.open and answer.until is None:
            closed.append(name)
    return closed


def weekday_numbers(days: Sequence[str]) -> frozenset[int]:
    """Monday..Sunday names as weekday numbers; no names: every day."""
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    return frozenset(names.index(d) for d in days) if days else EVERY_DAY

