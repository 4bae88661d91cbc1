"""What `kubectl herald` shows, as pure functions over the objects it read.

Each view has two forms: a structure (what `-o json|yaml` prints, stable keys in the
API's camelCase) and text lines for a terminal, built from that structure so the two
never disagree. Nothing here talks to the API server (herald.plugin.kube does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Object = Mapping[str, Any]

BAR_WIDTH = 30
EVENTS_SHOWN = 10

# The counters of a breakdown row, in the order a person reads a campaign's fate.
BREAKDOWN_COLUMNS = (("TOTAL", "total"), ("QUEUED", "queued"), ("SENT", "sent"),
                     ("DELIVERED", "delivered"), ("FAILED", "failed"),
                     ("EXPIRED", "expired"), ("UNKNOWN", "unknown"),
                     ("OPTED OUT", "optedOut"), ("CLICKED", "clickers"))


# -- status ------------------------------------------------------------------------------

def campaign_status(campaign: Object, events: Sequence[Object]) -> dict[str, Any]:
    """The status view's structure: the campaign's status as the operator wrote it,
    its recent Events (newest last), and whether the status is current."""
    meta, status = campaign.get("metadata", {}), campaign.get("status") or {}
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "phase": status.get("phase") or "Pending",
        "current": generation is None or observed == generation,
        "progressPercent": status.get("progressPercent"),
        "counters": status.get("counters") or {},
        "submitRatePerSecond": status.get("submitRatePerSecond"),
        "deliveryRatio": status.get("deliveryRatio"),
        "plan": status.get("plan"),
        "canary": status.get("canary"),
        "autoPause": status.get("autoPause"),
        "message": status.get("message") or "",
        "variants": status.get("variants") or [],
        "channels": status.get("channels") or [],
        "topErrors": status.get("topErrors") or [],
        "conditions": status.get("conditions") or [],
        "events": [_event(e) for e in recent(events)],
    }


def recent(events: Sequence[Object], most: int = EVENTS_SHOWN) -> list[Object]:
    """The newest `most` events, oldest first (as kubectl describe lists them)."""
    return sorted(events, key=_event_time)[-most:]


def status_lines(view: Mapping[str, Any], now: datetime) -> list[str]:
    lines = [f"Campaign {view['namespace']}/{view['name']}: {view['phase']}"
             + ("" if view["current"] else " (status not yet updated for the latest edit)")]
    if view["message"]:
        lines.append(f"  {view['message']}")
    counters = view["counters"]
    if view["progressPercent"] is not None:
        lines.append(f"Progress   {progress_bar(view['progressPercent'])}"
                     f"  sent {counters.get('sent', 0):,} of {_to_send(counters):,}")
    rates = []
    if view["submitRatePerSecond"] is not None:
        rates.append(f"submitting {view['submitRatePerSecond']:,}/s")
    if view["deliveryRatio"]:
        rates.append(f"delivered {view['deliveryRatio']} of those with an outcome")
    if rates:
        lines.append("Rates      " + ", ".join(rates))
    plan = view["plan"]
    if plan:
        lines.append("Plan       " + plan_text(plan))
    for label, guard in (("Canary", view["canary"]), ("AutoPause", view["autoPause"])):
        if guard:
            lines.append(f"{label:<10} " + guard_text(guard))
    if counters:
        shown = [f"{key} {value:,}" for key, value in counters.items() if value]
        lines.append("Counters   " + (", ".join(shown) if shown else "none yet"))
    for title, rows in (("VARIANT", view["variants"]), ("CHANNEL", view["channels"])):
        if rows:
            lines += ["", *table([title, *(c for c, _ in BREAKDOWN_COLUMNS)], [
                [row["name"], *(f"{(row.get('counters') or {}).get(key, 0):,}"
                                for _, key in BREAKDOWN_COLUMNS)] for row in rows])]
    if view["topErrors"]:
        lines += ["", *table(["ERROR", "NAME", "COUNT"], [
            [e["code"], e.get("name", ""), f"{e['count']:,}"] for e in view["topErrors"]])]
    by_channel = [[row["name"], e["code"], e.get("name", ""), f"{e['count']:,}"]
                  for row in view["channels"] for e in row.get("topErrors") or []]
    if by_channel:
        lines += ["", *table(["CHANNEL", "ERROR", "NAME", "COUNT"], by_channel)]
    if view["conditions"]:
        lines += ["", *table(["CONDITION", "STATUS", "REASON", "AGE", "MESSAGE"], [
            [c["type"], c["status"], c.get("reason", ""),
             age(c.get("lastTransitionTime"), now), c.get("message", "")]
            for c in view["conditions"]])]
    lines.append("")
    if view["events"]:
        lines += table(["LAST SEEN", "TYPE", "REASON", "MESSAGE"], [
            [age(e["time"], now), e["type"], e["reason"], e["message"]]
            for e in view["events"]])
    else:
        lines.append("No events.")
    return lines


def progress_bar(percent: int, width: int = BAR_WIDTH) -> str:
    """[#########---------]  45%"""
    percent = max(0, min(100, percent))
    done = width * percent // 100
    return f"[{'#' * done}{'-' * (width - done)}] {percent:3d}%"


def plan_text(plan: Mapping[str, Any]) -> str:
    parts = [f"{plan.get('audience', 0):,} recipients", f"{plan.get('segments', 0):,} segments"]
    if plan.get("estimatedCost") is not None:
        parts.append(f"about {plan['estimatedCost']} {plan.get('currency') or ''}".rstrip())
    if plan.get("eta"):
        parts.append(f"done by {plan['eta']}")
    return ", ".join(parts)


def guard_text(guard: Mapping[str, Any]) -> str:
    """A canary's or autoPause's judgement: its result and figures, or that it waits."""
    figures = guard.get("figures") or {}
    text = (f"{guard['result']} ({guard.get('reason', '')})" if guard.get("result")
            else "waiting for its judgement")
    text += (f": {figures.get('failed', 0):,} of {figures.get('final', 0):,} with an"
             f" outcome failed ({figures.get('failureRatio') or '-'})")
    if figures.get("optedOut") is not None:
        text += f", {figures['optedOut']:,} opted out ({figures.get('optOutRatio') or '-'})"
    if guard.get("resumed"):
        text += "; resumed by a person"
    return text


def _to_send(counters: Mapping[str, int]) -> int:
    return max(0, counters.get("total", 0) - sum(counters.get(k, 0) for k in (
        "invalid", "suppressed", "holdout", "unroutable")))


def _event(event: Object) -> dict[str, Any]:
    count = event.get("count") or 1
    message = str(event.get("message") or "")
    return {"time": _event_time(event), "type": event.get("type") or "",
            "reason": event.get("reason") or "",
            "message": message + (f" (x{count})" if count > 1 else "")}


def _event_time(event: Object) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime")
               or event.get("firstTimestamp") or (event.get("metadata") or {}).get(
                   "creationTimestamp") or "")


# -- preview -----------------------------------------------------------------------------

def template_preview(template: Object) -> dict[str, Any]:
    meta, spec, status = (template.get("metadata", {}), template.get("spec") or {},
                          template.get("status") or {})
    return {
        "name": meta.get("name", ""),
        "category": spec.get("category", ""),
        "phase": status.get("phase") or "Pending",
        "preview": status.get("preview"),
        "encoding": status.get("encoding"),
        "characters": status.get("characters"),
        "segments": status.get("segments"),
        "codings": status.get("codings") or [],
        "findings": status.get("findings") or [],
    }


def campaign_preview(campaign: Object, templates: Mapping[str, Object | None]
                     ) -> dict[str, Any]:
    """Each variant's template (None: not found) and the plan's cost, if made yet."""
    status = campaign.get("status") or {}
    return {
        "name": campaign.get("metadata", {}).get("name", ""),
        "variants": [{"variant": variant, "template": name,
                      **({"missing": True} if template is None
                         else template_preview(template))}
                     for variant, (name, template) in _variant_templates(campaign,
                                                                         templates)],
        "plan": status.get("plan"),
    }


def campaign_templates(campaign: Object) -> list[tuple[str, str]]:
    """(variant, template name) of a campaign, "" the variant of a single template."""
    spec = campaign.get("spec") or {}
    if spec.get("variants"):
        return [(v["name"], v["templateRef"]["name"]) for v in spec["variants"]]
    ref = spec.get("templateRef") or {}
    return [("", ref["name"])] if ref.get("name") else []


def _variant_templates(campaign: Object, templates: Mapping[str, Object | None]
                       ) -> list[tuple[str, tuple[str, Object | None]]]:
    return [(variant, (name, templates.get(name)))
            for variant, name in campaign_templates(campaign)]


def preview_lines(view: Mapping[str, Any]) -> list[str]:
    if "variants" not in view:
        return _template_lines(view)
    lines = [f"Campaign {view['name']}"]
    for item in view["variants"]:
        label = f"variant {item['variant']}: " if item["variant"] else ""
        lines.append("")
        if item.get("missing"):
            lines.append(f"{label}template {item['template']} not found")
        else:
            lines += [f"{label}{line}" if i == 0 else line
                      for i, line in enumerate(_template_lines(item))]
    if view["plan"]:
        lines += ["", "Plan: " + plan_text(view["plan"])]
    return lines


def _template_lines(view: Mapping[str, Any]) -> list[str]:
    lines = [f"Template {view['name']} ({view['category']}): {view['phase']}"]
    if view["preview"] is None:
        lines.append("  not reviewed yet: no preview")
        return lines
    lines += [f"  | {line}" for line in str(view["preview"]).splitlines() or [""]]
    lines.append(f"  {view['encoding']}, {view['characters']} characters,"
                 f" {view['segments']} segment{'s' if view['segments'] != 1 else ''}")
    for coding in view["codings"]:
        lines.append(f"  on a {coding['name']} channel: {coding['encoding']},"
                     f" {coding['segments']} segments"
                     + (f" (lacks {coding['uncarried']})" if coding.get("uncarried") else ""))
    for finding in view["findings"]:
        lines.append(f"  {finding.get('severity', '')}: {finding.get('message', '')}")
    return lines


# -- trace -------------------------------------------------------------------------------

def trace(campaign: Object, runs: Sequence[Object], jobs: Sequence[Object],
          pods: Sequence[Object], channels: Mapping[str, Object | None]) -> dict[str, Any]:
    """Campaign -> runs -> Jobs -> pods, and the channels' binds."""
    status = campaign.get("status") or {}

    def pods_of(job: Object) -> list[dict[str, Any]]:
        name = job["metadata"]["name"]
        return [{"name": p["metadata"]["name"],
                 "phase": (p.get("status") or {}).get("phase", ""),
                 "node": (p.get("spec") or {}).get("nodeName", "")}
                for p in pods if (p["metadata"].get("labels") or {}).get("job-name") == name]

    return {
        "campaign": campaign["metadata"]["name"],
        "phase": status.get("phase") or "Pending",
        "runs": [{"name": r["metadata"]["name"],
                  "phase": (r.get("status") or {}).get("phase") or "Pending"} for r in runs],
        "jobs": [{"name": j["metadata"]["name"], **_job_state(j), "pods": pods_of(j)}
                 for j in sorted(jobs, key=lambda j: j["metadata"]["name"])],
        "channels": [_channel_binds(name, channel) for name, channel in channels.items()],
    }


def _job_state(job: Object) -> dict[str, Any]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    state = ("Complete" if conditions.get("Complete") == "True"
             else "Failed" if conditions.get("Failed") == "True"
             else "Suspended" if spec.get("suspend") else "Running")
    return {"state": state, "completions": spec.get("completions"),
            "active": status.get("active", 0), "succeeded": status.get("succeeded", 0),
            "failed": status.get("failed", 0)}


def _channel_binds(name: str, channel: Object | None) -> dict[str, Any]:
    if channel is None:
        return {"name": name, "missing": True}
    status = channel.get("status") or {}
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    binds = status.get("binds") or {}
    return {"name": name, "ready": ready.get("status", "Unknown"),
            "reason": ready.get("reason", ""), "bound": binds.get("bound", 0),
            "receiverBound": binds.get("receiverBound", 0),
            "measuredMessagesPerSecond": status.get("measuredMessagesPerSecond")}


def trace_lines(view: Mapping[str, Any]) -> list[str]:
    lines = [f"Campaign {view['campaign']} ({view['phase']})"]
    for run in view["runs"]:
        lines.append(f"├─ CampaignRun {run['name']} ({run['phase']})")
    if not view["jobs"]:
        lines.append("├─ no Jobs")
    for job in view["jobs"]:
        counts = (f"{job['succeeded']}/{job['completions']} done" if job["completions"]
                  else f"{job['succeeded']} done")
        lines.append(f"├─ Job {job['name']}: {job['state']}, {counts},"
                     f" {job['active']} active, {job['failed']} failed")
        for pod in job["pods"]:
            lines.append(f"│  └─ Pod {pod['name']}: {pod['phase']}"
                         + (f" on {pod['node']}" if pod["node"] else ""))
    for index, channel in enumerate(view["channels"]):
        branch = "└─" if index == len(view["channels"]) - 1 else "├─"
        if channel.get("missing"):
            lines.append(f"{branch} Channel {channel['name']}: not found")
            continue
        rate = channel["measuredMessagesPerSecond"]
        lines.append(f"{branch} Channel {channel['name']}: Ready {channel['ready']}"
                     + (f" ({channel['reason']})" if channel["reason"] else "")
                     + f", {channel['bound']} binds up ({channel['receiverBound']} receiver)"
                     + (f", {rate:,} msg/s" if rate is not None else ""))
    return lines


# -- small parts -------------------------------------------------------------------------

def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, as kubectl prints them; the last unpadded."""
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    return ["   ".join(str(cell).ljust(width) if i < len(header) - 1 else str(cell)
                       for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
            .rstrip() for row in (header, *rows)]


def age(timestamp: str | None, now: datetime) -> str:
    """How long ago, as kubectl shows it: 45s, 12m, 3h, 2d; "<unknown>" when unset."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
