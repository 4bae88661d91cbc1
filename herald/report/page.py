"""The report as one self-contained HTML page: inline CSS and SVG, no script, no font,
image or style sheet from anywhere, so it opens offline and can be mailed as it is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from herald.report import svg

CSS = """
body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#111;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#555} .note{color:#555;font-size:.9em;max-width:60em}
table{border-collapse:collapse;margin:.6em 0} th,td{padding:.25em .7em;text-align:right;
border-bottom:1px solid #eee;white-space:nowrap} th{background:#f4f4f5}
td:first-child,th:first-child{text-align:left} td.text{text-align:left}
td.text:last-child{white-space:normal}
dl.counters{display:grid;grid-template-columns:repeat(auto-fill,minmax(9em,1fr));gap:.4em}
dl.counters div{background:#f4f4f5;padding:.4em .6em;border-radius:4px}
dt{font-size:.8em;color:#555} dd{margin:0;font-size:1.3em;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:1.5em}
"""

COUNTERS_SHOWN = ("total", "invalid", "suppressed", "unroutable", "holdout", "queued",
                  "sent", "delivered", "failed", "expired", "unknown", "optedOut", "capped",
                  "cancelled", "clicks", "clickers", "segmentsSubmitted")


def document(title: str, body: Iterable[str]) -> str:
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def table(kind: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
          data: Sequence[Mapping[str, Any]] | None = None) -> str:
    """A table whose rows carry `data` as data-* attributes (one mapping a row)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    lines = []
    for i, row in enumerate(rows):
        attrs = "".join(f' data-{k}="{svg.attr(v)}"' for k, v in (data[i] if data else {}).items())
        cells = "".join(f'<td{"" if _numeric(c) else " class=text"}>{_cell(c)}</td>'
                        for c in row)
        lines.append(f"<tr{attrs}>{cells}</tr>")
    return (f'<table data-table="{escape(kind)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(lines)}</tbody></table>")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render_report(view: Mapping[str, Any]) -> str:
    ref = f"{view['namespace']}/{view['name']}"
    counters = view["counters"]
    body = [f"<h1>Campaign {escape(ref)}</h1>",
            f'<p class="meta">Phase <b data-field="phase">{escape(view["phase"])}</b>'
            + _times(view) + f'; report written {escape(view["generatedAt"])}.</p>']
    if view["message"]:
        body.append(f'<p class="meta">{escape(view["message"])}</p>')
    body.append('<dl class="counters">' + "".join(
        f'<div><dt>{escape(key)}</dt><dd data-counter="{key}">{counters.get(key, 0):,}</dd></div>'
        for key in COUNTERS_SHOWN if key in counters or key in ("sent", "delivered", "failed"))
        + "</dl>")
    plan = view["plan"]
    if plan:
        cost = (f", estimated cost {plan['estimatedCost']} {plan.get('currency') or ''}"
                if plan.get("estimatedCost") else "")
        body.append(f'<p class="meta" data-field="plan">Plan: {plan.get("audience") or 0:,}'
                    f' recipients, {plan.get("segments") or 0:,} segments{escape(cost)}.</p>')

    body += ["<h2>Funnel</h2>",
             svg.funnel("funnel", "audience, sent, delivered, clicked, opted out",
                        view["funnel"]),
             '<p class="note">Audience: recipients left after the import\'s drops (the plan\'s'
             " audience). Sent: accepted by the SMSC. Delivered: a receipt said so. Clicked:"
             " recipients who clicked a tracked link at least once. Opted out: messages not"
             " sent because their number had opted out (before or during the run).</p>"]

    body.append("<h2>Variants</h2>" if not view["singleTemplate"] else
                "<h2>Delivery and clicks</h2>")
    body.append(_ratio_charts("variant", view["variants"]))
    body.append(_breakdown_table("variants", view["variants"]))
    body.append('<p class="note">Delivery ratio: delivered over messages with a final outcome'
                " (delivered, failed, expired). Click ratio: recipients who clicked over"
                " messages the SMSC accepted (sent), as the A/B winner's ClickRatio. The"
                " bars' whiskers are 95% Wilson score intervals: with few"
                " messages they are wide, and two variants whose intervals overlap much are"
                " not shown apart.</p>")

    body.append("<h2>Send and receipt rate over time</h2>")
    body.append(_timeline(view))

    body.append("<h2>Top errors</h2>")
    campaign_errors = [e for e in view["errors"] if not e["channel"]]
    if campaign_errors:
        body.append(table("errors", ["Code", "Name", "Count", "Meaning"],
                          [[e["code"], e["name"], e["count"], e["meaning"]]
                           for e in campaign_errors],
                          [{"code": e["code"], "count": e["count"]} for e in campaign_errors]))
        by_channel = [e for e in view["errors"] if e["channel"]]
        if by_channel:
            body.append(table("channel-errors", ["Channel", "Code", "Name", "Count"],
                              [[e["channel"], e["code"], e["name"], e["count"]]
                               for e in by_channel],
                              [{"channel": e["channel"], "code": e["code"],
                                "count": e["count"]} for e in by_channel]))
    else:
        body.append('<p class="note" data-field="no-errors">No failures with an error code.</p>')

    body.append("<h2>Channels</h2>")
    if view["channels"]:
        body.append(svg.bar_chart("channel-sent", "messages sent per channel", [
            svg.Bar(r["name"], r["counters"].get("sent", 0)) for r in view["channels"]]))
        body.append(_ratio_charts("channel", view["channels"], clicks=False))
        body.append(_breakdown_table("channels", view["channels"]))
    else:
        body.append('<p class="note">No channel has sent yet.</p>')

    body.append("<h2>Countries</h2>")
    if view["countries"]:
        body.append(svg.bar_chart("country-messages", "messages routed per country", [
            svg.Bar(c["country"], c["messages"]) for c in view["countries"]]))
        body.append(table("countries", ["Country", "Messages", "Segments", "Estimated cost"],
                          [[c["country"], c["messages"], c["segments"], c["estimatedCost"]]
                           for c in view["countries"]],
                          [{"country": c["country"], "messages": c["messages"]}
                           for c in view["countries"]]))
    body.append('<p class="note">Messages per country are what the import routed, from the'
                " pre-send plan (status.plan: each channel's messages by the number's"
                " country); outcomes per country are counted for failures only, below.</p>")
    if view["countryErrors"]:
        body.append("<p>Top errors per country (the countries that failed most):</p>")
        body.append(table("country-errors", ["Country", "Failed", "Code", "Name", "Count",
                                              "Meaning"],
                          [[e["country"], e["failed"], e["code"], e["name"], e["count"],
                            e["meaning"]] for e in view["countryErrors"]],
                          [{"country": e["country"], "code": e["code"], "count": e["count"]}
                           for e in view["countryErrors"]]))
    if view["unroutableCountries"]:
        body.append("<p>Numbers no channel serves, never sent:</p>")
        body.append(table("unroutable", ["Country", "Numbers"],
                          [[c["country"], c["count"]] for c in view["unroutableCountries"]],
                          [{"country": c["country"], "count": c["count"]}
                           for c in view["unroutableCountries"]]))
    return document(f"Campaign {ref}", body)


def _times(view: Mapping[str, Any]) -> str:
    text = ""
    if view["startTime"]:
        text += f", started {escape(str(view['startTime']))}"
    if view["completionTime"]:
        text += f", finished {escape(str(view['completionTime']))}"
    return text


def _ratio_charts(kind: str, rows: Sequence[Mapping[str, Any]], clicks: bool = True) -> str:
    charts = [svg.bar_chart(f"{kind}-delivery", f"delivery ratio per {kind}", [
        _ratio_bar(r["name"], r["delivery"]) for r in rows], top=100)]
    if clicks:
        charts.append(svg.bar_chart(f"{kind}-click", f"click ratio per {kind}", [
            _ratio_bar(r["name"], r["click"]) for r in rows], top=100))
    return '<div class="charts">' + "".join(charts) + "</div>"


def _ratio_bar(name: str, figure: Mapping[str, Any]) -> svg.Bar:
    if figure["ratio"] is None:
        return svg.Bar(name, 0.0, text="no outcome yet")
    return svg.Bar(name, 100 * figure["ratio"], low=100 * figure["low"],
                   high=100 * figure["high"],
                   text=f"{percent(figure['ratio'])} of {figure['trials']:,}")


def _breakdown_table(kind: str, rows: Sequence[Mapping[str, Any]]) -> str:
    header = ["Name", "Sent", "Delivered", "Failed", "Expired", "Clicked", "Opted out",
              "Delivery (95% CI)", "Click (95% CI)"]
    cells, data = [], []
    for row in rows:
        c = row["counters"]
        cells.append([row["name"], c.get("sent", 0), c.get("delivered", 0), c.get("failed", 0),
                      c.get("expired", 0), c.get("clickers", 0), c.get("optedOut", 0),
                      _interval_text(row["delivery"]), _interval_text(row["click"])])
        data.append({"name": row["name"], "sent": c.get("sent", 0),
                     "delivered": c.get("delivered", 0), "failed": c.get("failed", 0),
                     "clickers": c.get("clickers", 0)})
    return table(kind, header, cells, data)


def _interval_text(figure: Mapping[str, Any]) -> str:
    if figure["ratio"] is None:
        return "-"
    return f"{percent(figure['ratio'])} ({percent(figure['low'])} to {percent(figure['high'])})"


def _timeline(view: Mapping[str, Any]) -> str:
    timeline = view["timeline"]
    if not timeline or len(timeline["samples"]) < 2:
        note = view["timelineNote"] or "the run's timeline has fewer than two samples"
        return (f'<p class="note" data-field="timeline-unavailable">The time series is not'
                f" available: {escape(note)}.</p>")
    samples = timeline["samples"]
    start = samples[0]["at"]
    span = samples[-1]["at"] - start
    ticks = [(span * i / 4, datetime.fromtimestamp(start + span * i / 4, UTC)
              .strftime("%H:%M:%S")) for i in range(5)]
    chart = svg.line_chart("rates", "messages per second over time", [
        svg.Series("sent per second", timeline["rates"]["sent"]),
        svg.Series("outcomes per second", timeline["rates"]["outcomes"], color="#16a34a"),
    ], axis=svg.Axis(ticks), unit="msg/s", width=800)
    return (chart + f'<p class="note">{len(samples):,} samples the operator took from the'
            " run's counters in Redis (times UTC). Sent: accepted by the SMSC; outcomes:"
            " delivered, failed or expired, mostly as receipts came in.</p>")


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    return f"{value:,}" if _numeric(value) else escape(str(value))
