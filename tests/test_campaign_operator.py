"""The operator end to end: examples applied to the emulated API, Jobs run as local
processes, a real redis-server and the SMPP simulator (herald.local.stack)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crds.base import API_VERSION
from herald.local.demo import audience_csv
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack

EXAMPLES = Path(__file__).parent.parent / "examples"
NS = "default"
CAMPAIGN = "double-eleven-2026"
TIMEOUT = 60

pytestmark = pytest.mark.timeout(180)


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return body


def campaign_body(**spec: Any) -> dict[str, Any]:
    body = example("campaign.yaml")
    del body["spec"]["schedule"]["sendWindow"]  # tests run at any hour
    body["spec"] |= spec
    return body


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        await apply_examples(running)
        yield running


async def apply_examples(stack: Stack) -> None:
    """The example Secret, Channel (pointed at the stack's simulator) and Templates."""
    channel = example("channel.yaml")
    channel["spec"]["smpp"] |= {"host": "127.0.0.1", "port": stack.simulator.port}
    for doc in (example("secret.yaml"), channel, example("template.yaml"),
                example("template-reminder.yaml")):
        await stack.kube.create(doc)


async def events_include(stack: Stack, obj: dict[str, Any], *wanted: str) -> list[str]:
    """The object's Event reasons, once all of `wanted` are among them (kopf posts
    Events in the background, a moment after the status write)."""
    events = await wait_for(lambda: stack.kube.events_for(obj), timeout=TIMEOUT,
                            message=f"events {wanted} not all posted",
                            until=lambda es: set(wanted) <= {e["reason"] for e in es})
    return [e["reason"] for e in events]


def counters_add_up(status: dict[str, Any]) -> None:
    c = status["counters"]
    settled = sum(c.get(k, 0) for k in ("invalid", "suppressed", "optedOut", "queued",
                                        "submitted", "delivered", "failed", "expired",
                                        "unknown", "cancelled", "holdout", "waiting",
                                        "unroutable"))
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

    await events_include(stack, done, "Importing", "Sending", "Completed")


async def test_status_writes_stay_within_one_per_second(stack: Stack) -> None:
    import time

    await stack.kube.create(campaign_body(rateLimit={"messagesPerSecond": 50},
                                          audience=inline(150)))
    started = time.monotonic()
    await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
    done = await wait_delivered(stack, 150)
    assert done["status"]["counters"]["delivered"] == 150
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


def inline(count: int) -> dict[str, Any]:
    """`count` recipients with the variables the example templates use."""
    return {"defaultRegion": "CN", "inline": [
        {"phone": f"138{i:08d}", "variables": [{"name": "name", "value": f"n{i}"},
                                               {"name": "code", "value": f"C{i}"}]}
        for i in range(count)]}


async def wait_delivered(stack: Stack, at_least: int, name: str = CAMPAIGN) -> dict[str, Any]:
    """The campaign once `at_least` are delivered. Receipts may come after Completed (a
    stopped sender's go to the channel's receiver), so tests wait for them."""
    body: dict[str, Any] = await wait_for(
        lambda: stack.campaign(NS, name), timeout=TIMEOUT,
        until=lambda c: c.get("status", {}).get("counters", {}).get("delivered", 0) >= at_least,
        message=f"fewer than {at_least} delivered")
    return body


async def sender_pods_gone(stack: Stack) -> None:
    await wait_for(lambda: stack.kube.get("batch/v1", "Job", NS, f"{CAMPAIGN}-send"),
                   timeout=TIMEOUT, message="sender pods still running",
                   until=lambda j: j["spec"].get("suspend") and not j["status"].get("active"))


def accepted_once(stack: Stack) -> set[str]:
    destinations = [m.destination for m in stack.simulator.accepted]
    assert len(destinations) == len(set(destinations)), "a number got the message twice"
    return set(destinations)


async def test_pause_and_resume_send_everything_once(stack: Stack) -> None:
    kube = stack.kube
    await kube.create(campaign_body(rateLimit={"messagesPerSecond": 100}, audience=inline(500)))
    await wait_delivered(stack, 50)
    await kube.patch(API_VERSION, "Campaign", NS, CAMPAIGN, {"spec": {"paused": True}})
    paused = await stack.wait_for_phase(NS, CAMPAIGN, "Paused", timeout=TIMEOUT)
    await sender_pods_gone(stack)
    during = len(accepted_once(stack))
    assert during < 500
    assert paused["status"]["conditions"]
    await kube.patch(API_VERSION, "Campaign", NS, CAMPAIGN, {"spec": {"paused": False}})
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
    counters_add_up(done["status"])
    done = await wait_delivered(stack, 500)
    assert len(accepted_once(stack)) == 500 == done["status"]["counters"]["delivered"]
    reasons = await events_include(stack, done, "Paused", "Completed")
    assert reasons.index("Paused") < reasons.index("Completed")


async def test_cancel_counts_what_was_not_sent(stack: Stack) -> None:
    kube = stack.kube
    await kube.create(campaign_body(rateLimit={"messagesPerSecond": 50}, audience=inline(500)))
    await wait_delivered(stack, 20)
    await kube.patch(API_VERSION, "Campaign", NS, CAMPAIGN, {"spec": {"cancel": True}})
    done = await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                          message="not cancelled", until=lambda c: any(
                              x["type"] == "Ready" and x["reason"] == "Cancelled"
                              for x in c.get("status", {}).get("conditions", [])))
    status = done["status"]
    assert status["phase"] == "Cancelled"
    counters_add_up(status)
    c = status["counters"]
    assert c["cancelled"] > 0 and c.get("queued", 0) == 0
    assert len(accepted_once(stack)) == c["total"] - c["cancelled"] - c.get("invalid", 0)


async def test_operator_killed_mid_run_resumes_without_reimport_or_resend(
    stack: Stack, tmp_path: Path
) -> None:
    """SIGKILL, as a node failure or an OOM kill would: no cleanup, no finalizer run, no
    last status write. The next operator process takes the campaign from where it is."""
    kube = stack.kube
    await stack.stop_operator()  # the in-process one; this test runs `herald operator`
    log = tmp_path / "operator.log"
    first = await stack.start_operator_process(log)
    try:
        await kube.create(campaign_body(rateLimit={"messagesPerSecond": 100},
                                        audience=inline(400)))
        await wait_delivered(stack, 50)
        first.kill()
        await first.wait()
        second = await stack.start_operator_process(log)
        try:
            done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
            counters_add_up(done["status"])
            done = await wait_delivered(stack, 400)
        finally:
            second.terminate()
            await second.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    assert first.returncode == -9
    assert len(accepted_once(stack)) == 400
    logged = log.read_text()
    assert "Activity 'configure' succeeded." in logged  # herald operator logs...
    assert "Timer 'reconcile' succeeded." not in logged  # ...but not each timer run
    importer = await kube.get("batch/v1", "Job", NS, f"{CAMPAIGN}-import")
    assert stack.jobs.runs[importer["metadata"]["uid"]].attempts == 1  # imported once


async def test_a_dry_run_stops_at_its_plan_then_sends_it(stack: Stack) -> None:
    """spec.dryRun imports and plans, and sends nothing; set to false, the run sends the
    recipients the plan counted, without importing again (the simulator is the judge)."""
    kube = stack.kube
    await kube.patch(API_VERSION, "Channel", NS, "carrier-a", {"spec": {"pricing": {
        "currency": "CNY", "countries": [{"country": "CN", "pricePerSegment": "0.045"}]}}})
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "audience"},
                       "data": {"recipients.csv": audience_csv(300)}})
    await kube.create(campaign_body(dryRun=True, audience={
        "defaultRegion": "CN", "configMapRef": {"name": "audience"}}))
    planned = await stack.wait_for_phase(NS, CAMPAIGN, ("Planned", "Failed"), timeout=TIMEOUT)
    status = planned["status"]
    assert status["phase"] == "Planned", status
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "DryRun")
    plan = status["plan"]
    c = status["counters"]
    assert plan["rows"] == c["total"] == 300
    assert plan["audience"] == plan["messages"] == (
        c["total"] - c["invalid"] - c["suppressed"] - c.get("optedOut", 0)
        - c.get("holdout", 0) - c.get("unroutable", 0))
    assert 0 < plan["audience"] < 300  # the demo rows have invalid and duplicate numbers
    assert sum(v["messages"] for v in plan["variants"]) == plan["audience"]
    (channel,) = plan["channels"]
    assert channel["countries"] == [{
        "country": "CN", "messages": plan["audience"], "segments": plan["segments"],
        "pricePerSegment": "0.045", "estimatedCost": plan["estimatedCost"]}]
    assert plan["currency"] == "CNY" and plan["eta"]
    assert not [j for j in await kube.list("batch/v1", "Job", NS)
                if j["metadata"]["name"] == f"{CAMPAIGN}-send"]
    assert stack.simulator.accepted == []
    await events_include(stack, planned, "DryRun")

    await kube.patch(API_VERSION, "Campaign", NS, CAMPAIGN, {"spec": {"dryRun": False}})
    done = await stack.wait_for_phase(NS, CAMPAIGN, ("Completed", "Failed"), timeout=TIMEOUT)
    assert done["status"]["phase"] == "Completed", done["status"]
    done = await wait_delivered(stack, plan["audience"])
    assert len(accepted_once(stack)) == plan["audience"] == done["status"]["counters"]["sent"]
    assert done["status"]["plan"]["audience"] == plan["audience"]
    assert done["status"]["counters"]["segmentsSubmitted"] == plan["segments"], plan
    importer = await kube.get("batch/v1", "Job", NS, f"{CAMPAIGN}-import")
    assert stack.jobs.runs[importer["metadata"]["uid"]].attempts == 1  # imported once
