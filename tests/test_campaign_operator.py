"""The operator end to end: examples applied to the emulated API, Jobs run as local
processes, a real redis-server and the SMPP simulator (herald.local_stack)."""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crds.base import API_VERSION
from herald.local_stack import Stack, running_stack
from herald.localkube.cluster import wait_for
from sender.demo_audience import demo_rows

EXAMPLES = Path(__file__).parent.parent / "examples"
NS = "default"
CAMPAIGN = "double-eleven-2026"
TIMEOUT = 60

pytestmark = pytest.mark.timeout(180)


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return body


def audience_csv(count: int) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["phone", "name", "code"])
    writer.writeheader()
    writer.writerows(demo_rows(count))
    return out.getvalue()


def campaign_body(**spec: Any) -> dict[str, Any]:
    body = example("campaign.yaml")
    del body["spec"]["schedule"]["sendWindow"]  # tests run at any hour
    body["spec"] |= spec
    return body


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        kube = running.kube
        channel = example("channel.yaml")
        channel["spec"]["smpp"] |= {"host": "127.0.0.1", "port": running.simulator.port}
        for doc in (example("secret.yaml"), channel, example("template.yaml"),
                    example("template-reminder.yaml")):
            await kube.create(doc)
        yield running


def counters_add_up(status: dict[str, Any]) -> None:
    c = status["counters"]
    settled = sum(c.get(k, 0) for k in ("invalid", "suppressed", "optedOut", "queued",
                                        "submitted", "delivered", "failed", "expired",
                                        "unknown", "cancelled"))
    assert settled == c["total"], c


async def test_examples_run_to_completed(stack: Stack) -> None:
    kube = stack.kube
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "audience"},
                       "data": {"recipients.csv": audience_csv(400)}})
    await kube.create(campaign_body(audience={"defaultRegion": "CN",
                                              "configMapRef": {"name": "audience"}}))
    done = await stack.wait_for_phase(NS, CAMPAIGN, ("Completed", "Failed"), timeout=TIMEOUT)
    status = done["status"]
    assert status["phase"] == "Completed", status
    counters_add_up(status)
    c = status["counters"]
    accepted = {m.destination for m in stack.simulator.accepted}
    assert len(stack.simulator.accepted) == len(accepted)  # nobody got it twice
    assert len(accepted) == c["delivered"] + c["submitted"] + c["expired"] + c["failed"]
    assert c["invalid"] > 0 and c["suppressed"] > 0  # the demo rows have both
    assert {v["name"] for v in status["variants"]} == {"discount", "reminder"}
    assert status["invalidReasons"]

    jobs = {j["metadata"]["name"]: j for j in await kube.list("batch/v1", "Job", NS)}
    sender = jobs[f"{CAMPAIGN}-send"]
    assert (sender["spec"]["completionMode"], sender["spec"]["completions"],
            sender["spec"]["parallelism"]) == ("Indexed", 2, 2)
    assert sender["metadata"]["ownerReferences"][0]["uid"] == done["metadata"]["uid"]
    assert f"{CAMPAIGN}-import" in jobs
    # kopf's copy of the last handled spec must not carry the audience.
    annotations = done["metadata"].get("annotations", {})
    assert not any("13" in v and "audience" in v for v in annotations.values())

    events = [e["reason"] for e in await kube.events_for(done)]
    for reason in ("Importing", "Sending", "Completed"):
        assert reason in events


async def test_status_writes_stay_within_one_per_second(stack: Stack) -> None:
    import time

    await stack.kube.create(campaign_body(rateLimit={"messagesPerSecond": 50}, audience={
        "defaultRegion": "CN", "inline": [{"phone": f"138{i:08d}"} for i in range(150)]}))
    started = time.monotonic()
    await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
    seconds = time.monotonic() - started
    writes = stack.status_writes(NS, CAMPAIGN)
    assert 3 <= writes <= seconds / 1.0 + 2, (writes, seconds)


async def test_missing_template_waits_then_runs(stack: Stack) -> None:
    kube = stack.kube
    await kube.create(campaign_body(variants=None, templateRef={"name": "later"}))
    pending = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                             until=lambda c: c.get("status", {}).get("phase") == "Pending",
                             message="campaign not pending")
    ready = {c["type"]: c for c in pending["status"]["conditions"]}
    assert ready["Ready"]["reason"] == "TemplateNotFound"
    assert ready["Stalled"]["status"] == "True"
    events = await wait_for(lambda: kube.events_for(pending), timeout=TIMEOUT,
                            message="no event", until=lambda es: any(
                                e["reason"] == "TemplateNotFound" for e in es))
    assert any(e["type"] == "Warning" for e in events)
    later = copy.deepcopy(example("template.yaml"))
    later["metadata"]["name"] = "later"
    await kube.create(later)
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
    counters_add_up(done["status"])


async def test_missing_secret_makes_the_channel_not_ready(stack: Stack) -> None:
    kube = stack.kube
    await kube.delete("v1", "Secret", NS, "carrier-a-smpp")
    channel = example("channel.yaml")
    channel["metadata"]["name"] = "carrier-b"
    await kube.create(channel)
    body = await wait_for(lambda: kube.get(API_VERSION, "Channel", NS, "carrier-b"),
                          timeout=TIMEOUT, message="channel not checked", until=lambda c: any(
                              x["type"] == "Ready" for x in c.get("status", {}).get(
                                  "conditions", [])))
    (ready,) = [x for x in body["status"]["conditions"] if x["type"] == "Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "SecretNotFound")
