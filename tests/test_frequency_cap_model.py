"""frequency_cap.lua against a model of what it promises, on random histories.

The real script on a real redis-server (one, or a Cluster) is driven through random
sequences of charges (batches with repeated numbers, the same message again, campaigns
of different periods and scopes, both categories), refunds, clock steps and ledgers of
the earlier layout; each answer is compared with a model in Python that keeps, per
number, the list of (member, charged at ms rounded up to the second) and decides with
cap_allows. The model drops an entry once it is older than the longest period any
campaign charged the group with; the script drops lazily (as it rewrites a number, or
splits its bucket, or the bucket expires). No answer tells the two apart while that
period stays the same, so every group is first charged with the longest period of the
test; when it grows later, an entry older than the shorter one may still count for the
longer campaign in the script, or not, as neighbours' charges and splits went (not
checked here: a looseness of the layout, not of this model). After each step the layout is
checked: every group's meta hash counts the fields of its buckets, no bucket holds 128
fields, every key written has a TTL, read_ledger finds what the model holds."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from redis.asyncio.cluster import RedisCluster as ClusterClient

from crds.campaign import FrequencyCap
from crds.template import Category
from sender.store.frequency_caps import (
    FREQUENCY_CAP_LUA,
    HOUR_MS,
    KEEP_MEMBER,
    CapCharge,
    FrequencyCaps,
    cap_allows,
    cap_member,
    read_ledger,
    token_of,
)
from sender.store.keys import (
    CAP_GROUPS,
    CampaignKeys,
    frequency_cap_bucket,
    frequency_cap_group,
    legacy_frequency_cap,
)
from tests.test_long_messages import on_cluster, store

__all__ = ["on_cluster", "store"]

NS = "shop"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms: the tests' clock
GROUPS = (0,)  # the random numbers fall in one slot group: it splits sooner
LONGEST_HOURS = 24


def numbers_of_groups(groups: tuple[int, ...], count: int) -> list[str]:
    """E.164 numbers whose ledgers are in `groups` (keys.frequency_cap_group)."""
    out: list[str] = []
    i = 0
    while len(out) < count:
        number = f"+86137{i:08d}"
        if zlib.crc32(number.encode()) % CAP_GROUPS in groups:
            out.append(number)
        i += 1
    return out


POOL = numbers_of_groups(GROUPS, 4200)
HOT = [*POOL[:12], "shortcode-1", "+0086139", "+8613900000001234567"]
"""Numbers charged again and again, three of them not plain E.164 ("=" fields)."""
BULK = POOL[12:4000]
"""Numbers charged in big batches, so that groups split."""
LEGACY = POOL[4000:]
"""Numbers whose ledgers are seeded in the earlier layout, one a step."""
CATEGORIES = (Category.MARKETING, Category.NOTIFICATION)


def group_of(number: str) -> str:
    return frequency_cap_group(NS, number)


def rounded_up(ms: int) -> int:
    return -(-ms // 1000) * 1000


@dataclass
class Model:
    """What the script promises: per number its charges, per group the longest period
    that charged it."""

    now: int = T0
    ledgers: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    keep: dict[str, int] = field(default_factory=dict)
    legacy: dict[str, tuple[list[tuple[str, int]], int]] = field(default_factory=dict)
    """Numbers seeded in the earlier layout and not read yet: entries, keep."""

    def ledger(self, number: str) -> list[tuple[str, int]]:
        """The number's live entries now (reading an earlier layout's ledger, if any)."""
        group = group_of(number)
        if number in self.legacy:
            entries, keep = self.legacy.pop(number)
            self.keep[group] = max(self.keep.get(group, 0), keep)
            self.ledgers[number] = [(m, rounded_up(at)) for m, at in entries]
        oldest = self.now - self.keep.get(group, 0)
        live = [(m, at) for m, at in self.ledgers.get(number, []) if at > oldest]
        self.ledgers[number] = live
        return live

    def charge(self, number: str, member: str, cap: FrequencyCap) -> bool:
        ledger = self.ledger(number)
        if not cap_allows(ledger, member, self.now, cap):
            return False
        if member not in dict(ledger):
            ledger.append((member, rounded_up(self.now)))
            group = group_of(number)
            self.keep[group] = max(self.keep.get(group, 0), cap.period_hours * HOUR_MS)
        return True

    def refund(self, number: str, member: str) -> bool:
        ledger = self.ledger(number)
        if member not in dict(ledger):
            return False
        ledger.remove(next(e for e in ledger if e[0] == member))
        return True


@dataclass(frozen=True)
class Campaign:
    name: str
    cap: FrequencyCap


def campaign_strategy(index: int) -> st.SearchStrategy[Campaign]:
    caps = st.builds(
        lambda most, hours, scope: FrequencyCap.model_validate(
            {"maxMessages": most, "periodHours": hours, "scope": scope}),
        st.integers(1, 3), st.sampled_from([1, 2, LONGEST_HOURS]),
        st.sampled_from(["Namespace", "Category"]))
    return caps.map(lambda cap: Campaign(f"c{index}", cap))


CHARGE = st.tuples(st.integers(0, len(HOT) - 1), st.integers(0, 5), st.sampled_from(CATEGORIES))
STEP = st.one_of(
    st.tuples(st.just("charge"), st.integers(0, 2), st.lists(CHARGE, min_size=1, max_size=8)),
    st.tuples(st.just("bulk"), st.integers(0, 2), st.integers(20, 400),
              st.sampled_from([0, 0, 100, 1000]), st.integers(0, 1)),
    st.tuples(st.just("refund"), st.integers(0, 2), st.lists(CHARGE, min_size=1, max_size=4)),
    st.tuples(st.just("refund-charged"), st.lists(st.integers(0, 10**6), min_size=1,
                                                  max_size=6)),
    st.tuples(st.just("tick"), st.sampled_from([0, 1, 499, 1000, 60_000, HOUR_MS // 2,
                                                HOUR_MS, 3 * HOUR_MS, 25 * HOUR_MS])),
    st.tuples(st.just("legacy"), st.lists(st.tuples(CHARGE, st.integers(0, 30 * HOUR_MS)),
                                          max_size=3)),
)


class Harness:
    """The script's side: the real FrequencyCaps, refunds by the script's refund mode."""

    def __init__(self, redis: aioredis.Redis, campaigns: list[Campaign]) -> None:
        self.redis = redis
        self.campaigns = campaigns
        self.caps = [FrequencyCaps(redis, CampaignKeys(NS, c.name), c.cap) for c in campaigns]
        self.bulk_next = 0
        self.legacy_next = 0
        self.charged: list[tuple[int, CapCharge]] = []
        """Every (campaign, message) charged so far."""

    async def refund(self, pairs: list[tuple[str, str]], now_ms: int) -> list[bool]:
        """The refund lines queue_refunds sends, at the test's clock (ARGV[6])."""
        out: list[bool] = []
        for group, line in pairs:
            reply = await cast(Any, self.redis.eval(
                FREQUENCY_CAP_LUA, 1, group, "refund", "0", "0", "", line, str(now_ms)))
            out.append(reply == "1")
        return out


async def check_layout(redis: aioredis.Redis, model: Model, sample: list[str]) -> None:
    for g in {group_of(n) for n in HOT + BULK + LEGACY}:
        meta = cast(dict[str, str], await redis.hgetall(g))
        if not meta:
            continue
        level, split, count = int(meta["L"]), int(meta["p"]), int(meta["n"])
        event(f"buckets >= {2 ** max(0, (2**level + split).bit_length() - 1)}")
        buckets = [frequency_cap_bucket(g, b) for b in range(2**level + split)]
        sizes = [await redis.hlen(key) for key in buckets]
        assert sum(sizes) == count, (g, meta, sizes)
        assert max(sizes) < 128, (g, meta, sizes)
        for key in (frequency_cap_bucket(g, len(buckets)),
                    frequency_cap_bucket(g, len(buckets) + 1)):
            assert not await redis.exists(key), key  # no bucket beyond the split pointer
        meta_ttl = await redis.pttl(g)
        assert meta_ttl > 0
        for key, size in zip(buckets, sizes, strict=True):
            if size:
                ttl = await redis.pttl(key)
                assert 0 < ttl <= meta_ttl + 50, (key, ttl, meta_ttl)
    for number in sample:
        if number in model.legacy:
            continue
        group = group_of(number)
        oldest = model.now - model.keep.get(group, 0)
        held = [(e.initial, e.token, e.charged_ms) for e in await read_ledger(redis, NS, number)
                if e.charged_ms > oldest]
        want = [(m[0], token_of(m), at) for m, at in model.ledger(number)]
        assert held == want, number


async def flush(redis: aioredis.Redis) -> None:
    if isinstance(redis, ClusterClient):
        await redis.flushall(target_nodes=ClusterClient.PRIMARIES)
    else:
        await redis.flushdb()


@settings(max_examples=120, deadline=None,
          phases=[Phase.reuse, Phase.generate, Phase.shrink],  # no explain: minutes
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(campaigns=st.tuples(campaign_strategy(0), campaign_strategy(1), campaign_strategy(2)),
       steps=st.lists(STEP, min_size=1, max_size=40))
async def test_the_script_answers_as_the_model(
    store: aioredis.Redis, campaigns: tuple[Campaign, ...], steps: list[Any],
) -> None:
    await flush(store)
    model, harness = Model(), Harness(store, list(campaigns))
    # Every group is first charged by the longest period, so that the model's eager
    # dropping and the script's lazy one agree (see the module's docstring).
    longest = Campaign("primer", FrequencyCap.model_validate(
        {"maxMessages": 1, "periodHours": LONGEST_HOURS}))
    primer = FrequencyCaps(store, CampaignKeys(NS, longest.name), longest.cap)
    primers = sorted({group_of(n): n for n in HOT + BULK + LEGACY}.items())
    for _, number in primers:
        member = cap_member(longest.name, "p", Category.VERIFICATION)
        assert model.charge(number, member, longest.cap)
        assert await primer.charge([CapCharge(number, "p", Category.VERIFICATION)],
                                   now_ms=model.now) == [True]
    for step in steps:
        kind = step[0]
        if kind == "tick":
            model.now += step[1]
        elif kind in ("charge", "bulk"):
            campaign = campaigns[step[1]]
            if kind == "charge":
                charges = [CapCharge(HOT[i], f"0/{m}-0", category)
                           for i, m, category in step[2]]
            else:
                # From where the last one stopped, or back over numbers charged.
                start = max(0, harness.bulk_next - step[3]) if step[3] else harness.bulk_next
                harness.bulk_next = max(harness.bulk_next, start + step[2]) % len(BULK)
                charges = [CapCharge(BULK[(start + i) % len(BULK)],
                                     f"1/{(start + i) % len(BULK)}-{step[4]}",
                                     CATEGORIES[i % 2]) for i in range(step[2])]
            want = [model.charge(c.number, cap_member(campaign.name, c.message, c.category),
                                 campaign.cap) for c in charges]
            got = await harness.caps[step[1]].charge(charges, now_ms=model.now)
            assert got == want, (step, model.now)
            harness.charged += [(step[1], c) for c, ok in zip(charges, got, strict=True) if ok]
            event(f"{kind}: some capped" if not all(want) else f"{kind}: all charged")
        elif kind == "refund":
            caps = harness.caps[step[1]]
            charges = [CapCharge(HOT[i], f"0/{m}-0", category) for i, m, category in step[2]]
            want = [model.refund(c.number, cap_member(caps.campaign.name, c.message,
                                                      c.category)) for c in charges]
            got = await harness.refund([caps.refund_of(c) for c in charges], model.now)
            assert got == want, (step, model.now)
            event(f"refund: {sum(want)} of {len(want)}")
        elif kind == "refund-charged":  # messages charged before, by their campaign
            if not harness.charged:
                continue
            picked = [harness.charged[i % len(harness.charged)] for i in step[1]]
            want = [model.refund(c.number, cap_member(campaigns[k].name, c.message,
                                                      c.category)) for k, c in picked]
            got = await harness.refund([harness.caps[k].refund_of(c) for k, c in picked],
                                       model.now)
            assert got == want, (step, model.now)
            event(f"refund-charged: {sum(want)} of {len(want)}")
        else:  # legacy: a number never charged yet, its ledger a sorted set
            number = LEGACY[harness.legacy_next]
            harness.legacy_next += 1
            keep = LONGEST_HOURS * HOUR_MS
            entries = [(cap_member(campaigns[i % 3].name, f"9/{m}-0", category),
                        model.now - ago) for (i, m, category), ago in step[1]]
            entries = list(dict(entries).items())
            await store.zadd(legacy_frequency_cap(NS, number),
                             dict(entries) | {KEEP_MEMBER: -keep})
            model.legacy[number] = (entries, keep)
            # Charged or refunded by campaign 0, message 9/0: read and converted.
            charge = CapCharge(number, "9/0-0", Category.MARKETING)
            member = cap_member(campaigns[0].name, charge.message, charge.category)
            if len(entries) % 2:
                want = [model.charge(number, member, campaigns[0].cap)]
                got = await harness.caps[0].charge([charge], now_ms=model.now)
            else:
                want = [model.refund(number, member)]
                got = await harness.refund([harness.caps[0].refund_of(charge)], model.now)
            assert got == want, (step, model.now)
            assert not await store.exists(legacy_frequency_cap(NS, number))
        await check_layout(store, model, HOT + BULK[harness.bulk_next - 5:harness.bulk_next])
