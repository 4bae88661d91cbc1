"""`kubectl herald`: its views as tables, and its commands run by the real kubectl
binary (which finds `kubectl-herald` on PATH) against the local stack's API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from controllers.decisions import reasons
from herald.local.demo import audience_csv
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from herald.plugin import views
from tests.test_campaign_operator import (
    CAMPAIGN,
    NS,
    TIMEOUT,
    apply_examples,
    campaign_body,
    inline,
)
from tests.test_canary import (  # noqa: F401  (failing_30: a fixture)
    AUDIENCE,
    E164,
    IN_CANARY,
    PERCENT,
    destinations,
    failing_30,
    ready_reason,
)

REPO = Path(__file__).parent.parent
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


# -- the views -------------------------------------------------------------------------

@pytest.mark.parametrize("percent, bar", [
    pytest.param(0, "[----------]   0%", id="none"),
    pytest.param(45, "[####------]  45%", id="part"),
    pytest.param(100, "[##########] 100%", id="all"),
    pytest.param(130, "[##########] 100%", id="clamped"),
])
def test_progress_bar(percent: int, bar: str) -> None:
    assert views.progress_bar(percent, width=10) == bar


@pytest.mark.parametrize("timestamp, shown", [
    pytest.param("2026-12-03T11:59:15Z", "45s", id="seconds"),
    pytest.param("2026-12-03T11:58:00Z", "2m", id="minutes"),
    pytest.param("2026-12-03T09:00:00Z", "3h", id="hours"),
    pytest.param("2026-11-30T12:00:00Z", "3d", id="days"),
    pytest.param(None, "<unknown>", id="unset"),
    pytest.param("yesterday", "<unknown>", id="unreadable"),
])
def test_age_reads_as_kubectl_prints_it(timestamp: str | None, shown: str) -> None:
    assert views.age(timestamp, NOW) == shown


RUNNING = {
    "metadata": {"namespace": "shop", "name": "sale", "generation": 2, "uid": "u"},
    "spec": {"variants": [{"name": "a", "templateRef": {"name": "t-a"}, "weight": 50},
                          {"name": "b", "templateRef": {"name": "t-b"}, "weight": 50}]},
    "status": {
        "observedGeneration": 1, "phase": "Running", "progressPercent": 40,
        "counters": {"total": 110, "invalid": 10, "sent": 40, "delivered": 30, "queued": 60},
        "submitRatePerSecond": 12, "deliveryRatio": "96.8%",
        "plan": {"audience": 100, "segments": 100, "estimatedCost": "4.50",
                 "currency": "CNY", "eta": "2026-12-03T12:10:00Z"},
        "canary": {"result": "Failed", "reason": "FailureRatioExceeded", "resumed": True,
                   "figures": {"final": 20, "failed": 6, "failureRatio": "30.0%",
                               "sent": 20}},
        "variants": [{"name": "a", "counters": {"total": 50, "sent": 20, "delivered": 15}}],
        "channels": [{"name": "cmcc", "counters": {"total": 100, "sent": 40},
                      "topErrors": [{"code": "0x00000058", "name": "ESME_RTHROTTLED",
                                     "count": 3}]}],
        "conditions": [{"type": "Ready", "status": "False", "reason": "Sending",
                        "lastTransitionTime": "2026-12-03T11:55:00Z", "message": "sending"}],
    },
}
EVENTS = [{"type": "Normal", "reason": f"R{i}", "message": f"m{i}", "count": 1 + i % 2,
           "lastTimestamp": f"2026-12-03T11:{i:02d}:00Z"} for i in range(12)]


def test_the_status_view_holds_what_the_operator_wrote_and_the_newest_events() -> None:
    view = views.campaign_status(RUNNING, list(reversed(EVENTS)))
    assert (view["phase"], view["current"], view["progressPercent"]) == ("Running", False, 40)
    assert [e["reason"] for e in view["events"]] == [f"R{i}" for i in range(2, 12)]
    assert view["events"][-1]["message"] == "m11 (x2)"
    text = "\n".join(views.status_lines(view, NOW))
    for expected in ("Campaign shop/sale: Running (status not yet updated",
                     "[############------------------]  40%  sent 40 of 100",
                     "submitting 12/s, delivered 96.8% of those with an outcome",
                     "100 recipients, 100 segments, about 4.50 CNY, done by 2026-12-03T12:10",
                     "Canary     Failed (FailureRatioExceeded): 6 of 20 with an outcome"
                     " failed (30.0%); resumed by a person",
                     "VARIANT", "CHANNEL", "cmcc", "Ready       False    Sending   5m",
                     "cmcc      0x00000058   ESME_RTHROTTLED   3"):
        assert expected in text, expected


def test_the_trace_follows_jobs_to_their_pods_and_shows_each_channel() -> None:
    jobs = [{"metadata": {"name": "sale-send"}, "spec": {"completions": 2},
             "status": {"active": 1, "succeeded": 1}},
            {"metadata": {"name": "sale-import"}, "spec": {"completions": 1},
             "status": {"succeeded": 1, "conditions": [{"type": "Complete",
                                                         "status": "True"}]}}]
    pods = [{"metadata": {"name": "sale-send-0-x", "labels": {"job-name": "sale-send"}},
             "status": {"phase": "Running"}, "spec": {"nodeName": "n1"}}]
    channels: dict[str, Any] = {"cmcc": {"status": {"binds": {"bound": 3, "receiverBound": 1},
                                                   "conditions": [{"type": "Ready",
                                                                   "status": "True",
                                                                   "reason": "Bound"}]}},
                                "gone": None}
    view = views.trace(RUNNING, [], jobs, pods, channels)
    assert [(j["name"], j["state"]) for j in view["jobs"]] == [
        ("sale-import", "Complete"), ("sale-send", "Running")]
    assert views.trace_lines(view) == [
        "Campaign sale (Running)",
        "├─ Job sale-import: Complete, 1/1 done, 0 active, 0 failed",
        "├─ Job sale-send: Running, 1/2 done, 1 active, 0 failed",
        "│  └─ Pod sale-send-0-x: Running on n1",
        "├─ Channel cmcc: Ready True (Bound), 3 binds up (1 receiver)",
        "└─ Channel gone: not found",
    ]


def test_a_campaign_preview_shows_each_variants_template_and_a_missing_one() -> None:
    template = {"metadata": {"name": "t-a"}, "spec": {"category": "Marketing"},
                "status": {"phase": "Approved", "preview": "【Shop】Sale 回T退订",
                           "encoding": "UCS2", "characters": 14, "segments": 1}}
    view = views.campaign_preview(RUNNING, {"t-a": template, "t-b": None})
    lines = views.preview_lines(view)
    assert "variant a: Template t-a (Marketing): Approved" in lines
    assert "  | 【Shop】Sale 回T退订" in lines and "  UCS2, 14 characters, 1 segment" in lines
    assert "variant b: template t-b not found" in lines


# -- the commands, through kubectl -----------------------------------------------------

@dataclass
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Plugin:
    kubeconfig: Path

    async def __call__(self, *args: str) -> Ran:
        """`kubectl herald ARGS` in a child process (the API answers from this loop)."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        process = await asyncio.create_subprocess_exec(
            str(KUBECTL), "herald", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def completed() -> AsyncIterator[tuple[Stack, Plugin]]:
    """The example campaign sent to 200 recipients and Completed."""
    if not (Path(sys.executable).parent / "kubectl-herald").exists():
        pytest.fail("kubectl-herald is not installed: `make test` installs the package")
    async with running_stack() as stack:
        await apply_examples(stack)
        await stack.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "audience"},
                                 "data": {"recipients.csv": audience_csv(200)}})
        await stack.kube.create(campaign_body(audience={
            "defaultRegion": "CN", "configMapRef": {"name": "audience"}}))
        await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
        yield stack, Plugin(stack.cluster.kubeconfig)


pytestmark = pytest.mark.timeout(180)


async def test_status_and_trace_of_a_completed_campaign(completed: tuple[Stack, Plugin]
                                                        ) -> None:
    stack, plugin = completed
    campaign = await stack.campaign(NS, CAMPAIGN)
    counters = campaign["status"]["counters"]

    text = await plugin("status", CAMPAIGN)
    assert text.code == 0, text.err
    assert f"Campaign {NS}/{CAMPAIGN}: Completed" in text.out
    assert f"100%  sent {counters['sent']:,} of" in text.out
    assert "CHANNEL" in text.out and "carrier-a" in text.out
    assert "LAST SEEN" in text.out  # the operator's Events are listed

    as_json = await plugin("status", CAMPAIGN, "-o", "json")
    view = json.loads(as_json.out)
    assert view["counters"] == counters and view["phase"] == "Completed"
    assert view["events"], "the campaign's Events"
    as_yaml = await plugin("status", CAMPAIGN, "-o", "yaml", "-n", NS)
    assert yaml.safe_load(as_yaml.out)["counters"] == counters

    trace = await plugin("trace", CAMPAIGN, "-o", "json")
    assert trace.code == 0, trace.err
    jobs = json.loads(trace.out)["jobs"]
    assert {j["name"]: j["state"] for j in jobs} == {
        f"{CAMPAIGN}-import": "Complete", f"{CAMPAIGN}-send": "Complete"}
    assert json.loads(trace.out)["channels"][0]["name"] == "carrier-a"


async def test_preview_pause_resume_and_cancel(completed: tuple[Stack, Plugin]) -> None:
    stack, plugin = completed
    preview = await plugin("preview", f"campaign/{CAMPAIGN}")
    assert preview.code == 0, preview.err
    assert "Template double-eleven (Marketing): Approved" in preview.out
    template = await plugin("preview", "smstpl/double-eleven", "-o", "json")
    assert json.loads(template.out)["segments"] >= 1

    async def spec() -> dict[str, Any]:
        return dict((await stack.campaign(NS, CAMPAIGN))["spec"])

    assert (await plugin("pause", CAMPAIGN)).out.strip() == (
        f"campaign.sms.herald.dev/{CAMPAIGN} paused")
    assert (await spec())["paused"] is True
    resumed = await plugin("resume", CAMPAIGN)
    assert resumed.code == 0 and (await spec())["paused"] is False
    assert (await plugin("cancel", CAMPAIGN)).code == 0
    assert (await spec())["cancel"] is True
    again = await plugin("resume", CAMPAIGN)
    assert (again.code, again.err.strip()) == (
        1, f"error: campaign {CAMPAIGN} is cancelled: it cannot be resumed")


@pytest.mark.parametrize("args, code, message", [
    pytest.param(("status", "no-such"), 1,
                 f"error: campaign no-such not found in namespace {NS}", id="no-campaign"),
    pytest.param(("status", CAMPAIGN, "-n", "elsewhere"), 1,
                 f"error: campaign {CAMPAIGN} not found in namespace elsewhere",
                 id="other-namespace"),
    pytest.param(("preview", "channel/carrier-a"), 1,
                 "error: 'channel' is not a kind herald preview shows: campaign or template",
                 id="preview-of-another-kind"),
    pytest.param(("frobnicate", CAMPAIGN), 2, "invalid choice: 'frobnicate'",
                 id="unknown-subcommand"),
    pytest.param(("status", CAMPAIGN, "--context", "nowhere"), 1,
                 "error: no usable kubeconfig: context 'nowhere' not found", id="no-context"),
])
async def test_bad_input_gets_a_clear_message(completed: tuple[Stack, Plugin],
                                              args: tuple[str, ...], code: int,
                                              message: str) -> None:
    _, plugin = completed
    ran = await plugin(*args)
    assert ran.code == code and message in ran.err, ran


@pytest.mark.timeout(240)
async def test_resume_sends_the_rest_of_a_canary_that_paused_the_campaign(
        failing_30: Stack) -> None:  # noqa: F811
    """A canary over its failure threshold pauses the campaign in status, not in spec;
    `kubectl herald resume` takes the pause over (paused true, the operator says Paused)
    and lifts it (paused false): the rest is sent, once each."""
    stack, plugin = failing_30, Plugin(failing_30.cluster.kubeconfig)
    await stack.kube.create(campaign_body(audience=inline(AUDIENCE), canary={
        "percent": PERCENT, "holdSeconds": 3, "maxFailurePercent": 10}))
    await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT + 30,
                   until=ready_reason(reasons.CANARY_FAILED), message="the canary never failed")

    shown = await plugin("status", CAMPAIGN)
    assert f"Campaign {NS}/{CAMPAIGN}: Paused" in shown.out
    assert "AutoPaused" in shown.out and "CanaryFailed" in shown.out
    assert sorted(destinations(stack)) == sorted(IN_CANARY)

    resumed = await plugin("resume", CAMPAIGN)
    assert resumed.code == 0, resumed.err
    assert "it had paused itself: AutoPaused" in resumed.out
    await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT + 30)
    assert sorted(destinations(stack)) == sorted(E164)
    assert (await stack.campaign(NS, CAMPAIGN))["spec"]["paused"] is False
