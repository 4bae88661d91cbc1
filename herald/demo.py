"""`herald demo`: Herald's main job on embedded defaults, no cluster needed.

It starts a local Kubernetes API (herald.localkube), runs the real operator against
it, applies the manifests in examples/ as `kubectl apply` would, and shows what a
user of a real cluster would see: the templates reviewed, a manual template waiting
for its approval and approved once the approval is applied, and the Events. Then it
sends the example Campaign (herald.demo_send): 10,000 generated recipients imported
into Redis and sent by the sender engine over SMPP to the simulator, on loopback.

The operator reviews templates; the Campaign and Channel controllers (which will
run the import and sender Jobs themselves) come with the operator issue, so here
the demo plays their part with the same code the Jobs will run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from crds.campaign import Campaign, Counters
from crds.channel import Channel
from crds.generate import committed_crds
from crds.template import Template, TemplateSpec
from herald.demo_send import RECIPIENTS, progress_line, send_campaign, summary
from herald.localkube import KubeClient, running_emulator, running_operator, wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TEMPLATES = ("sms.herald.dev/v1alpha1", "templates")
NAMESPACE = "default"
TIMEOUT = 30.0


def load_manifests(directory: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
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


async def run(say: Narrator) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the demo; return the templates as the API holds them, and the send's status."""
    crd_manifests = committed_crds()
    examples = load_manifests(EXAMPLES)
    approvals = [d for d in examples if d["kind"] == "TemplateApproval"]
    first = [d for d in examples if d["kind"] != "TemplateApproval"]

    say("Starting a local Kubernetes API and Herald's operator ...")
    async with running_emulator(crd_manifests) as cluster, \
            running_operator(cluster.kubeconfig, modules=["controllers.operator"]):
        kube = cluster.client
        say(f"$ kubectl apply -f {EXAMPLES.name}/   (all but the approval)")
        for doc in first:
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

        sent = await send_example_campaign(kube, examples, say)
        return templates, sent


async def send_example_campaign(
    kube: KubeClient, examples: list[dict[str, Any]], say: Narrator
) -> dict[str, Any]:
    """Send the example Campaign with its approved templates, as the sender Jobs will."""
    campaign_doc = next(d for d in examples if d["kind"] == "Campaign")
    channel_doc = next(d for d in examples if d["kind"] == "Channel")
    campaign = Campaign.model_validate(await kube.get(
        campaign_doc["apiVersion"], "campaigns", NAMESPACE, campaign_doc["metadata"]["name"]))
    channel = Channel.model_validate(await kube.get(
        channel_doc["apiVersion"], "channels", NAMESPACE, channel_doc["metadata"]["name"]))
    secret_ref = channel.spec.smpp.password_secret_ref
    secret = await kube.get("v1", "secrets", NAMESPACE, secret_ref.name)
    password = secret_value(secret, secret_ref.key)
    templates: dict[str, TemplateSpec] = {}
    for variant in campaign.spec.variants or []:
        body = await kube.get(*TEMPLATES, NAMESPACE, variant.template_ref.name)
        if ready(body).get("status") != "True":
            raise AssertionError(f"template {variant.template_ref.name} is not approved")
        templates[variant.name] = Template.model_validate(body).spec

    say(f"\nSending campaign {campaign.metadata.name}: {RECIPIENTS:,} generated recipients,"
        f" {len(templates)} variants, channel {channel.metadata.name} "
        f"({channel.spec.rate_limit.messages_per_second}/s, campaign cap "
        f"{campaign.spec.rate_limit.messages_per_second if campaign.spec.rate_limit else '-'}/s)"
        ", redis-server and the SMPP simulator on loopback")

    def progress(counters: Counters, seconds: float) -> None:
        if say.enabled:
            print("\r" + progress_line(counters, seconds), end="", file=sys.stderr, flush=True)

    result = await send_campaign(campaign, channel, templates, password, progress)
    say("")
    status = summary(result)
    say("\n$ kubectl get campaign double-eleven-2026 -o jsonpath='{.status}'  (counters)")
    say(yaml.safe_dump(status, allow_unicode=True, sort_keys=False).rstrip())
    return status


def secret_value(secret: dict[str, Any], key: str) -> str:
    """A Secret's value, from data (base64, as the API serves it) or stringData."""
    if key in (secret.get("data") or {}):
        return base64.b64decode(secret["data"][key]).decode()
    return str((secret.get("stringData") or {})[key])


def main(output: str = "text") -> int:
    # kopf logs its own housekeeping; the demo shows what a cluster user would see.
    logging.basicConfig(level=logging.ERROR)
    try:
        templates, sent = asyncio.run(run(Narrator(output == "text")))
    except (AssertionError, TimeoutError) as exc:
        print(f"herald demo: {exc}", file=sys.stderr)
        return 1
    result = {"templates": {"apiVersion": "v1", "kind": "List", "items": templates},
              "campaign": sent}
    if output == "json":
        print(json.dumps(result, ensure_ascii=False, indent=2))
    elif output == "yaml":
        print(yaml.safe_dump(result, allow_unicode=True, sort_keys=False), end="")
    return 0
