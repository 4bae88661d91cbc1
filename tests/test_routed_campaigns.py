"""A campaign over two channels through the operator on the local stack: each recipient
routed at import to the channel that serves it (China Mobile numbers by carrier to one
simulator, +1 numbers by prefix to another), the numbers neither serves counted
unroutable by country, and the per-channel split in status; both simulators' records
are the judge."""

from __future__ import annotations

import functools
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
