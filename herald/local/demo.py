"""`herald demo`: Herald's main job on embedded defaults, no cluster needed.

It starts everything on loopback (herald.local.stack): a local Kubernetes API, a
redis-server, the SMPP simulator, a local Job runner that runs Jobs' pods as
processes, and the real operator. It applies the manifests in examples/ as `kubectl
apply` would and shows what a user of a real cluster would see: the templates
reviewed, a manual template approved once its approval is applied, then the example
Campaign with a 10,000-row ConfigMap audience going through the operator, the
importer Job, the Indexed sender Job (two pods), Redis and the simulator to
Completed, and the Campaign as `kubectl get campaign -o yaml` shows it.
`herald demo -o json` prints only that final Campaign.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from crds.base import API_VERSION
from crds.campaign import Campaign
from herald.local.demo_audience import demo_opt_outs, demo_rows
from herald.local.kube import KubeClient, wait_for
from herald.local.kube.tables import json_path_value
from herald.local.stack import Stack, running_stack
from sender.simulator.config import SimulatorConfig
from sender.store.client import RedisUrlError, connect, parse_url
from sender.store.keys import OPT_OUT_SET

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEMPLATES = ("sms.herald.dev/v1alpha1", "templates")
NAMESPACE = "default"
TIMEOUT = 30.0
CAMPAIGN_TIMEOUT = 180.0
RECIPIENTS = 10_000
# Outcomes a real carrier might report, so the counters show more than "delivered".
SIMULATED_OUTCOMES = {"delivered": 0.95, "undeliverable": 0.03, "expired": 0.015,
                      "rejected": 0.005}


def load_manifests(directory: Path, pattern: str = "*.yaml") -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob(pattern)):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def ready(obj: dict[str, Any]) -> dict[str, Any]:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            return dict(condition)
    return {}


def reviewed(obj: dict[str, Any]) -> bool:
    """The operator has reviewed the template's current spec."""
    status = obj.get("status", {})
    return bool(ready(obj)) and status.get("observedGeneration") == obj["metadata"]["generation"]


def table(templates: list[dict[str, Any]]) -> str:
    """`kubectl get templates`, with the CRD's printer columns."""
    rows = [("NAME", "CATEGORY", "PHASE", "ENCODING", "SEGMENTS", "REASON")]
    for t in templates:
        s = t.get("status", {})
        rows.append((t["metadata"]["name"], t["spec"]["category"], s.get("phase", ""),
                     s.get("encoding", ""), str(s.get("segments", "")), ready(t).get("reason", "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


class Narrator:
    """Progress for people (text mode) on stderr; nothing in json/yaml mode."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, line: str = "") -> None:
        if self.enabled:
            print(line, file=sys.stderr, flush=True)


async def wait_reviewed(kube: KubeClient, name: str, reason: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = await wait_for(
        lambda: kube.get(*TEMPLATES, NAMESPACE, name),
        until=lambda o: reviewed(o) and (reason is None or ready(o).get("reason") == reason),
        timeout=TIMEOUT, message=f"template {name} was not reviewed in {TIMEOUT:.0f}s",
    )
    return obj


async def wait_events(kube: KubeClient, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The object's Events, once kopf has posted at least one (it posts in the background)."""
    events: list[dict[str, Any]] = await wait_for(
        lambda: kube.events_for(obj), until=lambda found: len(found) > 0,
        timeout=TIMEOUT, message=f"no events for {obj['metadata']['name']}",
    )
    return events


async def run(say: Narrator, redis_url: str | None = None) -> dict[str, Any]:
    """Run the demo; return the final Campaign as the API holds it.

    With `redis_url` (any HERALD_REDIS_URL form) everything uses that Redis instead of a
    redis-server of the demo's own.
    """
    examples = load_manifests(EXAMPLES)
    approvals = [d for d in examples if d["kind"] == "TemplateApproval"]
    # The main job is campaign.yaml's; the other example campaigns (a triggered one, a
    # recurring one) show other features and are not applied here.
    (campaign_doc,) = load_manifests(EXAMPLES, "campaign.yaml")
    first = [d for d in examples if d["kind"] not in ("TemplateApproval", "Campaign")]

    redis_name = "redis-server" if redis_url is None else describe_redis(redis_url)
    say(f"Starting a local Kubernetes API, {redis_name}, the SMPP simulator, a local Job"
        " runner and Herald's operator ...")
    simulator = SimulatorConfig(port=0, receipt_delay_ms=20, seed=7, outcomes=SIMULATED_OUTCOMES)
    async with running_stack(simulator=simulator, redis_url=redis_url) as stack:
        kube = stack.kube
        if redis_url is None:
            redis = connect(stack.redis_url)
            try:  # numbers that replied STOP to earlier campaigns
                await redis.sadd(OPT_OUT_SET, *demo_opt_outs(RECIPIENTS))
            finally:
                await redis.aclose()
        else:  # the opt-out set is shared by every campaign on that Redis: left as it is
            say("(the demo's opted-out numbers are not added to an existing Redis)")
        say(f"$ kubectl apply -f {EXAMPLES.name}/   (all but the approval and the campaign;"
            f" the channel pointed at the simulator on 127.0.0.1:{stack.simulator.port})")
        for doc in first:
            if doc["kind"] == "Channel":
                doc["spec"]["smpp"] |= {"host": "127.0.0.1", "port": stack.simulator.port}
            await kube.create(doc)
            say(f"{doc['kind'].lower()}.{doc['apiVersion'].split('/')[0]}/"
                f"{doc['metadata']['name']} created".replace(".v1/", "/"))

        names = [d["metadata"]["name"] for d in first if d["kind"] == "Template"]
        templates = [await wait_reviewed(kube, name) for name in names]
        say("\n$ kubectl get templates")
        say(table(templates))
        for approval in approvals:
            target = approval["spec"]["templateName"]
            say(f"\n$ kubectl apply -f {EXAMPLES.name}/templateapproval.yaml   "
                f"(a reviewer approves {target})")
            await kube.create(approval)
            say(f"templateapproval.sms.herald.dev/{approval['metadata']['name']} created")
            await wait_reviewed(kube, target, reason="ManuallyApproved")
        templates = [await wait_reviewed(kube, name) for name in names]
        say("\n$ kubectl get templates")
        say(table(templates))
        say("\n$ kubectl get events --field-selector involvedObject.kind=Template")
        for t in templates:
            for e in await wait_events(kube, t):
                say(f"{e['type']:<8} {e['reason']:<18} template/{t['metadata']['name']}: "
                    f"{e['message']}")
        return await run_campaign(stack, campaign_doc, say)


async def run_campaign(stack: Stack, campaign_doc: dict[str, Any], say: Narrator,
                       ) -> dict[str, Any]:
    """Apply the example Campaign with a 10,000-row ConfigMap audience; watch it run."""
    kube = stack.kube
    name = campaign_doc["metadata"]["name"]
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"{name}-audience"},
                       "data": {"recipients.csv": audience_csv(RECIPIENTS)}})
    campaign_doc["spec"]["audience"] = {"defaultRegion": "CN",
                                        "configMapRef": {"name": f"{name}-audience"}}
    campaign_doc["spec"]["schedule"].pop("sendWindow", None)
    say(f"\n$ kubectl create configmap {name}-audience --from-file=recipients.csv"
        f"   ({RECIPIENTS:,} generated rows; some invalid, some duplicated, some opted out)")
    say(f"$ kubectl apply -f {EXAMPLES.name}/campaign.yaml   (its audience set to that"
        " ConfigMap and its 09:00-21:00 send window dropped, so the demo runs at any hour)")
    created = await kube.create(campaign_doc)
    say(f"campaign.sms.herald.dev/{name} created\n")
    started = time.monotonic()
    last = ""
    while True:
        body = await stack.campaign(NAMESPACE, name)
        line = progress_line(body, time.monotonic() - started)
        if line != last:
            say(line)
            last = line
        if body.get("status", {}).get("phase") in ("Completed", "Failed", "Cancelled"):
            break
        if time.monotonic() - started > CAMPAIGN_TIMEOUT:
            raise TimeoutError(f"campaign {name} did not finish in {CAMPAIGN_TIMEOUT:.0f}s")
        await asyncio.sleep(0.5)
    # Late receipts keep folding in for a moment after the senders are done.
    await asyncio.sleep(1.5)
    body = await stack.campaign(NAMESPACE, name)
    seconds = time.monotonic() - started
    say(f"\n$ kubectl get campaign {name}")
    say(campaign_table(body))
    say("\n$ kubectl get jobs   (run by the local Job runner as processes)")
    for job in await kube.list("batch/v1", "Job", NAMESPACE):
        s = job.get("status", {})
        say(f"{job['metadata']['name']:<28} {s.get('succeeded', 0)}/"
            f"{job['spec'].get('completions', 1)}")
    say("\n$ kubectl get deployments   (the channel's receiver, for late receipts and replies)")
    for deployment in await kube.list("apps/v1", "Deployment", NAMESPACE):
        s = deployment.get("status", {})
        say(f"{deployment['metadata']['name']:<28} {s.get('readyReplicas', 0)}/"
            f"{deployment['spec'].get('replicas', 1)}")
    say("\n$ kubectl get channels")
    say(f"{'NAME':<12} {'READY':<6} {'BINDS':<6} {'RECEIVER':<9} MEASURED MSG/S")
    for channel in await kube.list(API_VERSION, "Channel", NAMESPACE):
        s = channel.get("status", {})
        ready = [c["status"] for c in s.get("conditions", []) if c["type"] == "Ready"]
        binds = s.get("binds", {})
        say(f"{channel['metadata']['name']:<12} {(ready or ['?'])[0]:<6} "
            f"{binds.get('bound', 0):<6} {binds.get('receiverBound', 0):<9} "
            f"{s.get('measuredMessagesPerSecond', '-')}")
    say(f"\n$ kubectl get events --field-selector involvedObject.name={name}")
    for e in await kube.events_for(created):
        say(f"{e['type']:<8} {e['reason']:<12} {e['message']}")
    say(f"\n$ kubectl get campaign {name} -o yaml")
    say(yaml.safe_dump(public(body), allow_unicode=True, sort_keys=False).rstrip())
    say(f"\nDone in {seconds:.1f}s; {stack.status_writes(NAMESPACE, name)} status writes.")
    return body


def public(body: dict[str, Any]) -> dict[str, Any]:
    """The object without kopf's bookkeeping annotations."""
    shown = dict(body)
    meta = dict(shown["metadata"])
    meta["annotations"] = {k: v for k, v in meta.get("annotations", {}).items()
                           if not k.startswith("sms.herald.dev/")}
    if not meta["annotations"]:
        del meta["annotations"]
    shown["metadata"] = meta
    return shown


def progress_line(body: dict[str, Any], seconds: float) -> str:
    """Importing · [#########.........] 52% · 4,870 delivered · 1,010 msg/s"""
    status = body.get("status", {})
    c = status.get("counters", {})
    percent = int(status.get("progressPercent") or 0)
    filled = 30 * percent // 100
    return (f"{seconds:5.1f}s {status.get('phase', 'Pending'):<10}"
            f" [{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%"
            f" · {c.get('delivered', 0):,} delivered · {c.get('failed', 0) + c.get('expired', 0):,}"
            f" failed or expired · {status.get('submitRatePerSecond', 0):,} msg/s")


def column_value(obj: dict[str, Any], json_path: str) -> str:
    """One cell of a printer column, as kubectl prints it: the JSONPath subset CRDs here
    use (`.status.counters.sent`, `.status.conditions[?(@.type=="Ready")].reason`)."""
    value = json_path_value(obj, json_path)
    return "<none>" if value is None else str(value)


def campaign_table(body: dict[str, Any]) -> str:
    """`kubectl get campaign`, with the CRD's printer columns (but Age)."""
    columns = [c for c in Campaign.PRINTER_COLUMNS
               if not c.get("priority") and c["name"] != "Age"]
    rows = [("NAME", *(c["name"].upper() for c in columns)),
            (body["metadata"]["name"], *(column_value(body, c["jsonPath"]) for c in columns))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def audience_csv(count: int) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["phone", "name", "code"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(demo_rows(count))
    return out.getvalue()


def describe_redis(url: str) -> str:
    """The Redis the demo uses, without its password, or why the URL is refused."""
    try:
        return f"the Redis at {parse_url(url).describe()}"
    except RedisUrlError as error:
        raise SystemExit(f"herald demo: --redis: {error}") from None


def main(output: str = "text", redis_url: str | None = None) -> int:
    try:
        if redis_url is not None:
            describe_redis(redis_url)  # a bad URL is refused before anything starts
        campaign = asyncio.run(run(Narrator(output == "text"), redis_url))
    except (AssertionError, TimeoutError) as exc:
        print(f"herald demo: {exc}", file=sys.stderr)
        return 1
    result = public(campaign)
    if output == "json":
        print(json.dumps(result, ensure_ascii=False, indent=2))
    elif output == "yaml":
        print(yaml.safe_dump(result, allow_unicode=True, sort_keys=False), end="")
    return 0
