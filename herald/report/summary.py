"""`herald report --since 7d`: a namespace's campaigns summed per day and per week.

Pure functions over the Campaigns (and CampaignRuns) read: those that started or
completed in the window, each counted once, on the day (UTC) and ISO week it started
(or completed, when it started before the window or recorded no start). A campaign's
counters are its totals: one that ran over midnight counts on the day it started.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from herald.report import page, svg
from herald.report.figures import decimal_or_none

Object = Mapping[str, Any]
FIGURES = (("sent", "sent"), ("delivered", "delivered"), ("failed", "failed"),
           ("clicks", "clicks"), ("optedOut", "optedOut"))
WINDOW = re.compile(r"^(\d+)([hdw])$")
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_window(text: str) -> timedelta:
    """24h, 7d, 30d, 2w."""
    found = WINDOW.match(text.strip())
    if not found or int(found.group(1)) == 0:
        raise ValueError(f"--since {text!r}: give hours, days or weeks, e.g. 24h, 7d, 30d")
    return int(found.group(1)) * UNITS[found.group(2)]


def timestamp(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        found = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def counted_at(obj: Object, since: datetime, now: datetime) -> datetime | None:
    """When the campaign counts: its start if that is within since..now, else its
    completion if that is; None: neither is, it is not in the window."""
    status = obj.get("status") or {}
    start, end = timestamp(status.get("startTime")), timestamp(status.get("completionTime"))
    return next((t for t in (start, end) if t is not None and since <= t <= now), None)


def day(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def week(at: datetime) -> str:
    year, number, _ = at.astimezone(UTC).isocalendar()
    return f"{year}-W{number:02d}"


def campaign_row(obj: Object, at: datetime) -> dict[str, Any]:
    status = obj.get("status") or {}
    counters = status.get("counters") or {}
    plan = status.get("plan") or {}
    cost: dict[str, Decimal] = {}
    amount = decimal_or_none(plan.get("estimatedCost"))
    if amount is not None:
        cost[plan.get("currency") or ""] = amount
    return {"kind": obj.get("kind", "Campaign"), "name": obj["metadata"]["name"],
            "at": at, "day": day(at), "week": week(at),
            "phase": status.get("phase") or "Pending",
            **{key: int(counters.get(field, 0)) for key, field in FIGURES}, "cost": cost}


def total(period: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    cost: dict[str, Decimal] = {}
    for row in rows:
        for currency, amount in row["cost"].items():
            cost[currency] = cost.get(currency, Decimal(0)) + amount
    return {"period": period, "campaigns": len(rows),
            **{key: sum(r[key] for r in rows) for key, _ in FIGURES}, "cost": cost}


def summarize(objects: Sequence[Object], window: timedelta, now: datetime) -> dict[str, Any]:
    """The window's campaigns, then their sums per day, per ISO week, and in all. A
    recurring Campaign is left out: its CampaignRuns are counted, one each."""
    since = now - window
    rows = []
    for obj in objects:
        if ((obj.get("spec") or {}).get("schedule") or {}).get("recurrence"):
            continue
        at = counted_at(obj, since, now)
        if at is not None:
            rows.append(campaign_row(obj, at))
    rows.sort(key=lambda r: (r["at"], r["name"]))

    def by(key: str) -> list[dict[str, Any]]:
        periods = sorted({r[key] for r in rows})
        return [total(p, [r for r in rows if r[key] == p]) for p in periods]

    return {"since": since, "now": now, "campaigns": rows, "days": by("day"),
            "weeks": by("week"), "totals": total("total", rows)}


def cost_text(cost: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{amount} {currency}".strip() for currency, amount in sorted(cost.items()))


def render_summary(namespace: str, view: Mapping[str, Any]) -> str:
    since, now = view["since"], view["now"]
    header = ["Period", "Campaigns", "Sent", "Delivered", "Failed", "Clicks", "Opted out",
              "Cost (plan)"]

    def periods(kind: str, rows: Sequence[Mapping[str, Any]]) -> str:
        return page.table(kind, header, [
            [r["period"], r["campaigns"], *(r[k] for k, _ in FIGURES), cost_text(r["cost"])]
            for r in rows], [{"period": r["period"], "campaigns": r["campaigns"],
                              **{k.lower(): r[k] for k, _ in FIGURES}} for r in rows])

    body = [f"<h1>Campaigns of {escape(namespace)}</h1>",
            f'<p class="meta">From {since:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC:'
            f' {len(view["campaigns"])} campaign(s) started or finished.</p>']
    if view["days"]:
        body.append(svg.bar_chart("day-sent", "messages sent per day", [
            svg.Bar(r["period"], r["sent"]) for r in view["days"]]))
    body += ["<h2>Per day</h2>", periods("days", view["days"]),
             "<h2>Per week</h2>", periods("weeks", view["weeks"]),
             "<h2>Totals</h2>", periods("totals", [view["totals"]]),
             "<h2>Campaigns</h2>",
             page.table("campaigns", ["Name", "Kind", "Counted on", "Phase", "Sent",
                                      "Delivered", "Failed", "Clicks", "Opted out", "Cost (plan)"],
                        [[r["name"], r["kind"], r["day"], r["phase"],
                          *(r[k] for k, _ in FIGURES), cost_text(r["cost"])]
                         for r in view["campaigns"]],
                        [{"name": r["name"], "sent": r["sent"]} for r in view["campaigns"]]),
             '<p class="note">Each campaign counts once, with its totals, on the day (UTC) and'
             " ISO week it started (or finished, if it started before the window). Cost is"
             " the pre-send plan's estimate (status.plan.estimatedCost), not the carriers'"
             " bill.</p>"]
    return page.document(f"Campaigns of {namespace}", body)
