"""`herald receiver`: the channel receiver Deployment's process.

    herald receiver --channel NS/NAME

Settings come from the environment the operator gives the Deployment:

    HERALD_CHANNEL_SMPP     the channel's SMPP settings (sender.run_config.SmppTarget, JSON)
    HERALD_SMPP_PASSWORD    the password, from the channel's Secret
    HERALD_SMPP_CA_FILE, HERALD_SMPP_CLIENT_CERT_FILE, HERALD_SMPP_CLIENT_KEY_FILE
                            the channel's TLS files, when it has them
    HERALD_REDIS_URL        Redis, with HERALD_REDIS_PASSWORD if it needs one
    HERALD_METRICS_PORT     /metrics (9090; 0: none)

It binds as a receiver and runs until SIGTERM, then flushes what it holds, unbinds and
prints one JSON line of figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os

import structlog
from pydantic import ValidationError

from sender.metrics import serve_metrics
from sender.receive.receiver import ChannelReceiver, ReceiverStats
from sender.run_config import SmppTarget, TlsMaterial
from sender.signals import install_stop_signals
from sender.smpp.bind import RECEIVER, BindSettings
from sender.sms.replies import ReplyRules
from sender.store.client import connect_from_env
from sender.store.keys import channel_from_ref


def receiver_settings(smpp: SmppTarget, password: str,
                      tls: TlsMaterial | None = None) -> BindSettings:
    """A receiver bind: it takes deliver_sm only, so it submits nothing (window 1)."""
    return smpp.bind_settings(password, tls, mode=RECEIVER, window=1)


def load_settings() -> tuple[BindSettings, int, ReplyRules]:
    """The bind's settings, the channel's cap on binds, how it reads replies."""
    raw = os.environ.get("HERALD_CHANNEL_SMPP")
    if not raw:
        raise SystemExit("herald receiver: HERALD_CHANNEL_SMPP is not set")
    try:
        smpp = SmppTarget.model_validate_json(raw)
    except ValidationError as error:
        raise SystemExit(f"herald receiver: bad HERALD_CHANNEL_SMPP: {error}") from None
    password = os.environ.get("HERALD_SMPP_PASSWORD")
    if password is None:
        raise SystemExit("herald receiver: HERALD_SMPP_PASSWORD is not set")
    # Stripped as the operator's bind check strips it: a Secret made from a file with
    # `kubectl create secret --from-file` ends the password with a newline.
    try:
        tls = TlsMaterial.from_env(os.environ)
    except (OSError, UnicodeDecodeError) as error:
        raise SystemExit(f"herald receiver: cannot read the channel's TLS files: {error}"
                         ) from None
    return receiver_settings(smpp, password.strip(), tls), smpp.max_binds, smpp.reply_rules()


async def run_receiver(channel_ref: str, bind: BindSettings, max_binds: int,
                       stop: asyncio.Event, replies: ReplyRules | None = None) -> ReceiverStats:
    redis = connect_from_env()
    try:
        receiver = ChannelReceiver(redis, channel_from_ref(channel_ref), bind,
                                   max_binds=max_binds, replies=replies)
        return await receiver.run(stop)
    finally:
        await redis.aclose()


def main(channel_ref: str) -> int:
    if "/" not in channel_ref:
        raise SystemExit("herald receiver: --channel takes NAMESPACE/NAME")
    bind, max_binds, replies = load_settings()
    serve_metrics()

    async def serve() -> ReceiverStats:
        stop = asyncio.Event()
        install_stop_signals(asyncio.get_running_loop(), stop.set)
        structlog.contextvars.bind_contextvars(channel=channel_ref)
        return await run_receiver(channel_ref, bind, max_binds, stop, replies)

    with contextlib.suppress(KeyboardInterrupt):
        stats = asyncio.run(serve())
        print(json.dumps(dataclasses.asdict(stats)), flush=True)
    return 0
