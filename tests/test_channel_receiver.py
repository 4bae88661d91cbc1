"""The channel receiver: late receipts and replies, with a real redis-server and the
SMPP simulator over TCP. Senders exit before their receipts come; the receiver's bind
takes them and applies them to the campaign the channel's receipts hash names."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis.asyncio as aioredis

from crds.channel import SourceAddress
from herald.local.kube.client import wait_for
from sender.receive.receiver import ChannelReceiver
from sender.send.messages import MessageBuilder
from sender.send.outgoing import ShardSettings
from sender.send.shard_sender import ShardSender
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.smpp.bind import BindSettings, SmppBind
from sender.smpp.codes import ESM_DELIVERY_RECEIPT, CommandStatus
from sender.smpp.pdu import DeliverSm
from sender.sms.receipts import canonical_id
from sender.sms.states import State, parse_state, submitted
from sender.store.channel_activity import read_activity
from sender.store.correlations import Correlation, PendingReceipt, ReceiptApplier, correlation_value
from sender.store.keys import OPT_OUT_SET, CampaignKeys
from sender.store.rate_limit import RateLimiter, channel_bucket
from sender.store.transitions import StateStore, read_counters
from tests.test_shard_sender import CAMPAIGN, CHANNEL, TEMPLATE, enqueue, number, send


@pytest.fixture
async def slow_receipts() -> AsyncIterator[Simulator]:
    """Receipts 1.5 s after each submit: after the senders below have exited."""
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=1500, window=0,
                                         seed=3)) as sim:
        yield sim


def receiver_bind(sim: Simulator) -> BindSettings:
    return BindSettings(host="127.0.0.1", port=sim.port, system_id="herald",
                        password="herald", mode="Receiver", window=1, response_timeout=5.0)


@contextlib.asynccontextmanager
async def running(receiver: ChannelReceiver) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(receiver.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_late_receipts_reach_the_campaign_through_the_receiver(
    redis: aioredis.Redis, slow_receipts: Simulator
) -> None:
    await enqueue(redis, 200)
    stats = await send(redis, slow_receipts, receipts_within=0.0)  # exits before receipts
    assert stats.submitted == 200
    assert (await read_counters(redis, CAMPAIGN)).delivered == 0

    receiver = ChannelReceiver(redis, CHANNEL, receiver_bind(slow_receipts))
    async with running(receiver):
        counters = await wait_for(lambda: read_counters(redis, CAMPAIGN), timeout=20,
                                  until=lambda c: c.delivered == 200,
                                  message="receipts never all applied")
    assert counters.submitted == 0  # each moved on to delivered, once
    assert receiver.stats.applied == 200 and receiver.stats.unmatched == 0
    assert await redis.hlen(CHANNEL.receipts) == 0  # correlations dropped once used
    activity = await read_activity(redis, CHANNEL, time.time())
    assert activity.totals["receipts"] == 200 and activity.totals["submitted"] == 200


async def test_replies_opt_out_and_binds_are_counted(
    redis: aioredis.Redis, slow_receipts: Simulator
) -> None:
    receiver = ChannelReceiver(redis, CHANNEL, receiver_bind(slow_receipts))
    async with running(receiver):
        await wait_for(lambda: read_activity(redis, CHANNEL, time.time()), timeout=10,
                       until=lambda a: a.receiver_bound == 1, message="receiver never bound")
        slow_receipts.inject_mo(source="8613800000005", destination="Herald", text="退订")
        slow_receipts.inject_mo(source="8613800000006", destination="Herald", text="thanks")
        await wait_for(lambda: read_activity(redis, CHANNEL, time.time()), timeout=10,
                       until=lambda a: a.totals.get("replies") == 2,
                       message="replies never all counted")
    assert await redis.smembers(OPT_OUT_SET) == {number(5)}
    activity = await read_activity(redis, CHANNEL, time.time())
    assert activity.totals["replies"] == 2 and activity.totals["optOuts"] == 1
    assert activity.bound == 0  # stopping said the bind is down, no waiting for it to age


@pytest.mark.parametrize("state, applied, kept", [
    pytest.param(None, 0, True, id="queued-retried"),
    pytest.param(State.SUBMITTING.value, 0, True, id="submitting-retried"),
    pytest.param(submitted("1a"), 1, False, id="submitted-applied"),
    pytest.param(State.UNKNOWN.value, 1, False, id="unknown-resolved"),
    pytest.param(State.DELIVERED.value, 0, False, id="duplicate-dropped"),
])
async def test_a_receipt_waits_for_its_submitted_transition(
    redis: aioredis.Redis, state: str | None, applied: int, kept: bool
) -> None:
    """A receipt can overtake the sender's `submitted` write; it must not be lost."""
    store = StateStore(redis, CAMPAIGN)
    if state is not None:
        await redis.hset(CAMPAIGN.state, "0/1-0", state)
    await redis.hset(CHANNEL.receipts, "1a", correlation_value(CAMPAIGN.ref, "0/1-0", "", "c"))
    receipt = PendingReceipt("1A", State.DELIVERED, "000", time.monotonic())
    found = Correlation("1a", CAMPAIGN.ref, "0/1-0", "", "c")

    again, moved = await ReceiptApplier(redis, CHANNEL).apply([(receipt, found)])

    assert again == ([receipt] if kept else []) and moved == applied
    assert (await redis.hexists(CHANNEL.receipts, "1a")) == kept
    now = parse_state((await store.states(["0/1-0"]))[0]).code
    assert (now == State.DELIVERED) == (applied == 1 or state == State.DELIVERED)


@pytest.mark.parametrize("number, country", [
    pytest.param("+8613800000001", "CN", id="sole-region-code"),
    pytest.param("+14165550123", "CA", id="shared-code-read-whole"),
    pytest.param("+80012345678", "ZZ", id="no-country"),
])
async def test_a_failed_receipt_is_counted_by_its_numbers_country(
    redis: aioredis.Redis, number: str, country: str
) -> None:
    """Through the channel's correlations: the number is read from its shard entry."""
    entry = await redis.xadd(CAMPAIGN.shard(2), {"n": number, "v": ""})
    key = f"2/{entry!s}"
    await redis.hset(CAMPAIGN.state, key, submitted("ab"))
    receipts = [PendingReceipt("ab", State.FAILED, "001", time.monotonic()),
                PendingReceipt("cd", State.DELIVERED, "000", time.monotonic())]
    await redis.hset(CAMPAIGN.state, "2/1-0", submitted("cd"))
    found = [Correlation("ab", CAMPAIGN.ref, key, "", "c"),
             Correlation("cd", CAMPAIGN.ref, "2/1-0", "", "c")]

    again, moved = await ReceiptApplier(redis, CHANNEL).apply(list(zip(receipts, found,
                                                                       strict=True)))
    assert (again, moved) == ([], 2)
    fields = cast(dict[str, str], await redis.hgetall(CAMPAIGN.counters))
    assert {k: v for k, v in fields.items() if k.startswith("country:")} == {
        f"country:{country}:error:001": "1"}


async def test_a_receipt_for_another_campaign_is_applied_there(
    redis: aioredis.Redis, slow_receipts: Simulator
) -> None:
    """The receiver applies a receipt to the campaign its correlation names."""
    other = CampaignKeys("shop", "other")
    await redis.hset(other.state, "0/9-0", submitted("ff"))
    await redis.hset(CHANNEL.receipts, canonical_id("ff"),
                     correlation_value(other.ref, "0/9-0", "", "carrier-a"))
    receiver = ChannelReceiver(redis, CHANNEL, receiver_bind(slow_receipts))
    receiver.deliver(DeliverSm(sequence_number=1, source_addr="8613800000009",
                               destination_addr="Herald", esm_class=ESM_DELIVERY_RECEIPT,
                               short_message=b"id:255 sub:001 dlvrd:001 stat:DELIVRD err:000"))
    await receiver.flush()
    (now,) = await StateStore(redis, other).states(["0/9-0"])
    assert parse_state(now).code == State.DELIVERED
    assert (await read_counters(redis, other)).delivered == 1


async def test_a_full_buffer_asks_the_smsc_to_retry(redis: aioredis.Redis) -> None:
    bind = BindSettings(host="127.0.0.1", port=1, system_id="herald", password="x")
    receiver = ChannelReceiver(redis, CHANNEL, bind, max_pending=2)
    pdu = DeliverSm(sequence_number=1, source_addr="8613800000009", destination_addr="Herald",
                    esm_class=ESM_DELIVERY_RECEIPT,
                    short_message=b"id:1 sub:001 dlvrd:001 stat:DELIVRD err:000")
    answers = [receiver.deliver(pdu) for _ in range(3)]
    assert answers == [CommandStatus.ESME_ROK, CommandStatus.ESME_ROK,
                       CommandStatus.ESME_RX_T_APPN]
    assert receiver.stats.refused == 1



async def test_an_idle_bind_stays_up_on_enquire_links(slow_receipts: Simulator) -> None:
    """A receiver may hear nothing for hours; its bind must live on enquire_link alone
    (it once went down a second after each bind: the bind_resp did not count as a read)."""
    settings = BindSettings(host="127.0.0.1", port=slow_receipts.port, system_id="herald",
                            password="herald", mode="Receiver", window=1,
                            enquire_link_interval=1.0, response_timeout=5.0)
    bind = SmppBind(settings, ChannelReceiver(None, CHANNEL, settings))  # type: ignore[arg-type]
    task = asyncio.create_task(bind.run())
    try:
        await wait_for(lambda: bind.is_up, timeout=10, message="never bound")
        bound_at = time.monotonic()
        # An enquire_link_resp read well after the bind: the keep-alive kept it.
        await wait_for(lambda: bind._last_read, timeout=10, interval=0.1,
                       until=lambda last: last > bound_at + 1.5,
                       message="no read after the bind: it went down instead")
        assert bind.binds == 1 and bind.is_up
    finally:
        await bind.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_sender_applies_another_shards_receipt_through_the_applier(
    redis: aioredis.Redis
) -> None:
    """A receipt for shard 1's message reaching shard 0's bind: applied to shard 1's
    message once its submitted write lands, and never acked on shard 0's stream."""
    builder = MessageBuilder({"": TEMPLATE}, SourceAddress(address="Herald", ton="Alphanumeric"))
    bind = BindSettings(host="127.0.0.1", port=1, system_id="herald", password="x")
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 100))
    sender = ShardSender(redis, ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a"), builder,
                         [bind], limiter)
    await redis.hset(CAMPAIGN.state, "1/5-0", State.SUBMITTING.value)  # not yet submitted
    await redis.hset(CHANNEL.receipts, "ab",
                     correlation_value(CAMPAIGN.ref, "1/5-0", "", "carrier-a"))
    sender.receipts._unmatched.append(
        PendingReceipt("AB", State.DELIVERED, "000", time.monotonic()))

    await sender.receipts.match_in_redis()
    assert await redis.hget(CAMPAIGN.state, "1/5-0") == State.SUBMITTING.value
    assert len(sender.receipts._unmatched) == 1  # kept: its submitted write is on its way

    await redis.hset(CAMPAIGN.state, "1/5-0", submitted("ab"))
    await sender.receipts.match_in_redis()
    assert parse_state(cast(str, await redis.hget(CAMPAIGN.state, "1/5-0"))).code == State.DELIVERED
    assert sender.receipts._unmatched == [] and len(sender.writer) == 0  # not via shard 0's writer


@pytest.mark.parametrize("submitted_when", ["before", "while-stopping", "never"])
async def test_a_stopping_sender_applies_the_receipts_it_answered(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch, submitted_when: str
) -> None:
    """A paused campaign's senders stop together, and the SMSC resends one's receipts to
    another's bind: the one that answered them applies them before it exits, waiting
    (boundedly) for the other's `submitted` write. Before, they were dropped: the SMSC
    does not send an answered deliver_sm again, and the message stayed `submitted`."""
    monkeypatch.setattr("sender.send.receipt_matching.SETTLE_SECONDS", 1.0)
    builder = MessageBuilder({"": TEMPLATE}, SourceAddress(address="Herald", ton="Alphanumeric"))
    bind = BindSettings(host="127.0.0.1", port=1, system_id="herald", password="x")
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 100))
    sender = ShardSender(redis, ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a"), builder,
                         [bind], limiter)
    first = State.SUBMITTING.value if submitted_when != "before" else submitted("ab")
    await redis.hset(CAMPAIGN.state, "1/5-0", first)
    await redis.hset(CHANNEL.receipts, "ab",
                     correlation_value(CAMPAIGN.ref, "1/5-0", "", "carrier-a"))
    if submitted_when == "while-stopping":  # shard 1's sender, stopping beside it, writes
        look_up = sender.receipts.match_in_redis  # `submitted` after the first look-up

        looked: list[int] = []

        async def then_submitted() -> None:
            await look_up()
            looked.append(1)
            if len(looked) == 1:
                await redis.hset(CAMPAIGN.state, "1/5-0", submitted("ab"))

        monkeypatch.setattr(sender.receipts, "match_in_redis", then_submitted)
    async with sender:
        sender.receipts.receipt("AB", State.DELIVERED, "000")  # answered on this bind
    code = parse_state(cast(str, await redis.hget(CAMPAIGN.state, "1/5-0"))).code
    if submitted_when == "never":  # given up after SETTLE_SECONDS, and counted
        assert code == State.SUBMITTING and sender.stats.receipts_unmatched == 1
    else:
        assert code == State.DELIVERED and sender.stats.receipts_unmatched == 0
    assert sender.receipts._unmatched == []


async def test_a_stopping_receiver_applies_the_receipts_it_answered(
    redis: aioredis.Redis, slow_receipts: Simulator
) -> None:
    """The receiver too: a receipt whose `submitted` write lands only as it stops (after
    its last regular flush) is applied, not dropped with the process."""
    await redis.hset(CAMPAIGN.state, "1/5-0", State.SUBMITTING.value)
    await redis.hset(CHANNEL.receipts, "ab",
                     correlation_value(CAMPAIGN.ref, "1/5-0", "", "carrier-a"))
    receiver = ChannelReceiver(redis, CHANNEL, receiver_bind(slow_receipts))
    flushes = 0
    flush = receiver.flush

    async def then_submitted(*, heartbeat: bool = False) -> None:
        nonlocal flushes
        await flush(heartbeat=heartbeat)
        flushes += 1
        if flushes == 1:  # the sender's write lands after the receiver's first look-up
            await redis.hset(CAMPAIGN.state, "1/5-0", submitted("ab"))

    receiver.flush = then_submitted  # type: ignore[method-assign]
    receiver._receipts.append(PendingReceipt("AB", State.DELIVERED, "000", time.monotonic()))
    stop = asyncio.Event()
    stop.set()  # stops at once: the only look-ups are the stopping ones
    await asyncio.wait_for(receiver.run(stop), 10)
    assert flushes >= 2
    code = parse_state(cast(str, await redis.hget(CAMPAIGN.state, "1/5-0"))).code
    assert code == State.DELIVERED and receiver._receipts == []
