"""The sending half of `herald demo`: import the audience, send it, watch it land.

A real redis-server and the SMPP simulator on loopback; the example Campaign's
audience replaced by 10,000 generated recipients (some invalid, some duplicated,
some opted out); two shards sent by two ShardSenders, as two sender pods would,
sharing the channel's and the campaign's rate limits in Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from crds.campaign import Campaign, Counters
from crds.channel import Channel
from crds.template import TemplateSpec
from herald.localredis import running_redis
from sender.demo_audience import demo_opt_outs, demo_rows
from sender.message_build import MessageBuilder
from sender.message_states import read_counters
from sender.rate_limit import RateLimiter, campaign_bucket, channel_bucket
from sender.redis_keys import OPT_OUT_SET, CampaignKeys, ChannelKeys
from sender.shard_import import ImportReport, import_audience
from sender.shard_sender import ShardSender, ShardSettings
from sender.simulator import Simulator
from sender.simulator_config import SimulatorConfig
from sender.smpp_bind import BindSettings

RECIPIENTS = 10_000
SHARDS = 2
# Outcomes a real carrier might report, so the counters show more than "delivered".
SIMULATED_OUTCOMES = {"delivered": 0.95, "undeliverable": 0.03, "expired": 0.015,
                      "rejected": 0.005}


@dataclass
class SendResult:
    imported: ImportReport
    counters: Counters
    seconds: float
    breakdown: dict[str, int]


async def send_campaign(
    campaign: Campaign,
    channel: Channel,
    templates: dict[str, TemplateSpec],
    password: str,
    progress: Callable[[Counters, float], None],
) -> SendResult:
    """Import the generated audience and send it; report every ~0.2 s through `progress`."""
    namespace = campaign.metadata.namespace or "default"
    keys = CampaignKeys(namespace, campaign.metadata.name)
    channel_keys = ChannelKeys(namespace, channel.metadata.name)
    simulator_config = SimulatorConfig(
        port=0, receipt_delay_ms=20, seed=7, outcomes=SIMULATED_OUTCOMES,
        accounts=[{"system_id": channel.spec.smpp.system_id, "password": password}],
    )
    async with running_redis() as server, Simulator(simulator_config) as simulator:
        redis = aioredis.Redis.from_url(server.url)
        try:
            await redis.sadd(OPT_OUT_SET, *demo_opt_outs(RECIPIENTS))
            audience = campaign.spec.audience
            variants = [(v.name, v.weight) for v in campaign.spec.variants or []]
            imported = await import_audience(
                redis, keys, demo_rows(RECIPIENTS), shards=SHARDS, columns=audience.columns,
                default_region=audience.default_region or "CN", variants=variants,
            )
            smpp = channel.spec.smpp
            bind = BindSettings(
                host="127.0.0.1", port=simulator.port, system_id=smpp.system_id,
                password=password, window=smpp.window,
            )
            builder = MessageBuilder(templates, smpp.source_addr, gsm7_coding=smpp.gsm7_coding)
            rate = channel.spec.rate_limit
            cap = campaign.spec.rate_limit
            senders = [
                ShardSender(
                    redis,
                    ShardSettings(keys, shard, channel_keys, channel.metadata.name),
                    builder, [bind],
                    RateLimiter(
                        redis, channel_bucket(namespace, channel.metadata.name,
                                              rate.messages_per_second, rate.burst),
                        campaign=(campaign_bucket(namespace, campaign.metadata.name,
                                                  cap.messages_per_second) if cap else None),
                    ),
                )
                for shard in range(SHARDS)
            ]
            started = time.monotonic()
            watcher = asyncio.create_task(_watch(redis, keys, started, progress))
            try:
                async with senders[0], senders[1]:
                    await asyncio.gather(*(s.run() for s in senders))
                    await asyncio.gather(*(s.wait_for_receipts(10.0) for s in senders))
            finally:
                watcher.cancel()
            counters = await read_counters(redis, keys)
            progress(counters, time.monotonic() - started)
            fields: dict[bytes, bytes] = await redis.hgetall(keys.counters)  # type: ignore[assignment]
            breakdown = {k.decode(): int(v) for k, v in fields.items()
                         if k.startswith((b"variant:", b"error:"))}
            return SendResult(imported, counters, time.monotonic() - started, breakdown)
        finally:
            await redis.aclose()


async def _watch(
    redis: aioredis.Redis, keys: CampaignKeys, started: float,
    progress: Callable[[Counters, float], None],
) -> None:
    while True:
        progress(await read_counters(redis, keys), time.monotonic() - started)
        await asyncio.sleep(0.2)


def progress_line(counters: Counters, seconds: float) -> str:
    """[#########.........] 5,120/9,604 on the way · 4,870 delivered · 1,010 msg/s"""
    sendable = counters.total - counters.invalid - counters.suppressed - counters.opted_out
    done = sendable - counters.queued
    width = 30
    filled = int(width * done / sendable) if sendable else width
    rate = (done / seconds) if seconds > 0 else 0.0
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done:,}/{sendable:,} sent · "
            f"{counters.delivered:,} delivered · {counters.failed + counters.expired:,} failed"
            f" or expired · {rate:,.0f} msg/s")


def summary(result: SendResult) -> dict[str, Any]:
    """The counters as the Campaign's status would carry them."""
    c = result.counters
    finished = c.delivered + c.failed + c.expired
    ratio = f"{100 * c.delivered / finished:.1f}%" if finished else ""
    return {
        "counters": c.to_api(),
        "deliveryRatio": ratio,
        "variants": sorted({k.split(":")[1] for k in result.breakdown if k.startswith("variant:")}),
        "breakdown": result.breakdown,
        "invalidReasons": {r.value: count for r, count in result.imported.reasons.items()},
        "seconds": round(result.seconds, 2),
    }
