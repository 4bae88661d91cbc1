"""`herald demo`: Herald's main job on embedded defaults, no cluster needed.

It starts a local Kubernetes API (herald.localkube), runs the real operator against
it, applies the manifests in examples/ as `kubectl apply` would, and shows what a
user of a real cluster would see: the templates reviewed, a manual template waiting
for its approval and approved once the approval is applied, and the Events.

At this stage the operator reviews templates; Channels and Campaigns are accepted
and stored, and their controllers come with the next issues.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from crds.generate import committed_crds
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


async def run(say: Narrator) -> list[dict[str, Any]]:
    """Run the demo; return the templates as the API holds them at the end."""
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
        return templates


def main(output: str = "text") -> int:
    # kopf logs its own housekeeping; the demo shows what a cluster user would see.
    logging.basicConfig(level=logging.ERROR)
    try:
        templates = asyncio.run(run(Narrator(output == "text")))
    except (AssertionError, TimeoutError) as exc:
        print(f"herald demo: {exc}", file=sys.stderr)
        return 1
    listing = {"apiVersion": "v1", "kind": "List", "items": templates}
    if output == "json":
        print(json.dumps(listing, ensure_ascii=False, indent=2))
    else:
        if output == "text":
            print("\n$ kubectl get templates -o yaml", file=sys.stderr)
        print(yaml.safe_dump(listing, allow_unicode=True, sort_keys=False), end="")
    return 0
