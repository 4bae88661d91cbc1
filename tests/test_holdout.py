"""holdoutPercent: a stable share of the audience recorded and never sent, the
baseline a campaign's lift is measured against; independent of the A/B variants."""

from __future__ import annotations

from collections import Counter
from typing import cast

import pytest
import redis.asyncio as aioredis

from crds.campaign import ColumnMapping
from herald.local.stack import Stack
from sender.importer.report import read_import_report
from sender.importer.shards import import_audience
from sender.sms.variants import HoldoutPicker, VariantPicker
from sender.store.keys import CampaignKeys
from tests.test_campaign_operator import (
    CAMPAIGN,
    NS,
    TIMEOUT,
    campaign_body,
    counters_add_up,
    inline,
    stack,
    wait_delivered,
)

__all__ = ["stack"]  # the fixture: the local stack with the examples applied
KEYS = CampaignKeys("shop", "lift")
NUMBERS = [f"+86139{i:08d}" for i in range(20_000)]


@pytest.mark.parametrize("percent", [0, 5, 20, 50])
def test_the_holdout_is_its_share_of_numbers_and_stable(percent: int) -> None:
    held = [n for n in NUMBERS if HoldoutPicker(percent)(n)]
    assert abs(len(held) / len(NUMBERS) - percent / 100) < 0.01
    assert held == [n for n in NUMBERS if HoldoutPicker(percent)(n)]  # same every time


def test_the_holdout_does_not_lean_to_a_variant() -> None:
    variant, holdout = VariantPicker([("a", 50), ("b", 50)]), HoldoutPicker(20)
    per_variant = Counter(variant(n) for n in NUMBERS if holdout(n))
    assert abs(per_variant["a"] - per_variant["b"]) < 0.1 * sum(per_variant.values())


def test_a_bigger_holdout_keeps_the_smaller_ones_numbers() -> None:
    small = {n for n in NUMBERS if HoldoutPicker(5)(n)}
    assert small <= {n for n in NUMBERS if HoldoutPicker(10)(n)}


async def test_the_import_records_the_holdout_and_queues_the_rest(
    redis: aioredis.Redis,
) -> None:
    rows = [{"phone": n} for n in NUMBERS[:2000]]
    report = await import_audience(redis, KEYS, rows, shards=2, columns=ColumnMapping(),
                                   default_region="CN", variants=[("a", 50), ("b", 50)],
                                   holdout_percent=10)
    held = await redis.smembers(KEYS.holdout)
    assert held == {n for n in NUMBERS[:2000] if HoldoutPicker(10)(n)}
    assert 150 < report.holdout == len(held) < 250
    assert report.queued + report.holdout == 2000
    entries = [cast(list[tuple[str, dict[str, str]]], await redis.xrange(KEYS.shard(i)))
               for i in range(2)]
    queued = {fields["n"] for shard in entries for _, fields in shard}
    assert not queued & held
    assert report.variants["holdout"] == report.holdout
    assert report.variants["a"] + report.variants["b"] == report.queued
    again = await read_import_report(redis, KEYS)  # resumed: nothing counted twice
    assert again.holdout == report.holdout




@pytest.mark.timeout(180)
async def test_a_campaign_never_sends_to_its_holdout(stack: Stack) -> None:
    await stack.kube.create(campaign_body(audience=inline(200), holdoutPercent=25))
    await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
    status = (await wait_delivered(stack, 1))["status"]
    counters = status["counters"]
    held = {f"86138{i:08d}" for i in range(200) if HoldoutPicker(25)(f"+86138{i:08d}")}
    assert counters["holdout"] == len(held) > 20
    sent = {m.destination for m in stack.simulator.accepted}
    assert len(sent) == 200 - len(held) and not sent & held
    rows = {v["name"]: v["counters"] for v in status["variants"]}
    assert rows["holdout"]["total"] == rows["holdout"]["holdout"] == len(held)
    assert rows["discount"]["total"] + rows["reminder"]["total"] == 200 - len(held)
    counters_add_up(status)
    await wait_delivered(stack, 200 - len(held))
