"""Bad input end to end: each ends in a clear condition and a Warning Event, and nothing
already accepted is lost. One stack serves several campaigns at once."""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import pytest

from crds.base import API_VERSION
from herald.local.kube.client import wait_for
from herald.local.stack import Stack
from tests.http_server import serving
from tests.test_campaign_operator import (
    NS,
    TIMEOUT,
    campaign_body,
    counters_add_up,
    events_include,
    example,
    inline,
    stack,
    wait_delivered,
)

__all__ = ["stack"]  # the fixture, shared with the campaign operator tests
pytestmark = pytest.mark.timeout(240)
SECRET_TOKEN = "hunter2"


@pytest.fixture
async def http_404() -> AsyncIterator[str]:
    """A real HTTP server on loopback that has no file at all."""
    async def not_found(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=404)

    async with serving("/{path:.*}", not_found) as url:
        yield url


def named(name: str, **spec: Any) -> dict[str, Any]:
    body = campaign_body(**spec)
    body["metadata"]["name"] = name
    return body


def ready(body: dict[str, Any]) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = body.get("status", {}).get("conditions", [])
    (condition,) = [c for c in conditions if c["type"] == "Ready"]
    return condition


async def settles(stack: Stack, name: str, reason: str) -> dict[str, Any]:
    """The campaign once its Ready condition gives `reason`."""
    body: dict[str, Any] = await wait_for(
        lambda: stack.campaign(NS, name), timeout=TIMEOUT,
        message=f"{name} never reached {reason}",
        until=lambda c: any(x["type"] == "Ready" and x["reason"] == reason
                            for x in c.get("status", {}).get("conditions", [])))
    return body


async def test_bad_campaigns_each_say_why(stack: Stack, http_404: str) -> None:
    kube = stack.kube
    review = copy.deepcopy(example("template.yaml"))
    review["metadata"]["name"] = "needs-review"
    review["spec"]["review"] = "Manual"
    await kube.create(review)
    csv = "phone,name,code\n13800000001,a,C1\n13800000002,b\n13800000003,c,C3,extra\n"
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rough"},
                       "data": {"recipients.csv": csv}})
    no_code = {"defaultRegion": "CN", "inline": [
        {"phone": f"138{i:08d}", "variables": [{"name": "name", "value": "x"}]}
        for i in range(5)]}
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "bad-url": (dict(audience={"defaultRegion": "CN", "url": {
            "url": f"{http_404}/list.csv?token={SECRET_TOKEN}"}}), "ImportFailed"),
        "no-valid": (dict(audience={"inline": [{"phone": "12"}, {"phone": "not a number"}]}),
                     "NoValidRecipients"),
        "missing-vars": (dict(audience=no_code), "NoValidRecipients"),
        "no-channel": (dict(channels=[{"name": "nowhere"}], audience=inline(3)),
                       "ChannelNotFound"),
        "unapproved": (dict(variants=None, templateRef={"name": "needs-review"},
                            audience=inline(3)), "TemplateNotApproved"),
        "bad-filter": (dict(audience=inline(3) | {"filter": "vars.name == "}),
                       "InvalidFilter"),
    }
    for name, (spec, _) in cases.items():
        await kube.create(named(name, **spec))
    # Malformed CSV rows are counted, not fatal: the good row is sent.
    await kube.create(named("rough-csv", audience={"defaultRegion": "CN",
                                                    "configMapRef": {"name": "rough"}}))

    settled = await asyncio.gather(*(settles(stack, name, reason)
                                     for name, (_, reason) in cases.items()))
    for body, (name, (_, reason)) in zip(settled, cases.items(), strict=True):
        condition = ready(body)
        assert condition["status"] == "False" and condition["message"], name
        assert SECRET_TOKEN not in str(body["status"]), name
        await events_include(stack, body, reason)
        events = await kube.events_for(body)
        warnings = [e for e in events if e["reason"] == reason]
        assert warnings[0]["type"] == "Warning", (name, events)
        assert all(SECRET_TOKEN not in e["message"] for e in events), name

    by_name = {body["metadata"]["name"]: body for body in settled}
    assert by_name["bad-url"]["status"]["phase"] == "Failed"
    assert "404" in ready(by_name["bad-url"])["message"]
    missing = by_name["missing-vars"]["status"]
    assert {r["reason"]: r["count"] for r in missing["invalidReasons"]} == {
        "MissingVariables": 5}
    for name in ("no-channel", "unapproved", "bad-filter"):
        stalled = [c for c in by_name[name]["status"]["conditions"] if c["type"] == "Stalled"]
        assert stalled[0]["status"] == "True", name
    assert "line 1, column" in ready(by_name["bad-filter"])["message"]
    # Said before any importer pod: the filter is checked when the Campaign is applied.
    assert await kube.find("batch/v1", "Job", NS, "bad-filter-import") is None

    await stack.wait_for_phase(NS, "rough-csv", "Completed", timeout=TIMEOUT)
    rough = await wait_delivered(stack, 1, "rough-csv")
    counters_add_up(rough["status"])
    reasons = {r["reason"]: r["count"] for r in rough["status"]["invalidReasons"]}
    assert reasons == {"MalformedRow": 2}


async def test_a_secret_without_the_key_is_named(stack: Stack) -> None:
    kube = stack.kube
    await kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrong-key"},
                       "data": {"passwd": base64.b64encode(b"s3cr3t").decode()}})
    channel = example("channel.yaml")
    channel["metadata"]["name"] = "carrier-b"
    channel["spec"]["smpp"]["passwordSecretRef"] = {"name": "wrong-key"}
    await kube.create(channel)
    body = await wait_for(lambda: kube.get(API_VERSION, "Channel", NS, "carrier-b"),
                          timeout=TIMEOUT, message="channel not checked",
                          until=lambda c: any(x["type"] == "Ready" for x in c.get(
                              "status", {}).get("conditions", [])))
    condition = ready(body)
    assert (condition["status"], condition["reason"]) == ("False", "SecretKeyMissing")
    assert "'password'" in condition["message"] and "s3cr3t" not in str(body)
    await events_include(stack, body, "SecretKeyMissing")
    # No receiver is started for a channel whose password cannot be read.
    assert await kube.find("apps/v1", "Deployment", NS, "carrier-b-receiver") is None


async def test_an_edit_while_running_says_what_applies(stack: Stack) -> None:
    kube = stack.kube
    name = "double-eleven-2026"
    await kube.create(campaign_body(rateLimit={"messagesPerSecond": 50}, audience=inline(200)))
    await wait_for(lambda: stack.campaign(NS, name), timeout=TIMEOUT, message="not sending",
                   until=lambda c: c.get("status", {}).get("counters", {}).get(
                       "delivered", 0) > 0)
    await kube.patch(API_VERSION, "Campaign", NS, name,
                     {"spec": {"audience": inline(300), "rateLimit": {"messagesPerSecond": 400}}})
    edited = await wait_for(lambda: stack.campaign(NS, name), timeout=TIMEOUT,
                            message="edit not reported",
                            until=lambda c: c["status"].get("editsNotApplied"))
    assert edited["status"]["editsNotApplied"] == ["audience"]
    reasons = await events_include(stack, edited, "EditNotApplied")
    events = await kube.events_for(edited)
    (warning,) = [e for e in events if e["reason"] == "EditNotApplied"]
    assert warning["type"] == "Warning" and "rateLimit" in warning["message"]
    assert reasons
    await stack.wait_for_phase(NS, name, "Completed", timeout=TIMEOUT)
    done = await wait_delivered(stack, 200)
    counters_add_up(done["status"])
    assert done["status"]["counters"]["total"] == 200  # the run kept its audience
