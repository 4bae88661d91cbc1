"""bindMode TransmitterAndReceiver: a sender opens its binds in pairs, submits on the
transmitter, matches receipts from the receiver, and each bind of a pair comes back on
its own when the SMSC drops it. Against the simulator, with real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from crds.channel import BindMode, SourceAddress
from crds.template import TemplateSpec
from herald.local.kube.client import wait_for
from sender.run_config import SmppTarget
from sender.send.messages import MessageBuilder
from sender.send.outgoing import ShardSettings
from sender.send.shard_sender import ShardSender
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.smpp.bind import bind_modes
from sender.smpp.probe import probe_bind
from sender.store.keys import CampaignKeys, ChannelKeys
from sender.store.rate_limit import RateLimiter, channel_bucket
from sender.store.transitions import read_counters
from tests.run_configs import fill_shard

pytestmark = pytest.mark.timeout(60)
CAMPAIGN = CampaignKeys("shop", "pairs")
CHANNEL = ChannelKeys("shop", "carrier-a")
TEMPLATE = TemplateSpec.model_validate(
    {"category": "Notification", "body": "Your code is {code}.", "variables": [{"name": "code"}]})


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=5, seed=2)) as sim:
        yield sim


def target(port: int, mode: BindMode, binds: int = 1) -> SmppTarget:
    return SmppTarget(host="127.0.0.1", port=port, system_id="herald", mode=mode.value,
                      binds=binds, response_timeout_seconds=5,
                      source_addr=SourceAddress(address="Herald"))


@pytest.mark.parametrize("mode, binds, opened", [
    pytest.param(BindMode.TRANSCEIVER, 2, ["Transceiver", "Transceiver"], id="transceivers"),
    pytest.param(BindMode.TRANSMITTER_AND_RECEIVER, 2,
                 ["Transmitter", "Receiver", "Transmitter", "Receiver"], id="pairs"),
])
def test_a_sender_opens_its_binds_by_mode(mode: BindMode, binds: int, opened: list[str]) -> None:
    settings = target(2775, mode, binds).sender_binds("herald")
    assert [s.mode for s in settings] == opened


def test_every_channel_mode_has_binds() -> None:
    """No mode of the API lacks a bind (a KeyError once kept such channels from Ready)."""
    for mode in BindMode:
        assert bind_modes(mode.value)


async def test_the_bind_check_binds_a_pair_channel(simulator: Simulator) -> None:
    result = await probe_bind(target(simulator.port, BindMode.TRANSMITTER_AND_RECEIVER)
                              .bind_settings("herald"))
    assert result.ok, result.message
    assert simulator.binds_by_mode == {"Transmitter": 1}


async def test_a_pair_recovers_each_bind_on_its_own(
    redis: aioredis.Redis, simulator: Simulator,
) -> None:
    await fill_shard(redis, CAMPAIGN, 400, "+8613700")
    binds = target(simulator.port, BindMode.TRANSMITTER_AND_RECEIVER).sender_binds("herald")
    builder = MessageBuilder({"": TEMPLATE}, SourceAddress(address="Herald"))
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 100_000))
    settings = ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a")
    async with ShardSender(redis, settings, builder, binds, limiter) as sender:
        transmitter, receiver = sender.binds
        await wait_for(lambda: (transmitter.is_up, receiver.is_up),
                       timeout=10, message="the pair never bound", until=all)
        for session in list(simulator._sessions):
            if session.mode == "Receiver":
                session.abort()  # the SMSC drops the receiver bind alone
        await wait_for(lambda: receiver.binds, timeout=10,
                       message="the receiver bind did not come back", until=lambda n: n == 2)
        assert transmitter.binds == 1  # the transmitter stayed up throughout
        stats = await asyncio.wait_for(sender.run(), 30)
        await sender.wait_for_receipts(10)
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.delivered, counters.unknown) == (400, 0)
    assert stats.receipts == 400  # every receipt came on the receiver bind
    assert simulator.binds_by_mode == {"Transmitter": 1, "Receiver": 2}
