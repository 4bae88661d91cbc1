"""Campaign statistics: Redis counters folded into the status fields `kubectl get` shows.

Pure functions over the counters hash as read (one HGETALL): the plain counters (messages
by state, and the running totals `sent` and `segmentsSubmitted`), and the breakdowns the
Lua transitions and the importer keep beside them:

    variant:<name>:<counter>   per A/B variant (`total` from the importer)
    channel:<name>:<counter>   per channel
    error:<code>               failures by SMPP command_status or receipt error
    channel:<name>:error:<code>  the same per channel
    drop:<reason>              invalid rows by reason (importer)
    suppress:<reason>          suppressed rows by reason (importer)
    unroutable:<country>       numbers no channel serves, by country (importer)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from crds.campaign import (
    Breakdown,
    Counters,
    CountryCount,
    CountryErrors,
    ErrorCount,
    ReasonCount,
)
from sender.smpp.errors import status_name

TOP_ERRORS = 5

# The counters a message leaves `queued` for (every state but queued itself).
SETTLED = ("submitted", "delivered", "failed", "expired", "unknown", "opted_out", "capped",
           "cancelled", "holdout", "awaiting_winner")


@dataclass(frozen=True)
class Sample:
    """How many messages had left the queue at a moment: the submit rate's reference."""

    at: datetime
    sent: int


@dataclass(frozen=True)
class TimelineMark:
    """The last sample the operator wrote to a run's timeline (sender.store.run_timeline)."""

    at: datetime
    values: tuple[int, int, int, int]
    """sent, delivered, failed, expired, as `timeline_values`."""
    moved: bool
    """They differed from the sample before."""
    first: datetime
    """When the timeline's oldest sample was taken."""


def timeline_values(counters: Counters) -> tuple[int, int, int, int]:
    return counters.sent, counters.delivered, counters.failed, counters.expired


def timeline_interval(last: TimelineMark, now: datetime, every_seconds: float,
                      most: int) -> float:
    """Seconds between samples: `every_seconds`, or more once the run is long enough
    that its `most` samples would not span it (its span over half of `most`). The store
    halves the list when it is full, so the samples keep covering the whole run at a
    resolution within a factor of two of the same everywhere."""
    span = (now - last.first).total_seconds()
    return max(every_seconds, span / max(1, most // 2))


def next_timeline_mark(last: TimelineMark | None, now: datetime, counters: Counters,
                       every_seconds: float, most: int) -> TimelineMark | None:
    """The sample to append to the run's timeline now, or None: the first fold's, then
    one at most every `timeline_interval` while the counters move, and one more once
    they stopped (so a pause reads as a flat line, not as a slow rate spread over it)."""
    values = timeline_values(counters)
    if last is None:
        return TimelineMark(now, values, moved=False, first=now)
    if (now - last.at).total_seconds() < timeline_interval(last, now, every_seconds, most):
        return None
    if values == last.values and not last.moved:
        return None
    return TimelineMark(now, values, moved=values != last.values, first=last.first)


def sent(counters: Counters) -> int:
    """Messages that left the queue for the SMSC so far, accepted or not (the submit
    rate's count, and the sign of progress); `counters.sent` counts those it accepted."""
    c = counters
    return c.submitted + c.delivered + c.failed + c.expired + c.unknown


def finished(counters: Counters) -> int:
    """Messages with a final outcome: delivered, failed (at submit or by receipt) or
    expired. Not unknown ones (a late receipt may still settle them), nor those awaiting
    their receipt. The one denominator of the delivery ratio and the failure share."""
    return counters.delivered + counters.failed + counters.expired


def completed_message(counters: Counters) -> str:
    """What a completed campaign says it did, in the words of its printer columns."""
    text = (f"sent {counters.sent:,} messages ({counters.segments_submitted:,} segments):"
            f" {counters.delivered:,} delivered, {counters.failed:,} failed,"
            f" {counters.expired:,} expired")
    if counters.capped:
        text += f"; {counters.capped:,} not sent, capped by compliance.frequencyCap"
    return text


def progress_percent(counters: Counters) -> int | None:
    """Share of the messages to send that have left the queue, rounded down."""
    todo = (counters.total - counters.invalid - counters.suppressed - counters.holdout
            - counters.unroutable)
    if todo <= 0:
        return None
    return min(100, 100 * (todo - counters.queued - counters.awaiting_winner) // todo)


def delivery_ratio(counters: Counters) -> str | None:
    """Delivered over those with a final outcome (`finished`), e.g. "97.4%"; None before
    any."""
    done = finished(counters)
    if not done:
        return None
    return f"{100 * counters.delivered / done:.1f}%"


def failure_percent(counters: Counters) -> tuple[float, int]:
    """Percent failed or expired among those with a final outcome, and how many that is."""
    done = finished(counters)
    if not done:
        return 0.0, 0
    return 100 * (counters.failed + counters.expired) / done, done


def submit_rate(previous: Sample | None, now: datetime, counters: Counters) -> int | None:
    """Messages per second handed to the SMSC since `previous`; None without one."""
    if previous is None:
        return None
    seconds = (now - previous.at).total_seconds()
    if seconds <= 0:
        return None
    return max(0, round((sent(counters) - previous.sent) / seconds))


def breakdowns(fields: Mapping[str, int], prefix: str) -> list[Breakdown]:
    """Counters per variant or channel (`prefix` "variant" or "channel"), sorted by name."""
    grouped: dict[str, dict[str, int]] = defaultdict(dict)
    errors: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key, value in fields.items():
        parts = key.split(":", 3)
        if len(parts) == 3 and parts[0] == prefix:
            grouped[parts[1]][parts[2]] = value
        elif len(parts) == 4 and parts[0] == prefix and parts[2] == "error":
            errors[parts[1]].append((parts[3], value))
    result = []
    for name in sorted(grouped):
        counters = Counters.model_validate(grouped[name])
        if counters.total:
            settled = sum(getattr(counters, f) for f in SETTLED)
            counters = counters.model_copy(update={"queued": max(0, counters.total - settled)})
        result.append(Breakdown(name=name, counters=counters,
                                top_errors=_most(errors.get(name, []), TOP_ERRORS)))
    return result


def top_errors(fields: Mapping[str, int], limit: int = TOP_ERRORS) -> list[ErrorCount]:
    """The most frequent failure codes, most frequent first."""
    return _most([(key.split(":", 1)[1], count) for key, count in fields.items()
                  if key.startswith("error:")], limit)


COUNTRIES_SHOWN = 10
"""Countries in status.errorsByCountry: those whose numbers failed most."""


def errors_by_country(fields: Mapping[str, int]) -> list[CountryErrors]:
    """Failures per country of the numbers (country:<CC>:error:<code>), the countries that
    failed most first, each with its top error codes."""
    codes: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key, count in fields.items():
        parts = key.split(":", 3)
        if len(parts) == 4 and parts[0] == "country" and parts[2] == "error" and count > 0:
            codes[parts[1]].append((parts[3], count))
    failed = {country: sum(n for _, n in found) for country, found in codes.items()}
    shown = sorted(failed, key=lambda country: (-failed[country], country))[:COUNTRIES_SHOWN]
    return [CountryErrors(country=country, failed=failed[country],
                          top_errors=_most(codes[country], TOP_ERRORS)) for country in shown]


def _most(errors: list[tuple[str, int]], limit: int) -> list[ErrorCount]:
    found = sorted((item for item in errors if item[1] > 0),
                   key=lambda item: (-item[1], item[0]))
    return [ErrorCount(code=code, name=_error_name(code), count=count)
            for code, count in found[:limit]]


def dropped_reasons(fields: Mapping[str, int]) -> list[ReasonCount]:
    """Rows the import dropped (invalid) or suppressed, by reason."""
    found = [(key.split(":", 1)[1], count) for key, count in fields.items()
             if key.startswith(("drop:", "suppress:")) and count > 0]
    return [ReasonCount(reason=reason, count=count) for reason, count in sorted(found)]


def unroutable_countries(fields: Mapping[str, int]) -> list[CountryCount]:
    """The countries of numbers no channel serves (unroutable:<country>), most first."""
    found = [(key.split(":", 1)[1], count) for key, count in fields.items()
             if key.startswith("unroutable:") and count > 0]
    return [CountryCount(country=country, count=count)
            for country, count in sorted(found, key=lambda item: (-item[1], item[0]))]


def zone_sources(fields: Mapping[str, int]) -> list[ReasonCount]:
    """Where recipients' time zones came from (sender.importer.shards), largest first."""
    found = [(key.split(":", 1)[1], count) for key, count in fields.items()
             if key.startswith("zone:") and count > 0]
    return [ReasonCount(reason=reason, count=count)
            for reason, count in sorted(found, key=lambda item: (-item[1], item[0]))]


def _error_name(code: str) -> str:
    if code.lower().startswith("0x"):
        try:
            return status_name(int(code, 16))
        except ValueError:
            return ""
    return ""
