"""A campaign over two channels through the operator on the local stack: each recipient
routed at import to the channel that serves it (China Mobile numbers by carrier to one
simulator, +1 numbers by prefix to another), the numbers neither serves counted
unroutable by country, and the per-channel split in status; both simulators' records
are the judge."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crds.base import API_VERSION
from herald.local.kube.client import wait_for
from herald.local.stack import SMPP_MAX_BINDS, SMPP_PASSWORD, SMPP_SYSTEM_ID, Stack
from sender.simulator.config import SimulatorConfig, with_account
from sender.simulator.server import Simulator
from tests.test_campaign_operator import TIMEOUT, campaign_body, counters_add_up, example, stack

__all__ = ["stack"]  # the fixture: the local stack with the examples applied
pytestmark = pytest.mark.timeout(180)
NS = "default"

CMCC = [f"+86138{i:08d}" for i in range(6)]  # China Mobile's 138 range
US = ["+14155552671", "+12025550123", "+13125550199"]
UNICOM, HK = ["+8618612345678", "+8613012345678"], ["+85291234567", "+85261234567"]


@pytest.fixture
async def second_smsc() -> AsyncIterator[Simulator]:
    config = with_account(SimulatorConfig(port=0, receipt_delay_ms=20, seed=11),
                          SMPP_SYSTEM_ID, SMPP_PASSWORD, max_binds=SMPP_MAX_BINDS)
    async with Simulator(config) as smsc:
        yield smsc


def ready(body: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in body.get("status", {}).get("conditions", []))


async def test_recipients_are_split_across_channels_by_carrier_and_prefix(
        stack: Stack, second_smsc: Simulator) -> None:
    # carrier-a (the stack's simulator) serves China Mobile; carrier-b the +1 numbers.
    await stack.kube.patch(API_VERSION, "Channel", NS, "carrier-a", {
        "spec": {"routing": {"countries": ["CN"], "carriers": ["中国移动"]}}})
    second = example("channel.yaml")
    second["metadata"]["name"] = "carrier-b"
    second["spec"]["smpp"] |= {"host": "127.0.0.1", "port": second_smsc.port}
    second["spec"]["routing"] = {"prefixes": ["+1"]}
    await stack.kube.create(second)
    for name in ("carrier-a", "carrier-b"):
        await wait_for(functools.partial(stack.kube.get, API_VERSION, "Channel", NS, name),
                       timeout=TIMEOUT, until=ready, message=f"channel {name} never Ready")

    numbers = CMCC + US + UNICOM + HK
    body = campaign_body(
        channels=[{"name": "carrier-a"}, {"name": "carrier-b"}], compliance={},
        audience={"inline": [{"phone": n, "variables": [{"name": "name", "value": "Li"},
                                                        {"name": "code", "value": "X1"}]}
                             for n in numbers]})
    await stack.kube.create(body)
    done = await stack.wait_for_phase(NS, body["metadata"]["name"], "Completed",
                                      timeout=TIMEOUT)

    assert sorted(m.destination for m in stack.simulator.accepted) == sorted(
        n.lstrip("+") for n in CMCC)
    assert sorted(m.destination for m in second_smsc.accepted) == sorted(
        n.lstrip("+") for n in US)
    status = done["status"]
    counters_add_up(status)
    assert (status["counters"]["unroutable"], status["counters"]["delivered"]) == (4, 9)
    assert {c["country"]: c["count"] for c in status["unroutableCountries"]} == {
        "CN": 2, "HK": 2}
    split = {c["name"]: c["counters"] for c in status["channels"]}
    assert {name: (c["total"], c["delivered"]) for name, c in split.items()} == {
        "carrier-a": (6, 6), "carrier-b": (3, 3)}


async def test_a_channel_down_mid_run_moves_its_queue_on_and_takes_it_back_when_ready(
        stack: Stack, second_smsc: Simulator) -> None:
    # carrier-c, slow (10/s), serves any number; carrier-b only the +86139 ones. All go
    # to carrier-c first; it goes down mid-run: its +86139 queue moves to carrier-b, the
    # +86138 ones (no other channel serves them) wait until it is back.
    config = with_account(SimulatorConfig(port=0, receipt_delay_ms=20, seed=13),
                          SMPP_SYSTEM_ID, SMPP_PASSWORD, max_binds=SMPP_MAX_BINDS)
    first = Simulator(config)
    await first.start()
    port = first.port
    channel = example("channel.yaml")
    channel["metadata"]["name"] = "carrier-c"
    channel["spec"]["smpp"] |= {"host": "127.0.0.1", "port": port}
    channel["spec"]["rateLimit"] = {"messagesPerSecond": 10, "burst": 1}
    channel["spec"]["retry"] = {"failoverAfterSeconds": 1}
    second = example("channel.yaml")
    second["metadata"]["name"] = "carrier-b"
    second["spec"]["smpp"] |= {"host": "127.0.0.1", "port": second_smsc.port}
    second["spec"]["routing"] = {"prefixes": ["+86139"]}
    for body in (channel, second):
        await stack.kube.create(body)
        await wait_for(functools.partial(stack.kube.get, API_VERSION, "Channel", NS,
                                         body["metadata"]["name"]),
                       timeout=TIMEOUT, until=ready, message="a channel never Ready")
    moving = [f"+86139{i:08d}" for i in range(60)]
    waiting = [f"+86138{i:08d}" for i in range(10)]
    campaign = campaign_body(
        channels=[{"name": "carrier-c"}, {"name": "carrier-b"}], compliance={}, senders=1,
        rateLimit=None, audience={"inline": [
            {"phone": n, "variables": [{"name": "name", "value": "Li"},
                                       {"name": "code", "value": "X1"}]}
            for n in waiting + moving]})
    name = campaign["metadata"]["name"]
    await stack.kube.create(campaign)
    restarted: Simulator | None = None
    try:
        await wait_for(lambda: _now(len(first.accepted)), timeout=TIMEOUT,
                       until=lambda n: n >= 5, message="carrier-c sent nothing")
        await first.stop()  # mid-run: binds dropped, receipts owed lost
        await wait_for(functools.partial(stack.kube.get, API_VERSION, "Channel", NS,
                                         "carrier-c"), timeout=TIMEOUT,
                       until=lambda c: not ready(c), message="carrier-c still Ready")
        body = await wait_for(lambda: stack.campaign(NS, name), timeout=TIMEOUT,
                              until=lambda c: _counter(c, "failedOver") > 0,
                              message="nothing failed over")
        await wait_for(lambda: _now(len(second_smsc.accepted)), timeout=TIMEOUT,
                       until=lambda n: n + len(first.accepted) >= len(moving) - 100,
                       message="carrier-b never took the queue")
        assert body["status"]["phase"] == "Running"  # the +86138 ones wait for carrier-c
        restarted = Simulator(config.model_copy(update={"port": port}))
        await restarted.start()
        done = await stack.wait_for_phase(NS, name, "Completed", timeout=TIMEOUT)
    finally:
        if restarted is not None:
            await restarted.stop()
    sent = (Counter(m.destination for m in first.accepted)
            + Counter(m.destination for m in second_smsc.accepted)
            + Counter(m.destination for m in (restarted.accepted if restarted else [])))
    assert max(sent.values()) == 1, "a number was sent twice"
    counters = done["status"]["counters"]
    assert counters.get("unknown", 0) + len(sent) == len(moving) + len(waiting)
    assert {n.lstrip("+") for n in waiting} <= set(sent)  # carrier-c sent them once back
    assert not {n.lstrip("+") for n in waiting} & {m.destination for m in second_smsc.accepted}
    reasons = {e["reason"] for e in await stack.kube.events_for(done)}
    assert {"ChannelFailedOver", "ChannelRecovered"} <= reasons


async def _now(value: int) -> int:
    return value


def _counter(body: dict[str, Any], name: str) -> int:
    return int(body.get("status", {}).get("counters", {}).get(name, 0))
