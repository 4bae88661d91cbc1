"""compliance.frequencyCap: at most maxMessages per number in a sliding periodHours,
across the namespace's capped campaigns (or those of the same template category), checked
and charged in Redis as each message goes out.

The cap's decision as a table (the Python mirror and the Lua script alike, on a clock the
test sets), then the senders: two campaigns racing for the same numbers on one Redis and
on a Redis Cluster, a refused submit giving its charge back, a stopped run resuming
without counting its own charges twice. Runs go from the Campaign spec through the run
the operator writes (build_run_config) to `run_shard`, and the simulator's record says
what was sent."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.campaign_run import build_run_config
from controllers.decisions.unimplemented import campaign_ignored
from crds.campaign import CampaignSpec, FrequencyCap, FrequencyCapScope
from crds.channel import ChannelSpec
from crds.template import Category, TemplateSpec
from herald.local.kube.client import wait_for
from sender.run_config import RunConfig
from sender.send.cap_gate import CapGate
from sender.send.outgoing import Outgoing, ShardStats
from sender.send.process import run_shard
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.sms.states import State, message_key, parse_state
from sender.store.frequency_caps import (
    FREQUENCY_CAP_LUA,
    HOUR_MS,
    KEEP_MEMBER,
    CapCharge,
    FrequencyCaps,
    LedgerEntry,
    cap_allows,
    cap_member,
    encode_entry,
    ledger_field,
    read_ledger,
    token_of,
)
from sender.store.keys import (
    CAP_GROUPS,
    CampaignKeys,
    ChannelKeys,
    frequency_cap_bucket,
    frequency_cap_group,
    legacy_frequency_cap,
)
from sender.store.state_writer import StateWriter
from sender.store.transitions import StateStore, read_counters
from tests.crd_validation import load_example
from tests.run_configs import fill_shard
from tests.test_long_messages import on_cluster, store

__all__ = ["on_cluster", "store"]  # fixtures: one Redis or a Cluster

NS = "shop"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms: the tests' clock
DAY = 24
NUMBER = "+8613900000001"


def cap(most: int = 1, hours: int = DAY, scope: str = "Namespace") -> FrequencyCap:
    return FrequencyCap.model_validate(
        {"maxMessages": most, "periodHours": hours, "scope": scope})


def member(campaign: str, category: Category = Category.MARKETING, n: int = 0) -> str:
    return cap_member(campaign, f"0/{n}-0", category)


M, N = Category.MARKETING, Category.NOTIFICATION
AGO_1H, AGO_25H = T0 - HOUR_MS, T0 - 25 * HOUR_MS

# Each row: the ledger ((member, charged at ms) already there), the message's member, the
# cap, whether it may go at T0.
CASES = [
    pytest.param([], member("a"), cap(), True, id="empty-ledger"),
    pytest.param([(member("b"), AGO_1H)], member("a"), cap(), False,
                 id="another-campaign-within-the-period"),
    pytest.param([(member("b"), AGO_25H)], member("a"), cap(), True,
                 id="older-than-the-period"),
    pytest.param([(member("b"), AGO_1H)], member("a"), cap(2), True, id="under-max"),
    pytest.param([(member("b"), AGO_1H), (member("c"), AGO_1H)], member("a"), cap(2), False,
                 id="at-max"),
    pytest.param([(member("b"), AGO_25H)], member("a"), cap(hours=48), False,
                 id="a-longer-period-counts-it"),
    pytest.param([(member("a"), AGO_1H)], member("a"), cap(), True,
                 id="the-same-message-again-is-no-new-charge"),
    pytest.param([(member("b", N), AGO_1H)], member("a", M), cap(scope="Category"), True,
                 id="category-other-category-not-counted"),
    pytest.param([(member("b", M), AGO_1H)], member("a", M), cap(scope="Category"), False,
                 id="category-same-category-counted"),
    pytest.param([(member("b", N), AGO_1H)], member("a", M), cap(), False,
                 id="namespace-every-category-counted"),
]


@pytest.mark.parametrize("ledger, new, rule, allowed", CASES)
def test_the_cap_decides_by_the_messages_of_its_period_and_scope(
    ledger: list[tuple[str, int]], new: str, rule: FrequencyCap, allowed: bool,
) -> None:
    assert cap_allows(ledger, new, T0, rule) is allowed


async def seed_ledger(redis: aioredis.Redis, number: str, ledger: list[tuple[str, int]],
                      layout: str) -> None:
    """A number's ledger as the script leaves it, in a group of one bucket (a new
    group's), or as the earlier layout left it: a sorted set with its keep marker."""
    if layout == "legacy":
        await redis.zadd(legacy_frequency_cap(NS, number),
                         dict(ledger) | {KEEP_MEMBER: -7 * DAY * HOUR_MS})
    else:
        bucket = frequency_cap_bucket(frequency_cap_group(NS, number), 0)
        await redis.hset(bucket, ledger_field(number),
                         "".join(encode_entry(m, at) for m, at in ledger))


@pytest.mark.parametrize("layout", ["buckets", "legacy"])
@pytest.mark.parametrize("ledger, new, rule, allowed", CASES)
async def test_the_script_decides_as_the_table(
    redis: aioredis.Redis, ledger: list[tuple[str, int]], new: str, rule: FrequencyCap,
    allowed: bool, layout: str,
) -> None:
    if ledger:
        await seed_ledger(redis, NUMBER, ledger, layout)
    category = {"M": M, "N": N}[new[0]]
    _, campaign, message = new.split("|")
    caps = FrequencyCaps(redis, CampaignKeys(NS, campaign), rule)
    assert await caps.charge([CapCharge(NUMBER, message, category)], now_ms=T0) == [allowed]
    tokens = [entry.token for entry in await read_ledger(redis, NS, NUMBER)]
    assert (token_of(new) in tokens) is (allowed or new in dict(ledger))
    assert not await redis.exists(legacy_frequency_cap(NS, NUMBER))  # converted


async def test_the_window_slides_by_period_hours(redis: aioredis.Redis) -> None:
    """Two a day: a third goes once the first is a day old (by the clock given)."""
    caps = FrequencyCaps(redis, CampaignKeys(NS, "daily"), cap(2, DAY))

    async def send(n: int, at_ms: int) -> bool:
        (ok,) = await caps.charge([CapCharge(NUMBER, f"0/{n}-0", M)], now_ms=at_ms)
        return ok

    assert await send(1, T0) and await send(2, T0 + 6 * HOUR_MS)
    assert not await send(3, T0 + DAY * HOUR_MS - 1)
    assert await send(4, T0 + DAY * HOUR_MS)  # the first is a day old: it no longer counts
    assert not await send(5, T0 + DAY * HOUR_MS + 1)
    assert await send(6, T0 + 30 * HOUR_MS)  # the second is a day old too


async def test_a_short_period_keeps_what_a_longer_one_counts(redis: aioredis.Redis) -> None:
    """A daily campaign's check trims nothing a weekly campaign still counts, and the
    ledger outlives its last charge by the longest period."""
    weekly = FrequencyCaps(redis, CampaignKeys(NS, "weekly"), cap(1, 7 * DAY))
    daily = FrequencyCaps(redis, CampaignKeys(NS, "daily"), cap(1, DAY))
    assert await weekly.charge([CapCharge(NUMBER, "0/1-0", M)], now_ms=T0) == [True]
    later = T0 + 3 * DAY * HOUR_MS
    assert await daily.charge([CapCharge(NUMBER, "0/1-0", M)], now_ms=later) == [True]
    assert await weekly.charge([CapCharge(NUMBER, "0/2-0", M)], now_ms=later) == [False]
    assert [e.initial for e in await read_ledger(redis, NS, NUMBER)] == ["M", "M"]
    group = frequency_cap_group(NS, NUMBER)
    for key in (group, frequency_cap_bucket(group, 0)):
        assert 6 * DAY * 3600 < await redis.ttl(key) <= 7 * DAY * 3600


async def test_namespaces_and_numbers_keep_ledgers_of_their_own(
    redis: aioredis.Redis,
) -> None:
    rule = cap(1)
    shop = FrequencyCaps(redis, CampaignKeys("shop", "a"), rule)
    bank = FrequencyCaps(redis, CampaignKeys("bank", "a"), rule)
    first = [CapCharge(NUMBER, "0/1-0", M), CapCharge("+8613900000002", "0/2-0", M)]
    assert await shop.charge(first) == [True, True]
    assert await bank.charge(first) == [True, True]
    assert await shop.charge([CapCharge(NUMBER, "0/3-0", M)]) == [False]
    # The same number twice in one batch: the second sees the first's charge.
    twice = [CapCharge("+8613900000003", "0/4-0", M), CapCharge("+8613900000003", "0/5-0", M)]
    assert await shop.charge(twice) == [True, False]


async def cap_buckets(redis: aioredis.Redis) -> dict[str, int]:
    """Every bucket of the namespace's ledgers, with its number of fields."""
    return {key: await redis.hlen(key)
            async for key in redis.scan_iter(match=f"herald:{{cap:{NS}:*}}:b*")}


async def numbers_held(redis: aioredis.Redis, metas: list[str]) -> int:
    """The numbers the groups' meta hashes count."""
    return sum([int(cast(str, await redis.hget(key, "n"))) for key in metas])


async def test_a_group_grows_in_buckets_that_stay_small(redis: aioredis.Redis) -> None:
    """20,000 numbers: each group splits its buckets as it fills, every bucket stays a
    listpack, every number is found where the Python mirror looks (the second message
    to each is capped), and a number costs a small part of a key of its own."""
    caps = FrequencyCaps(redis, CampaignKeys(NS, "big"), cap(1, DAY))
    numbers = [f"+86139{i:08d}" for i in range(20_000)]
    for start in range(0, len(numbers), 500):
        batch = [CapCharge(n, f"0/{start + i}-0", M)
                 for i, n in enumerate(numbers[start:start + 500])]
        assert await caps.charge(batch, now_ms=T0) == [True] * len(batch)
    buckets = await cap_buckets(redis)
    assert sum(buckets.values()) == len(numbers)
    assert len(buckets) > 20_000 / 128 and max(buckets.values()) < 128
    assert {await redis.object("ENCODING", key) for key in buckets} == {"listpack"}
    metas = [key async for key in redis.scan_iter(match=f"herald:{{cap:{NS}:*}}:m")]
    assert await numbers_held(redis, metas) == len(numbers)
    for number in numbers[::97]:
        assert [e.initial for e in await read_ledger(redis, NS, number)] == ["M"]
    again = [CapCharge(n, f"1/{i}-0", M) for i, n in enumerate(numbers)]
    assert await caps.charge(again, now_ms=T0 + 1000) == [False] * len(numbers)
    used = 0
    for key in [*buckets, *metas]:
        used += cast(int, await redis.memory_usage(key))
    assert used / len(numbers) < 60  # a sorted set of one's own: ~240 (bench/README.md)


async def test_one_large_batch_splits_as_many_buckets_as_it_needs(
    redis: aioredis.Redis,
) -> None:
    """12,000 new numbers in one call (1,500 a group): the buckets keep up."""
    caps = FrequencyCaps(redis, CampaignKeys(NS, "bulk"), cap(1, DAY))
    batch = [CapCharge(f"+86136{i:08d}", f"0/{i}-0", M) for i in range(12_000)]
    assert all(await caps.charge(batch, now_ms=T0))
    assert max((await cap_buckets(redis)).values()) < 128


async def test_a_bucket_that_expired_leaves_the_count_once_a_level_is_done(
    redis: aioredis.Redis,
) -> None:
    """A bucket idle for the longest period expires with its numbers while the group
    lives on: the group's count is taken afresh when its level next completes, so it
    does not split for numbers it no longer holds."""
    caps = FrequencyCaps(redis, CampaignKeys(NS, "idle"), cap(1, DAY))
    number = 0

    async def charge(count: int) -> None:
        nonlocal number
        batch = [CapCharge(f"+86135{number + i:08d}", f"0/{number + i}-0", M)
                 for i in range(count)]
        number += count
        assert all(await caps.charge(batch, now_ms=T0))

    await charge(4000)
    gone = next(iter(await cap_buckets(redis)))
    await redis.delete(gone)  # as its expiry would
    group = gone.rsplit(":", 1)[0] + ":m"
    level = int(cast(str, await redis.hget(group, "L")))
    while int(cast(str, await redis.hget(group, "L"))) == level:
        await charge(200)
    held = sum([await redis.hlen(key) for key in await cap_buckets(redis)
                if key.startswith(group[:-1])])
    assert int(cast(str, await redis.hget(group, "n"))) == held


async def test_numbers_whose_entries_are_all_past_are_dropped_as_buckets_split(
    redis: aioredis.Redis,
) -> None:
    """Period one hour: 4,000 numbers charged, then two hours later 8,000 others. The
    first ones' entries count for nobody: the splits drop them, and the count the
    buckets grow by is the live numbers'."""
    caps = FrequencyCaps(redis, CampaignKeys(NS, "hourly"), cap(1, 1))
    old = [CapCharge(f"+86138{i:08d}", f"0/{i}-0", M) for i in range(4000)]
    new = [CapCharge(f"+86137{i:08d}", f"1/{i}-0", M) for i in range(8000)]
    for batch, at in ((old, T0), (new, T0 + 2 * HOUR_MS)):
        for start in range(0, len(batch), 500):
            assert all(await caps.charge(batch[start:start + 500], now_ms=at))
    held = sum((await cap_buckets(redis)).values())
    assert 8000 <= held < 8000 + 4000 // 2
    metas = [key async for key in redis.scan_iter(match=f"herald:{{cap:{NS}:*}}:m")]
    assert await numbers_held(redis, metas) == held
    assert await caps.charge(old[:100], now_ms=T0 + 2 * HOUR_MS) == [True] * 100


async def test_a_number_that_is_not_plain_digits_has_a_ledger_too(
    redis: aioredis.Redis,
) -> None:
    caps = FrequencyCaps(redis, CampaignKeys(NS, "odd"), cap(1, DAY))
    # "m" and "b0" are spelled as the layout's own keys; "+８６" has non-ASCII digits.
    for odd in ("+0086139", "+8613900000001234567", "shortcode-1", "m", "b0", "+８６１３９"):
        assert await caps.charge([CapCharge(odd, "0/1-0", M)], now_ms=T0) == [True]
        assert await caps.charge([CapCharge(odd, "0/2-0", M)], now_ms=T0) == [False]
        assert [e.initial for e in await read_ledger(redis, NS, odd)] == ["M"]


def test_ledgers_spread_over_their_slot_groups() -> None:
    keys = [frequency_cap_group(NS, f"+86139{i:08d}") for i in range(2000)]
    groups = Counter(key.split("}")[0] for key in keys)
    assert len(groups) == CAP_GROUPS
    assert min(groups.values()) > 2000 / CAP_GROUPS / 2
    assert all(f"{{cap:{NS}:" in key for key in keys)


def test_a_frequency_cap_is_no_longer_reported_ignored() -> None:
    spec = CampaignSpec.model_validate(load_example("campaign.yaml")["spec"] | {
        "compliance": {"frequencyCap": {"maxMessages": 2, "periodHours": 168}}})
    assert spec.compliance.frequency_cap == cap(2, 168)
    assert spec.compliance.frequency_cap.scope == FrequencyCapScope.NAMESPACE
    assert campaign_ignored(spec) == []


# -- the senders ----------------------------------------------------------------------

TEMPLATES = {
    Category.MARKETING: TemplateSpec.model_validate({
        "category": "Marketing", "body": "Sale {code}", "signature": "[Shop]",
        "optOutText": "Reply STOP to opt out", "variables": [{"name": "code"}]}),
    Category.NOTIFICATION: TemplateSpec.model_validate({
        "category": "Notification", "body": "Your code is {code}.",
        "variables": [{"name": "code"}]}),
}
PREFIX = "+8613900"


@pytest.fixture
async def smsc() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=5, window=0, seed=7)) as sim:
        yield sim




def channel(port: int) -> ChannelSpec:
    """The example Channel on the simulator; two binds, so two campaigns send at once,
    and one bucket of 2,000/s they share, so their submits interleave."""
    body = load_example("channel.yaml")["spec"]
    body["smpp"] |= {"host": "127.0.0.1", "port": port, "window": 50}
    return ChannelSpec.model_validate(body | {"maxBinds": 2, "rateLimit": {
        "messagesPerSecond": 2000, "burst": 50}})


def capped_run(name: str, port: int, frequency_cap: dict[str, Any] | None,
               category: Category = Category.MARKETING) -> RunConfig:
    """The operator's run of a one-shard campaign `name` of namespace shop."""
    spec = CampaignSpec.model_validate({
        "templateRef": {"name": "t"}, "channels": [{"name": "carrier-a"}],
        "audience": {"inline": []}, "senders": 1,
        "compliance": {"frequencyCap": frequency_cap} if frequency_cap else {}})
    owner = Owner(NS, name, f"uid-{name}", 1)
    return build_run_config(owner, spec, {"": TEMPLATES[category]},
                            [("carrier-a", channel(port))], 0.0)


async def charges(redis: aioredis.Redis, number: str) -> list[LedgerEntry]:
    """The charges in a number's ledger."""
    return await read_ledger(redis, NS, number)


def received(smsc: Simulator) -> Counter[str]:
    return Counter(m.destination for m in smsc.accepted)


async def test_a_script_cache_emptied_under_the_sender_is_loaded_again(
    store: aioredis.Redis,
) -> None:
    """A restarted or failed-over Redis (a new Cluster primary) has no scripts: the batch
    is sent again after loading it, and charges made before count once."""
    caps = FrequencyCaps(store, CampaignKeys(NS, "a"), cap(1))
    numbers = [f"{PREFIX}{i:08d}" for i in range(40)]  # every slot group
    first = [CapCharge(n, f"0/{i}-0", M) for i, n in enumerate(numbers)]
    assert await caps.charge(first[:20]) == [True] * 20
    await store.script_flush()  # on a Cluster: every primary's
    assert await caps.charge(first) == [True] * 40
    again = [CapCharge(n, f"0/{i + 40}-0", M) for i, n in enumerate(numbers)]
    assert await caps.charge(again) == [False] * 40


async def test_two_campaigns_racing_for_the_same_numbers_never_pass_the_cap(
    store: aioredis.Redis, smsc: Simulator,
) -> None:
    """maxMessages 1: two campaigns send to the same 600 numbers at once, on one Redis
    and on a Cluster; each number gets exactly one message, the other is capped."""
    count = 600
    runs = [capped_run(name, smsc.port, {"maxMessages": 1, "periodHours": DAY})
            for name in ("spring", "summer")]
    for run in runs:
        await fill_shard(store, CampaignKeys(NS, run.campaign.name), count, PREFIX)
    figures = await asyncio.wait_for(
        asyncio.gather(*(run_shard(run, 0, store, "herald") for run in runs)), 60)

    per_number = received(smsc)
    assert len(per_number) == count and set(per_number.values()) == {1}
    counters = [await read_counters(store, CampaignKeys(NS, r.campaign.name)) for r in runs]
    assert sum(c.sent for c in counters) == count
    assert sum(c.capped for c in counters) == count
    assert all(c.queued == 0 and c.unknown == 0 and c.failed == 0 for c in counters)
    assert [f["capped"] for f in figures] == [c.capped for c in counters]
    assert min(c.sent for c in counters) > 0  # they did race: both got some numbers first
    # The state of a capped message names the cap it met.
    keys = CampaignKeys(NS, "summer" if counters[1].capped else "spring")
    states = [parse_state(v) for v in cast(list[str], await store.hvals(keys.state))]
    assert (State.CAPPED, "1/24h Namespace") in {(v.code, v.detail) for v in states}


async def test_category_scope_counts_only_the_same_category(
    redis: aioredis.Redis, smsc: Simulator,
) -> None:
    """A Marketing campaign first; then, to the same numbers, Notification campaigns: one
    capped by Category goes out (marketing is not its category), one by Namespace does
    not, and a Marketing one capped by Category does not either."""
    count = 50
    week = {"maxMessages": 1, "periodHours": 168}
    first = capped_run("sale", smsc.port, week)
    await fill_shard(redis, CampaignKeys(NS, "sale"), count, PREFIX)
    await run_shard(first, 0, redis, "herald")
    for name, scope, category, sent in (
            ("codes", "Category", N, count), ("news", "Namespace", N, 0),
            ("promo", "Category", M, 0)):
        await fill_shard(redis, CampaignKeys(NS, name), count, PREFIX)
        figures = await run_shard(capped_run(name, smsc.port, week | {"scope": scope},
                                             category), 0, redis, "herald")
        assert (figures["submitted"], figures["capped"]) == (sent, count - sent), name
    assert set(received(smsc).values()) == {2}


async def test_a_campaign_without_a_cap_is_neither_counted_nor_capped(
    redis: aioredis.Redis, smsc: Simulator,
) -> None:
    count = 20
    await fill_shard(redis, CampaignKeys(NS, "free"), count, PREFIX)
    await run_shard(capped_run("free", smsc.port, None), 0, redis, "herald")
    assert await charges(redis, f"{PREFIX}00000000") == []
    await fill_shard(redis, CampaignKeys(NS, "capped"), count, PREFIX)
    figures = await run_shard(capped_run("capped", smsc.port, {
        "maxMessages": 1, "periodHours": DAY}), 0, redis, "herald")
    assert (figures["submitted"], figures["capped"]) == (count, 0)
    await fill_shard(redis, CampaignKeys(NS, "free-again"), count, PREFIX)
    figures = await run_shard(capped_run("free-again", smsc.port, None), 0, redis, "herald")
    assert (figures["submitted"], figures["capped"]) == (count, 0)


async def test_a_submit_refused_for_good_gives_its_charge_back(
    redis: aioredis.Redis, smsc: Simulator,
) -> None:
    """Numbers the SMSC refuses (ESME_RINVDSTADR) got nothing: their charge is refunded,
    so the next capped campaign may send to them, and only to them."""
    count, refused = 40, f"{PREFIX}0000000"  # numbers 0 to 9 are refused
    smsc.configure({"rules": [{"prefix": refused.lstrip("+"), "outcome": "error"}]})
    rule = {"maxMessages": 1, "periodHours": DAY}
    await fill_shard(redis, CampaignKeys(NS, "first"), count, PREFIX)
    figures = await run_shard(capped_run("first", smsc.port, rule), 0, redis, "herald")
    assert (figures["failed"], figures["cap_refunds"]) == (10, 10)
    assert await charges(redis, f"{PREFIX}{3:08d}") == []
    assert [e.initial for e in await charges(redis, f"{PREFIX}{13:08d}")] == ["M"]

    smsc.configure({"rules": []})
    await fill_shard(redis, CampaignKeys(NS, "second"), count, PREFIX)
    figures = await run_shard(capped_run("second", smsc.port, rule), 0, redis, "herald")
    assert (figures["submitted"], figures["capped"]) == (10, 30)
    assert set(received(smsc).values()) == {1} and len(received(smsc)) == count


async def test_a_stopped_run_gives_back_the_charges_of_what_it_did_not_send(
    redis: aioredis.Redis, smsc: Simulator,
) -> None:
    """Stopped mid-run (a pause, a cancel), a sender gives back the charges it made ahead
    of its submits: the numbers charged are exactly those the SMSC got, and the next run
    sends the rest, none capped (maxMessages 1)."""
    count = 2000
    keys = CampaignKeys(NS, "resumed")
    run = capped_run("resumed", smsc.port, {"maxMessages": 1, "periodHours": DAY})
    await fill_shard(redis, keys, count, PREFIX)
    stop = asyncio.Event()
    first = asyncio.create_task(run_shard(run, 0, redis, "herald", stop))
    await wait_for(lambda: len(smsc.accepted) >= 300, timeout=30, message="300 accepted")
    stop.set()
    figures = await first
    assert figures["stopped"] and figures["cap_refunds"] > 0
    numbers = [f"{PREFIX}{i:08d}" for i in range(count)]
    charged = {n for n in numbers if await charges(redis, n)}
    assert charged == {"+" + n for n in received(smsc)}  # the SMSC's record has no "+"

    figures = await run_shard(run, 0, redis, "herald")
    assert figures["capped"] == 0
    per_number = received(smsc)
    assert len(per_number) == count and set(per_number.values()) == {1}
    counters = await read_counters(redis, keys)
    assert (counters.sent, counters.capped, counters.queued) == (count, 0, 0)


async def test_a_message_charged_before_a_crash_is_sent_after_it(
    redis: aioredis.Redis, smsc: Simulator,
) -> None:
    """A sender killed between charging and marking leaves its messages queued with their
    charge made; the next one sends them, and another campaign is capped by them."""
    count = 30
    keys = CampaignKeys(NS, "crashed")
    run = capped_run("crashed", smsc.port, {"maxMessages": 1, "periodHours": DAY})
    await fill_shard(redis, keys, count, PREFIX)
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(keys.shard(0)))
    before = FrequencyCaps(redis, keys, cap(1, DAY))
    assert await before.charge([CapCharge(fields["n"], message_key(0, entry_id), M)
                                for entry_id, fields in entries]) == [True] * count

    figures = await run_shard(run, 0, redis, "herald")
    assert (figures["submitted"], figures["capped"]) == (count, 0)
    await fill_shard(redis, CampaignKeys(NS, "later"), count, PREFIX)
    figures = await run_shard(capped_run("later", smsc.port, {
        "maxMessages": 1, "periodHours": DAY}), 0, redis, "herald")
    assert (figures["submitted"], figures["capped"]) == (0, count)
    assert set(received(smsc).values()) == {1}


class HeldCharges(FrequencyCaps):
    """The real caps, whose next charge waits for the test's go once it has its batch."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked, self.go = asyncio.Event(), asyncio.Event()

    async def charge(self, charges: Sequence[CapCharge], *, now_ms: int | None = None
                     ) -> list[bool]:
        self.asked.set()
        await self.go.wait()
        return await super().charge(charges, now_ms=now_ms)


@pytest.mark.parametrize("leave", ["moved-to-another-channel", "opted-out"])
async def test_a_message_that_leaves_the_line_while_its_charge_is_in_flight_is_refunded(
    redis: aioredis.Redis, leave: str,
) -> None:
    """A channel's queue failing over (or an opt-out) takes messages out of the line
    while their charge is on its way: it lands, and goes back, else the number would
    be charged here and again by the channel that sends it (a cap of 1: never sent)."""
    keys = CampaignKeys(NS, "diverted")
    caps = HeldCharges(redis, keys, cap())
    line: deque[Outgoing] = deque(
        Outgoing(message_key(0, f"{i}-0"), f"{PREFIX}{i:08d}", "", []) for i in range(6))
    writer = StateWriter(redis, StateStore(redis, keys), 0, ChannelKeys(NS, "carrier-a"))
    gate = CapGate(caps, line, writer, ShardStats(), {"": Category.MARKETING}, 6, "carrier-a")
    charging = asyncio.create_task(gate.charge_ahead(2))
    await asyncio.wait_for(caps.asked.wait(), 5)
    kept = line.pop()  # stays in the line: its charge stands
    if leave == "opted-out":
        line.popleft()
    else:
        line.clear()
    line.append(kept)
    caps.go.set()
    assert await asyncio.wait_for(charging, 5) == min(2, len(line))  # the charged head
    await writer.flush()

    charged = [n for n in (f"{PREFIX}{i:08d}" for i in range(6)) if await charges(redis, n)]
    assert charged == ([f"{PREFIX}{i:08d}" for i in (1, 2, 3, 4, 5)] if leave == "opted-out"
                       else [kept.phone])


async def test_a_message_charged_longer_ago_than_any_period_is_charged_anew(
    redis: aioredis.Redis,
) -> None:
    """Its old entry (past k, not trimmed yet: nothing rewrote the number) is no charge
    any more: the message sent again counts, so a second message within the day is
    capped. It used to be taken for the same charge, answered "1" and not written."""
    caps = FrequencyCaps(redis, CampaignKeys(NS, "daily"), cap(1, DAY))
    again = T0 + 25 * HOUR_MS
    assert await caps.charge([CapCharge(NUMBER, "0/1-0", M)], now_ms=T0) == [True]
    assert await caps.charge([CapCharge(NUMBER, "0/1-0", M)], now_ms=again) == [True]
    assert [e.charged_ms for e in await read_ledger(redis, NS, NUMBER)] == [again]
    assert await caps.charge([CapCharge(NUMBER, "0/2-0", M)], now_ms=again) == [False]


async def test_a_charge_older_than_any_period_is_not_refunded(redis: aioredis.Redis) -> None:
    """Past k a charge is gone, trimmed or not: a refund finds nothing to give back (it
    used to answer "1", and the sender counted a refund)."""
    caps = FrequencyCaps(redis, CampaignKeys(NS, "daily"), cap(1, DAY))
    charge = CapCharge(NUMBER, "0/1-0", M)
    assert await caps.charge([charge], now_ms=T0) == [True]
    group, line = caps.refund_of(charge)
    refund = ("refund", 0, 0, "", line)
    assert await redis.eval(FREQUENCY_CAP_LUA, 1, group, *refund,
                            T0 + 25 * HOUR_MS) == "0"
    assert await redis.eval(FREQUENCY_CAP_LUA, 1, group, *refund,
                            T0 + HOUR_MS) == "1"


async def test_a_legacy_charge_from_before_2025_is_converted(redis: aioredis.Redis) -> None:
    """A year's cap keeps entries that old: one charged on 2024-12-31 is stamped as of
    2025-01-01 (counting a little longer, never shorter). Its stamp, a negative number
    of seconds, used to loop in the script for ever (Redis busy, unkillable once the
    batch had written)."""
    year = 365 * DAY
    before = 1_735_603_200_000  # 2024-12-31T00:00:00Z
    await redis.zadd(legacy_frequency_cap(NS, NUMBER),
                     {member("old"): before, KEEP_MEMBER: -year * HOUR_MS})
    caps = FrequencyCaps(redis, CampaignKeys(NS, "yearly"), cap(1, year))
    now = before + 300 * DAY * HOUR_MS
    assert await caps.charge([CapCharge(NUMBER, "0/1-0", M)], now_ms=now) == [False]
    assert await read_ledger(redis, NS, NUMBER) == [
        LedgerEntry("M", 1_735_689_600_000, token_of(member("old")))]


async def test_a_legacy_ledger_of_its_marker_only_leaves_no_field(
    redis: aioredis.Redis,
) -> None:
    """The earlier layout kept a ledger whose charges were all refunded as its keep
    marker alone; a refund converting it used to write an empty field, counted in n."""
    await redis.zadd(legacy_frequency_cap(NS, NUMBER), {KEEP_MEMBER: -DAY * HOUR_MS})
    caps = FrequencyCaps(redis, CampaignKeys(NS, "a"), cap())
    group, line = caps.refund_of(CapCharge(NUMBER, "0/1-0", M))
    assert await redis.eval(FREQUENCY_CAP_LUA, 1, group, "refund", 0, 0, "", line, T0) == "0"
    assert not await redis.exists(legacy_frequency_cap(NS, NUMBER))
    assert not await redis.exists(frequency_cap_bucket(group, 0))
    assert int(await redis.hget(group, "n") or 0) == 0
