"""`herald sender`: the sender pod's process, sending one shard of one campaign.

    herald sender --config sender.json       (password from HERALD_SMPP_PASSWORD
                                               or the file in smpp.passwordFile)

It prints one JSON line of figures when the shard is done. SIGTERM (a pod being
stopped, a campaign paused) stops it gracefully: nothing new is marked, what is on
the wire settles, and what was read but not sent stays pending for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from crds.channel import ErrorClass, Gsm7Coding, SourceAddress
from crds.template import TemplateSpec
from sender.message_build import MessageBuilder
from sender.rate_limit import RateLimiter, campaign_bucket, channel_bucket
from sender.redis_keys import CampaignKeys, ChannelKeys
from sender.shard_sender import ShardSender, ShardSettings
from sender.smpp_bind import BindSettings


class Ref(BaseModel):
    namespace: str
    name: str


class SmppConfig(BaseModel):
    host: str
    port: int
    system_id: str
    password_file: str = ""
    """File holding the password (a mounted Secret); else HERALD_SMPP_PASSWORD."""
    system_type: str = ""
    mode: str = "Transceiver"
    window: int = 100
    binds: int = 1
    enquire_link_interval_seconds: int = 30
    response_timeout_seconds: int = 30
    source_addr: SourceAddress
    gsm7_coding: Gsm7Coding = Gsm7Coding.SMSC_DEFAULT


class SenderConfig(BaseModel):
    """Everything one sender needs; the operator writes it for each Job."""

    redis_url: str
    campaign: Ref
    shard: int = Field(ge=0)
    channel: Ref
    channel_rate: int = Field(ge=1)
    channel_burst: int = Field(default=1, ge=1)
    campaign_rate: int | None = None
    smpp: SmppConfig
    templates: dict[str, TemplateSpec]
    """By variant name ("" for a campaign without variants)."""
    receipts: bool = True
    receipt_wait_seconds: float = 0.0
    """How long to wait for receipts once all is sent (the channel receiver takes the rest)."""
    max_attempts: int = 3
    initial_backoff_seconds: int = 1
    max_backoff_seconds: int = 60
    resend_unknown: bool = False
    error_overrides: dict[int, ErrorClass] = Field(default_factory=dict)


def smpp_password(config: SmppConfig) -> str:
    if config.password_file:
        return Path(config.password_file).read_text(encoding="utf-8").strip()
    password = os.environ.get("HERALD_SMPP_PASSWORD")
    if password is None:
        raise SystemExit("herald sender: no SMPP password (HERALD_SMPP_PASSWORD or passwordFile)")
    return password


async def run_sender(config: SenderConfig, stop: asyncio.Event | None = None) -> dict[str, Any]:
    """Send the shard; return the figures."""
    redis = aioredis.Redis.from_url(config.redis_url)
    smpp = config.smpp
    password = smpp_password(smpp)
    binds = [
        BindSettings(
            host=smpp.host, port=smpp.port, system_id=smpp.system_id, password=password,
            system_type=smpp.system_type, mode=smpp.mode, window=smpp.window,
            enquire_link_interval=smpp.enquire_link_interval_seconds,
            response_timeout=smpp.response_timeout_seconds,
        )
        for _ in range(smpp.binds)
    ]
    channel = ChannelKeys(config.channel.namespace, config.channel.name)
    campaign = CampaignKeys(config.campaign.namespace, config.campaign.name)
    limiter = RateLimiter(
        redis,
        channel_bucket(channel.namespace, channel.name, config.channel_rate, config.channel_burst),
        campaign=(campaign_bucket(campaign.namespace, campaign.name, config.campaign_rate)
                  if config.campaign_rate else None),
    )
    builder = MessageBuilder(config.templates, smpp.source_addr, gsm7_coding=smpp.gsm7_coding,
                             receipts=config.receipts)
    settings = ShardSettings(
        campaign, config.shard, channel, config.channel.name,
        max_attempts=config.max_attempts, initial_backoff=config.initial_backoff_seconds,
        max_backoff=config.max_backoff_seconds, resend_unknown=config.resend_unknown,
        overrides=config.error_overrides,
    )
    started = time.monotonic()
    try:
        async with ShardSender(redis, settings, builder, binds, limiter) as sender:
            run = asyncio.create_task(sender.run())
            stopper = asyncio.create_task((stop or asyncio.Event()).wait())
            done, _ = await asyncio.wait({run, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if run not in done:
                sender.stop_reading()
                await run
            stopper.cancel()
            sent_at = time.monotonic()
            if config.receipt_wait_seconds and not (stop and stop.is_set()):
                await sender.wait_for_receipts(config.receipt_wait_seconds)
            figures = dataclasses.asdict(run.result())
    finally:
        await redis.aclose()
    figures["seconds"] = round(sent_at - started, 3)
    figures["seconds_with_receipts"] = round(time.monotonic() - started, 3)
    return figures


def main(config_path: str) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = SenderConfig.model_validate_json(Path(config_path).read_text(encoding="utf-8"))

    async def serve() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_sender(config, stop)

    with contextlib.suppress(KeyboardInterrupt):
        figures = asyncio.run(serve())
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
