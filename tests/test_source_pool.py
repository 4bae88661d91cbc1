"""Sender-ID pools (Channel smpp.sourceAddresses): which address each recipient's messages
go from (country, round robin, sticky across campaigns), per-address rate limits, and
replies to any address of the pool. Pure choice in tables; the rest with a real
redis-server and the SMPP simulator over TCP."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from typing import Any

import pytest
import redis.asyncio as aioredis

from controllers.decisions.campaign_run import channel_target
from crds.channel import ChannelSpec, PooledSourceAddress, SourceAddress
from herald.local.demo import audience_csv
from herald.local.kube.client import wait_for
from herald.local.kube.object_writes import merge_patch
from herald.local.stack import running_stack
from sender.receive.receiver import ChannelReceiver
from sender.send.messages import MessageBuilder
from sender.send.outgoing import ShardSettings
from sender.send.process import run_shard, send_lanes
from sender.send.shard_sender import ShardSender
from sender.send.source_lanes import LANE_LIMIT
from sender.simulator.server import Simulator
from sender.smpp.bind import BindSettings
from sender.sms.countries import country_of
from sender.sms.source_pool import SourcePool, choose_sources
from sender.store.channel_activity import read_activity
from sender.store.client import connect
from sender.store.keys import OPT_OUT_SET, SENDERS_GROUP, CampaignKeys, sticky_source
from sender.store.rate_limit import RateLimiter, channel_bucket
from sender.store.sticky_sources import StickySources
from sender.store.transitions import read_counters
from tests.crd_validation import load_example
from tests.run_configs import run_config
from tests.test_channel_receiver import receiver_bind, running, slow_receipts  # noqa: F401
from tests.test_failover import (  # noqa: F401
    CREDENTIALS,
    MESSAGES,
    also_taking,
    destinations,
    queue_on_a,
    taking,
    two_channels,
)
from tests.test_long_messages import on_cluster, store  # noqa: F401
from tests.test_shard_sender import CHANNEL, TEMPLATE, simulator  # noqa: F401


def address(name: str, *countries: str, rate: int | None = None) -> PooledSourceAddress:
    return PooledSourceAddress(address=name, countries=list(countries), messages_per_second=rate)


US1, US2, CN1, ANY = (address("+14155550001", "US", "CA"), address("+14155550002", "US"),
                      address("10690001", "CN"), address("Herald"))
MIXED = SourcePool.of([US1, US2, CN1, ANY])
NO_GENERIC = SourcePool.of([US1, CN1])
PLAIN = SourcePool.of([address("A"), address("B"), address("C")])


# Each row: the pool, the recipients' countries, what each got (by address), in order.
@pytest.mark.parametrize("pool, countries, expected", [
    pytest.param(MIXED, ["US", "US", "US", "US"],
                 ["+14155550001", "+14155550002", "+14155550001", "+14155550002"],
                 id="us-round-robin-among-its-two"),
    pytest.param(MIXED, ["CA", "CA"], ["+14155550001", "+14155550001"],
                 id="ca-only-on-the-address-listing-it"),
    pytest.param(MIXED, ["CN", "GB", "", "CN"], ["10690001", "Herald", "Herald", "10690001"],
                 id="unlisted-countries-go-from-the-generic-address"),
    pytest.param(NO_GENERIC, ["GB", "GB", "GB"], ["+14155550001", "10690001", "+14155550001"],
                 id="no-generic-address-any-address"),
    pytest.param(MIXED, ["US", "CN", "US", "CA", "US"],
                 ["+14155550001", "10690001", "+14155550002", "+14155550001", "+14155550001"],
                 id="each-candidate-set-keeps-its-own-turn"),
    pytest.param(PLAIN, ["", "", "", "", ""], ["A", "B", "C", "A", "B"], id="plain-round-robin"),
])
def test_each_recipient_gets_an_address_that_suits_its_country(
        pool: SourcePool, countries: list[str], expected: list[str]) -> None:
    chosen, _ = choose_sources(pool, countries, {})
    assert [pool.addresses[i].address for i in chosen] == expected


# Sticky: what Redis remembered for each recipient, and what it gets.
@pytest.mark.parametrize("remembered, expected", [
    pytest.param(["C", "C", "C"], ["C", "C", "C"], id="remembered-kept"),
    pytest.param([None, "A", None], ["A", "A", "B"], id="new-ones-take-turns-others-keep"),
    pytest.param(["gone", None, "B"], ["A", "B", "B"], id="address-left-the-pool-chosen-anew"),
])
def test_sticky_keeps_a_remembered_address_of_the_pool(
        remembered: list[str | None], expected: list[str]) -> None:
    chosen, _ = choose_sources(PLAIN, [""] * 3, {}, remembered)
    assert [PLAIN.addresses[i].address for i in chosen] == expected


def test_sticky_chooses_anew_when_the_remembered_address_no_longer_lists_the_country(
        ) -> None:
    # US recipients remembered on the CN code (its countries were edited since), and
    # on a US one: the first is chosen again among the US addresses, the second kept.
    chosen, _ = choose_sources(MIXED, ["US", "US"], {}, ["10690001", "+14155550002"])
    assert [MIXED.addresses[i].address for i in chosen] == ["+14155550001", "+14155550002"]


def test_turns_carry_over_from_batch_to_batch() -> None:
    _, turns = choose_sources(PLAIN, ["", ""], {})
    chosen, _ = choose_sources(PLAIN, ["", ""], turns)
    assert [PLAIN.addresses[i].address for i in chosen] == ["C", "A"]


@pytest.mark.parametrize("e164, country", [
    pytest.param("+14155550100", "US", id="us"), pytest.param("+16135550123", "CA", id="ca"),
    pytest.param("+8613800000001", "CN", id="cn"), pytest.param("+80012345678", "", id="non-geo"),
    pytest.param("+999", "", id="unparsable"),
])
def test_country_of_a_number(e164: str, country: str) -> None:
    assert country_of(e164) == country


async def test_sticky_store_agrees_between_racing_senders(
        store: aioredis.Redis) -> None:  # noqa: F811
    """Two senders choosing for the same new numbers: the first write stands and the
    second gets it back; a replaced address (it left the pool) overwrites. One Redis
    and a Cluster alike: a batch's numbers spread over slot groups."""
    one, other = (StickySources(store, "shop", "carrier-a") for _ in range(2))
    numbers = [f"+86138{i:08d}" for i in range(20)]
    assert await one.recall(numbers) == [None] * 20
    assert await one.remember([(n, "A") for n in numbers]) == dict.fromkeys(numbers, "A")
    assert await other.remember([(n, "B") for n in numbers[:5]],
                                [(numbers[5], "C")]) == dict.fromkeys(numbers[:5], "A") | {
                                    numbers[5]: "C"}
    assert await other.recall(numbers[:7]) == ["A"] * 5 + ["C", "A"]
    assert 0 < await store.ttl(one.key(numbers[0])) <= 365 * 86400
    assert one.round_trips == 2  # a pipelined call per slot group is one round trip


# -- through the sender: run_shard, as a sender pod runs it ----------------------------

US = [f"+1415555{i:04d}" for i in range(40)]
CA = [f"+1613555{i:04d}" for i in range(10)]
CN = [f"+86138{i:08d}" for i in range(30)]
GB = [f"+447400{i:06d}" for i in range(10)]


def pool_channel(sim: Simulator, pool: list[dict[str, Any]], **smpp: Any) -> dict[str, Any]:
    """The example Channel with a pool, on the simulator, as the operator freezes it."""
    manifest = merge_patch(load_example("channel.yaml"), {"spec": {"smpp": {
        "host": "127.0.0.1", "port": sim.port, "sourceAddr": None, "sourceAddresses": pool,
        "responseTimeoutSeconds": 5, **smpp}}})
    target = channel_target("carrier-a", ChannelSpec.model_validate(manifest["spec"]))
    return target.model_copy(update={"rate": 100_000, "burst": 100}).model_dump()


POOL: list[dict[str, Any]] = [
    {"address": "+14155550001", "ton": "International", "npi": "ISDN", "countries": ["US", "CA"]},
    {"address": "+14155550002", "ton": "International", "npi": "ISDN", "countries": ["US"]},
    {"address": "10690001", "ton": "National", "npi": "ISDN", "countries": ["CN"]},
    {"address": "Herald", "ton": "Alphanumeric"}]


async def send_campaign(redis: aioredis.Redis, sim: Simulator, name: str,
                        numbers: list[str], channel: dict[str, Any],
                        stop: asyncio.Event | None = None,
                        receipt_wait: float = 0.0) -> dict[str, Any]:
    await enqueue_numbers(redis, CampaignKeys("shop", name), numbers)
    run = run_config("shop", name, port=sim.port, channels=[channel],
                     receipt_wait_seconds=receipt_wait,
                     follow=stop is not None)
    return await asyncio.wait_for(run_shard(run, 0, redis, "herald", stop), 60)


async def enqueue_numbers(redis: aioredis.Redis, campaign: CampaignKeys,
                          numbers: list[str]) -> None:
    """Shard 0 of `campaign` as the importer leaves it, a `code` for each number."""
    stream = campaign.shard(0)
    await redis.xgroup_create(stream, SENDERS_GROUP, id="0", mkstream=True)
    pipe = redis.pipeline(transaction=False)
    for i, phone in enumerate(numbers):
        pipe.xadd(stream, {"n": phone, "v": "", "x": json.dumps({"name": "n", "code": f"{i}"})})
    pipe.hset(campaign.counters, "total", len(numbers))
    await pipe.execute()


def sources_by_number(sim: Simulator) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = defaultdict(set)
    for message in sim.accepted:
        seen["+" + message.destination].add(message.source)
    return seen


async def test_a_shard_goes_out_from_the_pool_by_country_and_in_turn(
        redis: aioredis.Redis, simulator: Simulator) -> None:  # noqa: F811
    """Each number from an address that suits its country, in turn among them; its
    receipt matched whatever the address."""
    numbers = [n for group in zip(US[:10], CA, CN[:10], GB, strict=True) for n in group]
    figures = await send_campaign(redis, simulator, "pool", numbers,
                                  pool_channel(simulator, POOL), receipt_wait=10)
    assert figures["submitted"] == 40
    # Receipts come back whichever address a message went from.
    assert (await read_counters(redis, CampaignKeys("shop", "pool"))).delivered == 40
    got = sources_by_number(simulator)
    assert all(len(got[n]) == 1 for n in numbers)
    source = {n: next(iter(got[n])) for n in numbers}
    assert Counter(source[n] for n in US[:10]) == {"+14155550001": 5, "+14155550002": 5}
    assert {source[n] for n in CA} == {"+14155550001"}
    assert {source[n] for n in CN[:10]} == {"10690001"}
    assert {source[n] for n in GB} == {"Herald"}  # no address lists GB: the generic one


async def test_sticky_keeps_each_number_on_its_address_in_a_second_campaign(
        redis: aioredis.Redis, simulator: Simulator) -> None:  # noqa: F811
    channel = pool_channel(simulator, POOL[:2], sourceSelection="Sticky")
    await send_campaign(redis, simulator, "first", US, channel)
    first = {n: s for n, (s,) in sources_by_number(simulator).items()}
    assert Counter(first.values()) == {"+14155550001": 20, "+14155550002": 20}
    simulator.reset()
    # The reverse order: round robin alone would give every one of them the other address.
    await send_campaign(redis, simulator, "second", US[::-1], channel)
    second = {n: s for n, (s,) in sources_by_number(simulator).items()}
    assert second == first
    assert await redis.get(sticky_source("shop", "carrier-a", US[0])) == first[US[0]]
    assert 0 < await redis.ttl(sticky_source("shop", "carrier-a", US[0])) <= 365 * 86400


async def test_a_rate_limited_address_keeps_its_rate_and_holds_up_no_other(
        redis: aioredis.Redis, simulator: Simulator) -> None:  # noqa: F811
    """US numbers go from a long code limited to 5 msg/s; CN ones from an unlimited
    short code, read interleaved with them. The long code's submits are spaced by its
    bucket (GCRA, burst 1: the k-th at least (k - 1) / rate after the first, less the
    limiter's 10 ms lateness); the CN ones are all through before the long code's
    third."""
    rate = 5
    pool: list[dict[str, Any]] = [
        {"address": "+14155550001", "countries": ["US"], "messagesPerSecond": rate},
        {"address": "10690001", "countries": ["CN"]}]
    numbers = [n for pair in zip(US[:8], CN[:8], strict=True) for n in pair] + CN[8:]
    figures = await send_campaign(redis, simulator, "slow", numbers,
                                  pool_channel(simulator, pool))
    assert figures["submitted"] == len(numbers)
    slow = sorted(m.timestamp for m in simulator.accepted if m.source == "+14155550001")
    fast = [m.timestamp for m in simulator.accepted if m.source == "10690001"]
    assert len(slow) == 8 and len(fast) == 30
    for k, at in enumerate(slow):
        assert at - slow[0] >= k / rate - 0.02, (k, at - slow[0])
    assert max(fast) < slow[2]


async def test_a_slow_address_holds_its_lane_within_bounds(
        redis: aioredis.Redis, simulator: Simulator) -> None:  # noqa: F811
    """Every message from one limited address: the reader stops once the lanes hold
    LANE_LIMIT read batches, so a slow address costs time, never unbounded memory."""
    numbers = US[:30] + [f"+1415556{i:04d}" for i in range(120)]
    await enqueue_numbers(redis, CampaignKeys("shop", "spring-sale"), numbers)
    builder = MessageBuilder({"": TEMPLATE}, SourceAddress(address="unused"))
    bind = BindSettings(host="127.0.0.1", port=simulator.port, system_id="herald",
                        password="herald", window=50, response_timeout=5.0)
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 100_000))
    settings = ShardSettings(CampaignKeys("shop", "spring-sale"), 0, CHANNEL, "carrier-a",
                             read_batch=5, sources=[address("+14155550001", rate=200)])
    async with ShardSender(redis, settings, builder, [bind], limiter) as sender:
        stats = await asyncio.wait_for(sender.run(), 60)
    assert stats.submitted == 150 and {m.source for m in simulator.accepted} == {
        "+14155550001"}
    lanes = sender.lanes
    assert lanes is not None and lanes.limit == LANE_LIMIT * 5
    assert lanes.limit <= lanes.peak <= lanes.limit + 5


async def test_stop_to_the_second_address_of_the_pool_opts_out(
        redis: aioredis.Redis, slow_receipts: Simulator) -> None:  # noqa: F811
    """A recipient sent from the pool's second address replies STOP to it: opted out,
    by the channel's receiver."""
    await send_campaign(redis, slow_receipts, "reply", US[:4],
                        pool_channel(slow_receipts, POOL[:2]))
    second = [n for n, s in sources_by_number(slow_receipts).items() if s == {"+14155550002"}]
    assert len(second) == 2
    receiver = ChannelReceiver(redis, CHANNEL, receiver_bind(slow_receipts))
    async with running(receiver):
        await wait_for(lambda: read_activity(redis, CHANNEL, time.time()), timeout=10,
                       until=lambda a: a.receiver_bound == 1, message="receiver never bound")
        slow_receipts.inject_mo(second[0].removeprefix("+"), "+14155550002", "STOP")
        await wait_for(lambda: redis.smembers(OPT_OUT_SET), timeout=10,
                       until=lambda s: s == {second[0]},
                       message="a STOP to the pool's second address did not opt out")


async def test_stop_to_the_second_address_reaches_a_senders_bind(
        redis: aioredis.Redis, slow_receipts: Simulator) -> None:  # noqa: F811
    """The same STOP on a sender's own transceiver bind, while it still sends."""
    stop = asyncio.Event()
    sending = asyncio.create_task(send_campaign(
        redis, slow_receipts, "reply", US[:4], pool_channel(slow_receipts, POOL[:2]), stop))
    try:
        await wait_for(lambda: len(slow_receipts.accepted), timeout=10, until=lambda n: n == 4,
                       message="the shard was not sent")
        second = [n for n, s in sources_by_number(slow_receipts).items()
                  if s == {"+14155550002"}]
        slow_receipts.inject_mo(second[1].removeprefix("+"), "+14155550002", "STOP")
        await wait_for(lambda: redis.smembers(OPT_OUT_SET), timeout=10,
                       until=lambda s: s == {second[1]},
                       message="a STOP to the pool's second address did not opt out")
    finally:
        stop.set()
        figures = await sending
    assert figures["replies"] == 1


# -- through the operator: a Channel with a pool, a Campaign on it --------------------

@pytest.mark.timeout(180)
async def test_a_campaign_on_a_pool_channel_completes_through_the_operator() -> None:
    """The example Campaign over a Channel with a sticky pool of two: the operator's
    bind check and receiver take the Channel, the run carries the pool to the sender
    pods, and every number went from one address of it, remembered: a second campaign
    to the same numbers sends each from the same address."""
    async with running_stack() as stack:
        channel = load_example("channel.yaml")
        smpp = channel["spec"]["smpp"]
        del smpp["sourceAddr"]
        smpp |= {"host": "127.0.0.1", "port": stack.simulator.port,
                 "sourceSelection": "Sticky", "sourceAddresses": [
                     {"address": "10690001", "ton": "National", "npi": "ISDN"},
                     {"address": "10690002", "ton": "National", "npi": "ISDN"}]}
        for doc in (load_example("secret.yaml"), channel, load_example("template.yaml"),
                    load_example("template-reminder.yaml")):
            await stack.kube.create(doc)
        await stack.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "audience"},
                                 "data": {"recipients.csv": audience_csv(100)}})
        campaign = load_example("campaign.yaml")
        del campaign["spec"]["schedule"]["sendWindow"]  # tests run at any hour
        campaign["spec"]["audience"] = {"defaultRegion": "CN",
                                        "configMapRef": {"name": "audience"}}
        await stack.kube.create(campaign)
        name = campaign["metadata"]["name"]
        done = await stack.wait_for_phase("default", name, ("Completed", "Failed"),
                                          timeout=60)
        assert done["status"]["phase"] == "Completed", done["status"]
        got = sources_by_number(stack.simulator)
        assert got and all(len(s) == 1 for s in got.values())
        by_address = Counter(next(iter(s)) for s in got.values())
        assert set(by_address) == {"10690001", "10690002"}, by_address
        # A second campaign to the same numbers, listed the other way round (in turn,
        # they would get the other address): each keeps the address it had.
        header, *rows = audience_csv(100).splitlines()
        await stack.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "audience-reversed"},
                                 "data": {"recipients.csv": "\n".join(
                                     [header, *reversed(rows)]) + "\n"}})
        sent_first = len(stack.simulator.accepted)
        campaign["metadata"] = {"name": f"{name}-again"}
        campaign["spec"]["audience"]["configMapRef"] = {"name": "audience-reversed"}
        await stack.kube.create(campaign)
        again = await stack.wait_for_phase("default", f"{name}-again", ("Completed", "Failed"),
                                           timeout=60)
        assert again["status"]["phase"] == "Completed", again["status"]
        assert len(stack.simulator.accepted) == 2 * sent_first
        assert sources_by_number(stack.simulator) == got  # still one address each
        client = connect(stack.redis_url)
        try:
            remembered = await asyncio.gather(*(
                client.get(sticky_source("default", "carrier-a", n)) for n in got))
        finally:
            await client.aclose()
        assert remembered == [next(iter(s)) for s in got.values()]


async def test_a_failing_over_channel_moves_what_waits_for_its_addresses_at_once(
        redis: aioredis.Redis, also_taking: Simulator, taking: Simulator) -> None:  # noqa: F811
    """Channel a, unavailable, sends from a long code limited to 1 msg/s: its queue moves
    to b at once, the messages waiting for the long code's tokens with the rest, rather
    than at the long code's pace (30 messages: 30 s)."""
    run = two_channels(also_taking, taking, unavailable=("a",))
    run.channels[0].smpp.source_addr = None
    run.channels[0].smpp.source_addresses = [address("+14155550001", rate=1)]
    await queue_on_a(redis, run)
    figures = await asyncio.wait_for(
        send_lanes(run, run.lanes.of_shard(0), redis, CREDENTIALS, asyncio.Event()), 10)
    assert not also_taking.accepted
    assert len(destinations(taking)) == MESSAGES and set(destinations(taking).values()) == {1}
    assert figures["lanes"]["a"]["failed_over"] == MESSAGES
