"""`herald send` / `herald sender`: the sender pod's process, sending one shard of one campaign.

    herald send --campaign NS/NAME [--shard I]  the sender Job's pods: the run's config
                                                from Redis (HERALD_REDIS_URL), the shard
                                                from JOB_COMPLETION_INDEX
    herald sender --config sender.json          a SenderConfig file (bench, by hand)

The SMPP password comes from HERALD_SMPP_PASSWORD (the channel's Secret) or the file
in smpp.passwordFile.

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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from crds.channel import ErrorClass
from crds.template import TemplateSpec
from sender.metrics import serve_metrics
from sender.run_config import RunConfig, SmppTarget
from sender.send.messages import MessageBuilder
from sender.send.shard_sender import ShardSender, ShardSettings
from sender.smpp.bind import BindSettings
from sender.store.client import Redis, connect
from sender.store.keys import CampaignKeys, ChannelKeys, campaign_from_ref
from sender.store.rate_limit import RateLimiter, campaign_bucket, channel_bucket
from sender.store.run_store import read_run

logger = logging.getLogger(__name__)


class Ref(BaseModel):
    namespace: str
    name: str


class SmppConfig(SmppTarget):
    """A channel's SMPP settings as the run carries them, plus where the password is."""

    password_file: str = ""
    """File holding the password (a mounted Secret); else HERALD_SMPP_PASSWORD."""


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
    return password.strip()  # as the operator's bind check reads it


def sender_config(run: RunConfig, shard: int, redis_url: str) -> SenderConfig:
    """A sender's settings for one shard of a run."""
    channel = run.channel
    smpp = channel.smpp
    return SenderConfig(
        redis_url=redis_url,
        campaign=Ref(namespace=run.campaign.namespace, name=run.campaign.name),
        shard=shard,
        channel=Ref(namespace=run.campaign.namespace, name=channel.name),
        channel_rate=channel.rate, channel_burst=channel.burst,
        campaign_rate=run.campaign_rate,
        smpp=SmppConfig.model_validate(smpp.model_dump()),
        templates=run.templates,
        receipt_wait_seconds=run.receipt_wait_seconds,
        max_attempts=channel.max_attempts,
        initial_backoff_seconds=channel.initial_backoff_seconds,
        max_backoff_seconds=channel.max_backoff_seconds,
        resend_unknown=channel.resend_unknown,
        error_overrides=channel.error_overrides,
    )


def _redis(url: str) -> Redis:
    return connect(url, os.environ.get("HERALD_REDIS_PASSWORD") or None)


async def run_sender(config: SenderConfig, stop: asyncio.Event | None = None) -> dict[str, Any]:
    """Send the shard; return the figures (`stopped` when a signal cut it short)."""
    redis = _redis(config.redis_url)
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
        overrides=config.error_overrides, max_binds=smpp.max_binds,
    )
    started = time.monotonic()
    try:
        async with ShardSender(redis, settings, builder, binds, limiter) as sender:
            run = asyncio.create_task(sender.run())
            stopper = asyncio.create_task((stop or asyncio.Event()).wait())
            done, _ = await asyncio.wait({run, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopped = run not in done
            if stopped:
                sender.stop_reading()
                await run
            stopper.cancel()
            sent_at = time.monotonic()
            if config.receipt_wait_seconds and not stopped:
                await sender.wait_for_receipts(config.receipt_wait_seconds)
            figures = dataclasses.asdict(run.result())
    finally:
        await redis.aclose()
    figures["stopped"] = stopped
    figures["seconds"] = round(sent_at - started, 3)
    figures["seconds_with_receipts"] = round(time.monotonic() - started, 3)
    return figures


REDIS_OUTAGE_SECONDS = 120.0
"""How long a sender waits for Redis to come back (a Sentinel failover, a restart)
before it exits with the error."""
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
"""Redis away, or a demoted master refusing writes while Sentinel fails over."""


async def ride_out_redis_outages(
    send: Callable[[], Awaitable[dict[str, Any]]], stop: asyncio.Event,
    *, patience: float = REDIS_OUTAGE_SECONDS,
) -> dict[str, Any]:
    """Run `send`; when Redis goes away, start it again once Redis answers.

    A new start recovers the shard as a restarted pod would (what was on the wire is
    counted unknown, nothing is sent twice), but without spending the Job's
    backoffLimit on a failover of a few seconds.
    """
    delay, outage_since = 0.2, 0.0
    while True:
        try:
            return await send()
        except REDIS_ERRORS as error:
            now = time.monotonic()
            outage_since = outage_since or now
            if stop.is_set():
                return {"stopped": True, "error": str(error)}
            if now - outage_since > patience:
                raise
            logger.warning("Redis unavailable (%s); starting over in %.1f s", error, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)


STOPPED_EXIT = 143  # 128 + SIGTERM: the shard is not done; the Job must not count it


def main(config_path: str) -> int:
    config = SenderConfig.model_validate_json(Path(config_path).read_text(encoding="utf-8"))
    return serve(config)


def campaign_main(ref: str, shard: int | None) -> int:
    """The sender Job's pod: the run from Redis, the shard from the completion index."""
    if shard is None:
        index = os.environ.get("JOB_COMPLETION_INDEX")
        if index is None:
            raise SystemExit("herald send: no --shard and no JOB_COMPLETION_INDEX")
        shard = int(index)
    url = os.environ.get("HERALD_REDIS_URL", "redis://127.0.0.1:6379/0")

    async def load() -> RunConfig:
        redis = _redis(url)
        try:
            run = await read_run(redis, campaign_from_ref(ref))
        finally:
            await redis.aclose()
        if run.config is None:
            raise SystemExit(f"herald send: no run of campaign {ref} in Redis")
        return run.config

    run = asyncio.run(load())
    if shard >= run.shards:
        raise SystemExit(f"herald send: shard {shard} of a run with {run.shards} shards")
    return serve(sender_config(run, shard, url))


def serve(config: SenderConfig) -> int:
    """Run one sender until its shard is done or a signal stops it; print its figures.

    Exits 0 only when the shard is done. Stopped early (a paused or cancelled campaign,
    a drained node) it exits 143, so a Job does not count the shard as completed.
    """
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve_metrics()  # HERALD_METRICS_PORT, 9090 by default

    async def serve() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await ride_out_redis_outages(lambda: run_sender(config, stop), stop)

    figures: dict[str, Any] = {"stopped": True}
    with contextlib.suppress(KeyboardInterrupt):
        figures = asyncio.run(serve())
        print(json.dumps(figures), flush=True)
    return STOPPED_EXIT if figures["stopped"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
