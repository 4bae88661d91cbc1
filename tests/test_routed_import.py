"""Routing at import, against a real redis-server: each number lands in the lane of its
shard and of the first channel that serves it (by country, E.164 prefix and carrier,
三网分流), unavailable channels are passed over, and numbers no channel serves are
counted unroutable by country, never queued."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from crds.campaign import ColumnMapping
from sender.importer.shards import import_audience
from sender.run_config import RunConfig
from sender.sms.lanes import Lanes
from sender.sms.numbers import shard_of
from sender.store.keys import CampaignKeys
from sender.store.transitions import read_counters
from tests.run_configs import run_config

KEYS = CampaignKeys("shop", "three-networks")
SHARDS = 2

MOBILE = ["+8613800138000", "+8613912345678", "+8615012345678"]  # China Mobile ranges
UNICOM = ["+8618612345678", "+8613012345678"]
TELECOM = ["+8618912345678", "+8613312345678"]
US, HK = ["+14155552671", "+12025550123"], ["+85291234567"]


def routed_run(*channels: dict[str, Any], unavailable: tuple[str, ...] = ()) -> RunConfig:
    """A run of SHARDS shards over `channels` (name and routing), in this order."""
    run = run_config(KEYS.namespace, KEYS.name, port=2775, shards=SHARDS)
    one = run.channels[0]
    return run.model_copy(update={
        "channels": [one.model_copy(update={"name": c["name"], "routing": one.routing.model_copy(
            update={k: v for k, v in c.items() if k != "name"})}) for c in channels],
        "unavailable": list(unavailable)})


async def import_routed(redis: aioredis.Redis, run: RunConfig, numbers: list[str]) -> None:
    await import_audience(redis, KEYS, [{"phone": n} for n in numbers], shards=run.shards,
                          columns=ColumnMapping(), default_region="CN",
                          channels=[c.name for c in run.channels], router=run.import_router())


async def lanes_of(redis: aioredis.Redis, run: RunConfig) -> dict[str, set[str]]:
    """The numbers queued for each channel, checking each sits in its own shard's lane."""
    lanes = Lanes(run.shards, len(run.channels))
    found: dict[str, set[str]] = {c.name: set() for c in run.channels}
    for lane in range(lanes.streams):
        entries: Any = await redis.xrange(KEYS.shard(lane))
        for _, fields in entries:
            assert shard_of(fields["n"], run.shards) == lane % run.shards
            found[run.channel_of(lane).name].add(fields["n"])
    return found


THREE_NETWORKS = ({"name": "cmcc", "carriers": ["China Mobile"]},
                  {"name": "unicom", "carriers": ["中国联通"]},
                  {"name": "telecom", "countries": ["CN"], "carriers": ["China Telecom"]})


@pytest.mark.parametrize("channels, unavailable, expected", [
    pytest.param(THREE_NETWORKS, (), {"cmcc": MOBILE, "unicom": UNICOM, "telecom": TELECOM},
                 id="three-networks-by-carrier"),
    pytest.param(({"name": "138", "prefixes": ["+86138", "+86139"]},
                  {"name": "cn", "countries": ["CN"]}, {"name": "world"}), (),
                 {"138": MOBILE[:2], "cn": [MOBILE[2], *UNICOM, *TELECOM], "world": US + HK},
                 id="prefix-then-country-then-any"),
    pytest.param(({"name": "cn", "countries": ["CN"]}, {"name": "backup"}), ("cn",),
                 {"cn": [], "backup": MOBILE + UNICOM + TELECOM + US + HK},
                 id="an-unavailable-channel-is-passed-over"),
    # What only the unavailable channel serves waits in its lane, not counted unroutable.
    pytest.param(({"name": "cn", "countries": ["CN"]}, {"name": "world", "countries": ["US"]}),
                 ("cn",), {"cn": MOBILE + UNICOM + TELECOM, "world": US},
                 id="what-only-an-unavailable-channel-serves-waits-for-it"),
])
async def test_each_number_is_queued_for_the_first_channel_that_serves_it(
        redis: aioredis.Redis, channels: tuple[dict[str, Any], ...],
        unavailable: tuple[str, ...], expected: dict[str, list[str]]) -> None:
    run = routed_run(*channels, unavailable=unavailable)
    await import_routed(redis, run, MOBILE + UNICOM + TELECOM + US + HK)

    assert await lanes_of(redis, run) == {name: set(n) for name, n in expected.items()}
    fields = {k: int(v) for k, v in (await redis.hgetall(KEYS.counters)).items()}
    assert {name: fields.get(f"channel:{name}:total", 0) for name in expected} == {
        name: len(numbers) for name, numbers in expected.items()}
    routed = sum(len(numbers) for numbers in expected.values())
    assert fields.get("unroutable", 0) == fields["total"] - routed  # three networks: no US


async def test_numbers_no_channel_serves_are_counted_unroutable_by_country(
        redis: aioredis.Redis) -> None:
    run = routed_run(*THREE_NETWORKS)
    await import_routed(redis, run, MOBILE + US + HK + ["+8613800138000"])  # one duplicate

    counters = await read_counters(redis, KEYS)
    assert (counters.total, counters.unroutable, counters.suppressed, counters.queued) == (
        7, 3, 1, 3)
    fields = cast(dict[str, str], await redis.hgetall(KEYS.counters))
    assert Counter({k: int(v) for k, v in fields.items() if k.startswith("unroutable:")}) == {
        "unroutable:US": 2, "unroutable:HK": 1}
    assert await lanes_of(redis, run) == {"cmcc": set(MOBILE), "unicom": set(), "telecom": set()}


def test_one_channel_that_serves_any_number_needs_no_router() -> None:
    assert routed_run({"name": "any"}).import_router() is None
    assert routed_run({"name": "cn", "countries": ["CN"]}).import_router() is not None
    assert routed_run({"name": "a"}, {"name": "b"}).import_router() is not None


@pytest.mark.parametrize("lanes, lane, shard, channel, rest", [
    pytest.param(Lanes(4), 3, 3, 0, False, id="one-channel-is-the-old-layout"),
    pytest.param(Lanes(4, rest=True), 6, 2, 0, True, id="one-channel-rest-after-the-shards"),
    pytest.param(Lanes(4, 3), 9, 1, 2, False, id="third-channel"),
    pytest.param(Lanes(4, 3, rest=True), 13, 1, 0, True, id="rest-of-the-first-channel"),
])
def test_lanes_layout(lanes: Lanes, lane: int, shard: int, channel: int, rest: bool) -> None:
    assert lanes.lane(shard, channel, rest) == lane
    assert (lanes.channel_of(lane), lanes.is_rest(lane), lane % lanes.shards) == (
        channel, rest, shard)
    assert lane in lanes.of_shard(shard, rest)
    assert lanes.streams == lanes.shards * lanes.channels * (2 if lanes.rest else 1)


def test_a_run_written_with_one_channel_reads_as_a_run_of_it() -> None:
    body = routed_run({"name": "any"}).model_dump(mode="json")
    body["channel"] = body.pop("channels")[0]
    old = RunConfig.model_validate(body)
    assert [c.name for c in old.channels] == ["any"] and old.streams == SHARDS


async def test_routed_numbers_are_counted_by_channel_and_country(redis: aioredis.Redis) -> None:
    """The pre-send plan prices each channel's messages by country (campaign_presend)."""
    run = routed_run({"name": "cn", "countries": ["CN"]}, {"name": "world"})
    await import_routed(redis, run, MOBILE + US + HK + [MOBILE[0]])  # one duplicate

    fields = cast(dict[str, str], await redis.hgetall(KEYS.counters))
    assert {k: int(v) for k, v in fields.items() if ":country:" in k} == {
        "channel:cn:country:CN": 3, "channel:world:country:US": 2,
        "channel:world:country:HK": 1}
