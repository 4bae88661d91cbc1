"""`herald send`: the sender pod's process, sending one shard of one campaign.

    herald send --campaign NS/NAME [--shard I]  the run's config from Redis
                                                (HERALD_REDIS_URL), the shard from
                                                JOB_COMPLETION_INDEX

The run's config (sender.run_config.RunConfig, written by the operator) is all a sender
needs besides its shard number and the SMPP passwords, which come from
HERALD_SMPP_PASSWORD (the first channel's Secret), HERALD_SMPP_PASSWORD_1 (the second's)
and so on. A shard has a lane for each of the run's channels (sender.sms.lanes): the pod
sends them side by side, each through its channel's binds and rate limit, so a slow
channel holds back no other. The bench and the tests write a RunConfig too, so everyone
starts the engine the same way (`run_shard`, one lane).

It prints one JSON line of figures when the shard is done, each lane's by its channel.
SIGTERM (a pod being stopped, a campaign paused) stops it gracefully: nothing new is
marked, what is on the wire settles, and what was read but not sent stays pending for
the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from redis.exceptions import ClusterDownError, MasterDownError, ReadOnlyError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from crds.channel import SourceSelection
from sender.collector import tune_collector
from sender.metrics import serve_metrics
from sender.run_config import RunConfig, TlsMaterial, for_channel
from sender.send.failover import LaneBoard, LaneFailOver
from sender.send.messages import MessageBuilder
from sender.send.outgoing import ShardSettings
from sender.send.shard_sender import ShardSender
from sender.signals import install_stop_signals
from sender.sms.send_times import SendTimes
from sender.store.client import Redis, connect_from_env, kernel_timeouts
from sender.store.keys import CampaignKeys, ChannelKeys, campaign_from_ref
from sender.store.rate_limit import RateLimiter, campaign_bucket, channel_bucket
from sender.store.run_store import read_run

logger = logging.getLogger(__name__)


def smpp_password(env: Mapping[str, str] | None = None, channel: int = 0) -> str:
    """The SMPP password of the run's channel `channel`, from HERALD_SMPP_PASSWORD (the
    first's Secret) or HERALD_SMPP_PASSWORD_<channel>."""
    variable = for_channel("HERALD_SMPP_PASSWORD", channel)
    password = (os.environ if env is None else env).get(variable)
    if password is None:
        raise SystemExit(f"herald send: {variable} is not set")
    return password.strip()  # as the operator's bind check reads it


def tls_material(env: Mapping[str, str] | None = None, channel: int = 0) -> TlsMaterial:
    """The TLS files of the run's channel `channel`, as the Job mounts them (none
    without TLS)."""
    try:
        return TlsMaterial.from_env(os.environ if env is None else env, channel)
    except (OSError, UnicodeDecodeError) as error:
        raise SystemExit(f"herald send: cannot read the channel's TLS files: {error}") from None


async def run_shard(run: RunConfig, shard: int, redis: Redis, password: str,
                    stop: asyncio.Event | None = None, *,
                    tls: TlsMaterial | None = None,
                    board: LaneBoard | None = None) -> dict[str, Any]:
    """Send one lane of a run (`shard`: its stream, sender.sms.lanes; with one channel,
    the shard); return the figures (`stopped` when `stop` cut it short). With several
    channels, its messages fail over to the next channel's lane (sender.send.failover);
    `board`: the lanes sent beside it, which this one waits for and wakes.

    Everything comes from the run's config, as the operator wrote it to Redis: the
    templates, the lane's channel's SMPP target, its rate and retry policy, the
    campaign's rate cap and frequency cap.
    """
    channel = run.channel_of(shard)
    smpp = channel.smpp
    channel_keys = ChannelKeys(run.campaign.namespace, channel.name)
    campaign = CampaignKeys(run.campaign.namespace, run.campaign.name)
    limiter = RateLimiter(
        redis, channel_bucket(channel_keys.namespace, channel_keys.name, channel.rate,
                              channel.burst),
        campaign=(campaign_bucket(campaign.namespace, campaign.name, run.campaign_rate)
                  if run.campaign_rate else None),
    )
    sources = smpp.sources  # the pool, or the one sourceAddr
    builder = MessageBuilder(run.templates, sources[0], gsm7_coding=smpp.gsm7_coding,
                             receipts=run.receipts)
    settings = ShardSettings(
        campaign, shard, channel_keys, channel.name,
        max_attempts=channel.max_attempts, initial_backoff=channel.initial_backoff_seconds,
        max_backoff=channel.max_backoff_seconds, resend_unknown=channel.resend_unknown,
        overrides=channel.error_overrides, max_binds=smpp.max_binds,
        replies=smpp.reply_rules(), respect_opt_outs=run.audience.respect_opt_outs,
        frequency_cap=run.frequency_cap, follow=run.follow,
        variant=run.rest_variant if run.lanes.is_rest(shard) else None,
        fail_over=LaneFailOver(run.lanes, shard, tuple(c.name for c in run.channels),
                               run.router(), channel.fail_over, board)
        if len(run.channels) > 1 else None,
        # Always, even with no rules yet: an edited spec may add some while it runs.
        send_times=SendTimes(run.send_times.rules()),
        sources=sources, sticky_sources=smpp.source_selection == SourceSelection.STICKY,
        links=run.links,
    )
    binds = smpp.sender_binds(password, tls)
    started = time.monotonic()
    async with ShardSender(redis, settings, builder, binds, limiter) as sender:
        sending = asyncio.create_task(sender.run())
        stopper = asyncio.create_task((stop or asyncio.Event()).wait())
        done, _ = await asyncio.wait({sending, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopped = sending not in done
        if stopped:
            sender.stop_reading()
            await sending
        stopper.cancel()
        sent_at = time.monotonic()
        if board is not None:  # it moves no more: the lanes after it need not wait
            board.finished(shard)  # for its receipts too (send_lanes says so again)
        if run.receipt_wait_seconds and not stopped and sending.exception() is None:
            await sender.wait_for_receipts(run.receipt_wait_seconds)
    # Once the binds are down: what came in as they closed is counted (receipts_unmatched).
    figures = dataclasses.asdict(sending.result())
    figures["redis_flushes"] = sender.writer.flushes
    figures["limiter_redis_calls"] = limiter.stats.redis_calls
    figures["send_time_zones"] = settings.send_times.zones() if settings.send_times else []
    figures["stopped"] = stopped
    figures["seconds"] = round(sent_at - started, 3)
    # The first submit written to the last response read: what an SMPP client's rate is
    # measured over, with no bind, recovery or shutdown in it.
    figures["seconds_submitting"] = round(max(0.0, sender.last_answer - sender.first_write), 3)
    figures["seconds_to_first_submit"] = round(
        sender.first_write - started if sender.first_write else 0.0, 3)
    figures["seconds_with_receipts"] = round(time.monotonic() - started, 3)
    return figures


REDIS_OUTAGE_SECONDS = 120.0
"""How long a sender waits for Redis to come back (a Sentinel failover, a restart)
before it exits with the error."""
RECOVERED_SECONDS = 10.0
"""A start that ran this long before Redis failed again had recovered: the patience
starts over."""
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, ClusterDownError,
                TryAgainError, MasterDownError)
"""Redis away, a demoted master refusing writes while Sentinel fails over, a cluster
moving its slots."""


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
        attempt_started = time.monotonic()
        try:
            return await send()
        except REDIS_ERRORS as error:
            now = time.monotonic()
            if now - attempt_started > RECOVERED_SECONDS:
                delay, outage_since = 0.2, 0.0  # it ran a while: a new outage, not the last
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


def campaign_main(ref: str, shard: int | None, rest: bool = False) -> int:
    """The sender Job's pod: the run from Redis, the shard from the completion index
    (`rest`: of a winner campaign's rest streams, sent once the winner is chosen).

    Exits 0 only when the shard is done. Stopped early (a paused or cancelled campaign,
    a drained node) it exits 143, so a Job does not count the shard as completed.
    """
    if shard is None:
        index = os.environ.get("JOB_COMPLETION_INDEX")
        if index is None:
            raise SystemExit("herald send: no --shard and no JOB_COMPLETION_INDEX")
        shard = int(index)
    completion: int = shard  # narrowed, for the closure below
    structlog.contextvars.bind_contextvars(campaign=ref, shard=shard)
    serve_metrics()  # HERALD_METRICS_PORT, 9090 by default

    async def serve() -> dict[str, Any]:
        stop = asyncio.Event()
        install_stop_signals(asyncio.get_running_loop(), stop.set)
        redis = connect_from_env(**kernel_timeouts())
        try:
            run = await load_run(redis, ref, completion, completion if rest else None)
            credentials = [(smpp_password(channel=i), tls_material(channel=i))
                           for i in range(len(run.channels))]
            return await send_lanes(run, run.lanes.of_shard(completion, rest), redis,
                                    credentials, stop)
        finally:
            await redis.aclose()

    figures: dict[str, Any] = {"stopped": True}
    tune_collector()
    with contextlib.suppress(KeyboardInterrupt):
        figures = asyncio.run(serve())
        print(json.dumps(figures), flush=True)
    return STOPPED_EXIT if figures["stopped"] else 0


async def send_lanes(run: RunConfig, lanes: list[int], redis: Redis,
                     credentials: list[tuple[str, TlsMaterial]], stop: asyncio.Event,
                     ) -> dict[str, Any]:
    """Send a shard's lanes at once, each riding out Redis outages on its own; the
    figures by channel, `stopped` when any lane was cut short."""
    board = LaneBoard()
    for stream in lanes:
        board.start(stream)

    async def lane(stream: int) -> dict[str, Any]:
        index = run.lanes.channel_of(stream)
        password, tls = credentials[index]
        structlog.contextvars.bind_contextvars(
            channel=f"{run.campaign.namespace}/{run.channels[index].name}", stream=stream)
        try:
            return await ride_out_redis_outages(
                lambda: run_shard(run, stream, redis, password, stop, tls=tls, board=board),
                stop)
        finally:
            board.finished(stream)  # also when it failed: the others do not wait for it

    # Each lane in its own task: its log context (channel, stream) stays its own.
    figures = await asyncio.gather(*(lane(stream) for stream in lanes))
    by_channel = {run.channel_of(stream).name: f for stream, f in zip(lanes, figures,
                                                                       strict=True)}
    return {"stopped": any(f.get("stopped") for f in figures), "lanes": by_channel}


async def load_run(redis: Redis, ref: str, shard: int, rest: int | None = None) -> RunConfig:
    """The run; `rest` a rest shard's index, which needs the winner chosen."""
    run = (await read_run(redis, campaign_from_ref(ref))).config
    if run is None:
        raise SystemExit(f"herald send: no run of campaign {ref} in Redis")
    if rest is not None:
        if not run.rest_released or not run.lanes.rest:
            raise SystemExit(f"herald send: campaign {ref} has no winner or passed canary"
                             " to send the rest")
        if rest >= run.shards:
            raise SystemExit(f"herald send: rest shard {rest} of a run with {run.shards}")
        return run
    if shard >= run.shards:
        raise SystemExit(f"herald send: shard {shard} of a run with {run.shards} shards")
    return run
