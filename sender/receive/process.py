"""`herald receiver`: the channel receiver Deployment's process.

    herald receiver --channel NS/NAME

Settings come from the environment the operator gives the Deployment:

    HERALD_CHANNEL_SMPP     the channel's SMPP settings (sender.run_config.SmppTarget, JSON)
    HERALD_CHANNEL_REPLIES  its keyword replies, when it has them (ReplyTarget, JSON)
    HERALD_SMPP_PASSWORD    the password, from the channel's Secret
    HERALD_SMPP_CA_FILE, HERALD_SMPP_CLIENT_CERT_FILE, HERALD_SMPP_CLIENT_KEY_FILE
                            the channel's TLS files, when it has them
    HERALD_REDIS_URL        Redis, with HERALD_REDIS_PASSWORD if it needs one
    HERALD_METRICS_PORT     /metrics (9090; 0: none)

It binds as a receiver (a transceiver, or a receiver and a transmitter, when it answers
keyword replies) and runs until SIGTERM, then flushes what it holds, unbinds and prints
one JSON line of figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from typing import TypeVar

import structlog
from pydantic import ValidationError

from crds.channel import Gsm7Coding
from sender.metrics import serve_metrics
from sender.receive.receiver import ChannelReceiver, ReceiverStats
from sender.run_config import ReplyTarget, SmppTarget, TlsMaterial
from sender.signals import install_stop_signals
from sender.smpp.bind import RECEIVER, TRANSCEIVER, TRANSMITTER, BindSettings, bind_modes
from sender.sms.replies import ReplyRules
from sender.store.client import connect_from_env
from sender.store.keys import channel_from_ref


def receiver_settings(smpp: SmppTarget, password: str,
                      tls: TlsMaterial | None = None) -> BindSettings:
    """A receiver bind: it takes deliver_sm only, so it submits nothing (window 1)."""
    return smpp.bind_settings(password, tls, mode=RECEIVER, window=1)


def answering_settings(smpp: SmppTarget, password: str, tls: TlsMaterial | None = None
                       ) -> tuple[BindSettings, BindSettings | None]:
    """The binds of a receiver that answers keywords: one transceiver, or (the channel's
    bindMode TransmitterAndReceiver) a receiver and a transmitter."""
    if bind_modes(smpp.mode)[0] == TRANSCEIVER:
        return smpp.bind_settings(password, tls, mode=TRANSCEIVER), None
    return (receiver_settings(smpp, password, tls),
            smpp.bind_settings(password, tls, mode=TRANSMITTER))


@dataclasses.dataclass(frozen=True)
class ReceiverSettings:
    bind: BindSettings
    max_binds: int
    replies: ReplyRules
    answers: ReplyTarget | None = None
    transmitter: BindSettings | None = None
    smpp: SmppTarget | None = None


M = TypeVar("M", SmppTarget, ReplyTarget)


def _model(kind: type[M], variable: str) -> M | None:
    raw = os.environ.get(variable)
    if not raw:
        return None
    try:
        return kind.model_validate_json(raw)
    except ValidationError as error:
        raise SystemExit(f"herald receiver: bad {variable}: {error}") from None


def load_settings() -> ReceiverSettings:
    """The binds' settings, the channel's cap on binds, how it reads and answers replies."""
    smpp = _model(SmppTarget, "HERALD_CHANNEL_SMPP")
    if smpp is None:
        raise SystemExit("herald receiver: HERALD_CHANNEL_SMPP is not set")
    answers = _model(ReplyTarget, "HERALD_CHANNEL_REPLIES")
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
    if answers is None:
        return ReceiverSettings(receiver_settings(smpp, password.strip(), tls),
                                smpp.max_binds, smpp.reply_rules(), smpp=smpp)
    bind, transmitter = answering_settings(smpp, password.strip(), tls)
    return ReceiverSettings(bind, smpp.max_binds, smpp.reply_rules(), answers, transmitter,
                            smpp)


async def run_receiver(channel_ref: str, settings: ReceiverSettings,
                       stop: asyncio.Event) -> ReceiverStats:
    redis = connect_from_env()
    try:
        receiver = ChannelReceiver(
            redis, channel_from_ref(channel_ref), settings.bind,
            max_binds=settings.max_binds, replies=settings.replies, answers=settings.answers,
            transmitter=settings.transmitter,
            coding=settings.smpp.gsm7_coding if settings.smpp else Gsm7Coding.SMSC_DEFAULT)
        return await receiver.run(stop)
    finally:
        await redis.aclose()


def main(channel_ref: str) -> int:
    if "/" not in channel_ref:
        raise SystemExit("herald receiver: --channel takes NAMESPACE/NAME")
    settings = load_settings()
    serve_metrics()

    async def serve() -> ReceiverStats:
        stop = asyncio.Event()
        install_stop_signals(asyncio.get_running_loop(), stop.set)
        structlog.contextvars.bind_contextvars(channel=channel_ref)
        return await run_receiver(channel_ref, settings, stop)

    with contextlib.suppress(KeyboardInterrupt):
        stats = asyncio.run(serve())
        print(json.dumps(dataclasses.asdict(stats)), flush=True)
    return 0
