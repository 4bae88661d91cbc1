"""The campaign report's figures, as pure functions over the Campaign and its timeline.

`campaign_report` builds the report's structure (plain data, camelCase keys as the API's)
from what `herald report` read: the Campaign object and, when Redis had it, the run's
timeline (sender.store.run_timeline). herald.report.page draws it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

from herald.report.meanings import error_meaning
from sender.store.run_timeline import TimelineSample

Object = Mapping[str, Any]
Z_95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95% interval."""


def wilson_interval(successes: int, trials: int, z: float = Z_95
                    ) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion (None without trials): unlike
    the normal approximation it stays inside 0..1 and is honest for small samples and
    ratios near 0 or 1, which delivery ratios are."""
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes of {trials} trials")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def ratio(successes: int, trials: int) -> dict[str, Any]:
    """A proportion with its 95% Wilson interval, as the report shows it."""
    interval = wilson_interval(successes, trials)
    return {"successes": successes, "trials": trials,
            "ratio": successes / trials if trials else None,
            "low": interval[0] if interval else None,
            "high": interval[1] if interval else None}


def to_send(counters: Mapping[str, int]) -> int:
    """Recipients left to send to after the import's drops (as kubectl herald's)."""
    return max(0, counters.get("total", 0) - sum(counters.get(k, 0) for k in (
        "invalid", "suppressed", "holdout", "unroutable")))


def final(counters: Mapping[str, int]) -> int:
    """Messages with a final outcome: the delivery ratio's denominator (status's)."""
    return sum(counters.get(k, 0) for k in ("delivered", "failed", "expired"))


def funnel(status: Object) -> list[tuple[str, int]]:
    """audience -> sent -> delivered -> clicked -> opted out."""
    counters = status.get("counters") or {}
    plan = status.get("plan") or {}
    audience = plan.get("audience")
    return [("audience", int(audience) if audience is not None else to_send(counters)),
            ("sent", counters.get("sent", 0)),
            ("delivered", counters.get("delivered", 0)),
            ("clicked", counters.get("clickers", 0)),
            ("opted out", counters.get("optedOut", 0))]


def breakdown_rows(rows: Sequence[Object]) -> list[dict[str, Any]]:
    """Each variant's or channel's counters, its delivery ratio (delivered over final
    outcomes) and click ratio (recipients who clicked over messages the SMSC accepted, as
    the A/B winner's ClickRatio counts it, so the page and status.winner agree), with
    intervals."""
    result = []
    for row in rows:
        counters = dict(row.get("counters") or {})
        result.append({"name": row.get("name", ""), "counters": counters,
                       "delivery": ratio(counters.get("delivered", 0), final(counters)),
                       "click": ratio(min(counters.get("clickers", 0),
                                          counters.get("sent", 0)),
                                      counters.get("sent", 0))})
    return result


def countries(status: Object) -> list[dict[str, Any]]:
    """Messages, segments and cost per country of the numbers, summed over the plan's
    channels (what the import routed), most messages first."""
    found: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "messages": 0, "segments": 0, "cost": Decimal(0), "currencies": set()})
    for channel in (status.get("plan") or {}).get("channels") or []:
        for country in channel.get("countries") or []:
            entry = found[country.get("country", "ZZ")]
            entry["messages"] += country.get("messages", 0)
            entry["segments"] += country.get("segments", 0)
            cost = decimal_or_none(country.get("estimatedCost"))
            if cost is not None:
                entry["cost"] += cost
                entry["currencies"].add(channel.get("currency") or "")
    rows = []
    for code, entry in sorted(found.items(), key=lambda item: (-item[1]["messages"], item[0])):
        currencies = sorted(entry["currencies"])
        rows.append({"country": code, "messages": entry["messages"],
                     "segments": entry["segments"],
                     "estimatedCost": (f"{entry['cost']} {currencies[0]}".strip()
                                       if len(currencies) == 1 else
                                       "mixed currencies" if currencies else "")})
    return rows


def errors(status: Object) -> list[dict[str, Any]]:
    """The campaign's top errors, then each channel's, with their meaning."""
    rows = [{"channel": "", **_error(e)} for e in status.get("topErrors") or []]
    for channel in status.get("channels") or []:
        rows += [{"channel": channel.get("name", ""), **_error(e)}
                 for e in channel.get("topErrors") or []]
    return rows


def country_errors(status: Object) -> list[dict[str, Any]]:
    """Each country's top errors (status.errorsByCountry), the countries that failed
    most first: one row a country and code, with its meaning."""
    return [{"country": c.get("country", ""), "failed": c.get("failed", 0), **_error(e)}
            for c in status.get("errorsByCountry") or [] for e in c.get("topErrors") or []]


def _error(e: Object) -> dict[str, Any]:
    return {"code": e.get("code", ""), "name": e.get("name", ""), "count": e.get("count", 0),
            "meaning": error_meaning(str(e.get("code", "")))}


def rates(timeline: Sequence[TimelineSample]) -> dict[str, list[tuple[float, float]]]:
    """Per second between consecutive samples, at the later one's time (seconds since the
    first sample): messages the SMSC accepted, and final outcomes (delivered, failed or
    expired: mostly receipts; failed counts refusals at submit too)."""
    sent: list[tuple[float, float]] = []
    outcomes: list[tuple[float, float]] = []
    if not timeline:
        return {"sent": sent, "outcomes": outcomes}
    start = timeline[0].at
    for before, after in pairwise(timeline):
        seconds = after.at - before.at
        if seconds <= 0:
            continue
        x = after.at - start
        sent.append((x, max(0, after.sent - before.sent) / seconds))
        done = (after.delivered + after.failed + after.expired
                - before.delivered - before.failed - before.expired)
        outcomes.append((x, max(0, done) / seconds))
    return {"sent": sent, "outcomes": outcomes}


def campaign_report(campaign: Object, timeline: Sequence[TimelineSample] | None,
                    timeline_note: str, now: datetime) -> dict[str, Any]:
    """Everything the page shows. `timeline` None: not read (`timeline_note` says why)."""
    meta, status = campaign.get("metadata") or {}, campaign.get("status") or {}
    counters = dict(status.get("counters") or {})
    variants = list(status.get("variants") or [])
    plan = status.get("plan") or {}
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "phase": status.get("phase") or "Pending",
        "generatedAt": now.astimezone(UTC).isoformat(timespec="seconds"),
        "startTime": status.get("startTime"),
        "completionTime": status.get("completionTime"),
        "message": status.get("message") or "",
        "counters": counters,
        "deliveryRatio": status.get("deliveryRatio"),
        "plan": {k: plan.get(k) for k in ("audience", "messages", "segments",
                                          "estimatedCost", "currency", "eta")} if plan else None,
        "funnel": funnel(status),
        "variants": breakdown_rows(variants or [{"name": "all", "counters": counters}]),
        "singleTemplate": not variants,
        "channels": breakdown_rows(status.get("channels") or []),
        "countries": countries(status),
        "unroutableCountries": list(status.get("unroutableCountries") or []),
        "errors": errors(status),
        "countryErrors": country_errors(status),
        "timeline": ({"samples": [s.__dict__ for s in timeline], "rates": rates(timeline)}
                     if timeline else None),
        "timelineNote": timeline_note,
    }


def decimal_or_none(text: Any) -> Decimal | None:
    """A money figure of the status (a string like "4.50"); None when unset or unreadable."""
    if text in (None, ""):
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None
