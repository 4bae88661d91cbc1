"""The Channel end to end: its receiver Deployment, run by the local Deployment runner,
takes the receipts that come after the senders have gone; status reports binds and
throughput; deleting the Channel removes the receiver and the channel's keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from crds.base import API_VERSION
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from sender.simulator.config import SimulatorConfig
from sender.store.client import connect
from sender.store.keys import ChannelKeys
from tests.test_campaign_operator import (
    CAMPAIGN,
    NS,
    TIMEOUT,
    apply_examples,
    campaign_body,
    inline,
)

pytestmark = pytest.mark.timeout(180)
CHANNEL = "carrier-a"
RECEIVER = f"{CHANNEL}-receiver"


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    """Receipts 5 s after each submit, and senders that do not wait for any."""
    simulator = SimulatorConfig(port=0, receipt_delay_ms=5000, seed=7)
    async with running_stack(simulator=simulator, config={"receipt_wait_seconds": 0.0}
                             ) as running:
        await apply_examples(running)
        yield running


async def channel_status(stack: Stack) -> dict[str, Any]:
    body = await stack.kube.get(API_VERSION, "Channel", NS, CHANNEL)
    status: dict[str, Any] = body.get("status", {})
    return status


async def test_the_receiver_takes_receipts_after_the_senders_exit(stack: Stack) -> None:
    kube = stack.kube
    found = await wait_for(lambda: kube.find("apps/v1", "Deployment", NS, RECEIVER),
                           timeout=TIMEOUT, message="no receiver Deployment")
    assert found is not None
    receiver = found
    channel = await kube.get(API_VERSION, "Channel", NS, CHANNEL)
    assert receiver["metadata"]["ownerReferences"][0]["uid"] == channel["metadata"]["uid"]
    assert receiver["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = receiver["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["receiver", "--channel", f"{NS}/{CHANNEL}"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "s3cr3t" not in str(receiver)  # the password comes by secretKeyRef only
    await wait_for(lambda: channel_status(stack), timeout=TIMEOUT,
                   message="receiver bind never reported",
                   until=lambda s: s.get("binds", {}).get("receiverBound") == 1)

    await kube.create(campaign_body(rateLimit={"messagesPerSecond": 200}, audience=inline(200)))
    done = await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
    assert done["status"]["counters"]["delivered"] < 200  # receipts were still on their way
    settled = await wait_for(
        lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
        message="late receipts never folded in",
        until=lambda c: c["status"]["counters"].get("delivered", 0) == 200)
    assert settled["status"]["counters"].get("submitted", 0) == 0
    status = await wait_for(lambda: channel_status(stack), timeout=TIMEOUT,
                            message="no measured throughput",
                            until=lambda s: (s.get("measuredMessagesPerSecond") or 0) > 0)
    assert status["binds"]["bound"] >= 1


async def test_deleting_the_channel_removes_its_receiver_and_keys(stack: Stack) -> None:
    kube = stack.kube
    await wait_for(lambda: channel_status(stack), timeout=TIMEOUT,
                   message="receiver bind never reported",
                   until=lambda s: s.get("binds", {}).get("receiverBound") == 1)
    redis = connect(stack.redis_url)
    try:
        keys = ChannelKeys(NS, CHANNEL)
        assert await redis.exists(keys.binds)
        receiver = await kube.get("apps/v1", "Deployment", NS, RECEIVER)
        (pod,) = stack.deployments.runs[receiver["metadata"]["uid"]].pods.values()

        await kube.delete(API_VERSION, "Channel", NS, CHANNEL)
        await wait_for(lambda: kube.find(API_VERSION, "Channel", NS, CHANNEL), timeout=TIMEOUT,
                       message="channel not deleted", until=lambda c: c is None)
        assert await kube.find("apps/v1", "Deployment", NS, RECEIVER) is None
        await wait_for(lambda: pod.process.returncode, timeout=TIMEOUT,
                       message="receiver process still running", until=lambda c: c is not None)
        await wait_for(lambda: redis.exists(keys.binds, keys.activity), timeout=TIMEOUT,
                       message="channel keys left", until=lambda n: n == 0)
    finally:
        await redis.aclose()
