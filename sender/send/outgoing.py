"""What a shard sender works with: its settings, one message in flight, its figures, the
settle window that bounds what a crash can leave unknown, what a failed submit means,
and its gauges (sender.send.shard_sender)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crds.campaign import FrequencyCap
from crds.channel import ErrorClass, PooledSourceAddress
from sender import metrics
from sender.run_config import LinkSettings
from sender.send.failover import LaneFailOver
from sender.smpp import errors
from sender.smpp.bind import SmppBind
from sender.sms.replies import ReplyRules
from sender.sms.send_times import SendTimes
from sender.store.keys import CampaignKeys, ChannelKeys
from sender.store.rate_limit import RateLimiter


@dataclass(frozen=True)
class ShardSettings:
    campaign: CampaignKeys
    shard: int
    channel: ChannelKeys
    channel_name: str
    consumer: str = ""
    read_batch: int = 500
    flush_interval: float = 0.02
    max_attempts: int = 3
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    resend_unknown: bool = False
    overrides: Mapping[int, ErrorClass] = field(default_factory=dict)
    max_binds: int = 0
    """The channel's cap on binds across all pods (spec.maxBinds); 0: no cap (bench)."""
    replies: ReplyRules = field(default_factory=ReplyRules)
    """How replies on the channel are read (its defaultRegion and opt-in keywords)."""
    respect_opt_outs: bool = True
    """Skip numbers in the opt-out set (off only for Verification campaigns)."""
    frequency_cap: FrequencyCap | None = None
    """The campaign's compliance.frequencyCap, charged as messages go out
    (sender.store.frequency_caps); None: no cap, nothing recorded."""
    send_times: SendTimes | None = None
    """When messages may go (send window, quiet hours) and the clock they are held to;
    None: any time."""
    window_poll_seconds: float = 1.0
    """How often held messages and a closed window are looked at again."""
    follow: bool = False
    """Keep reading the stream once it is drained, for entries still to come (a trigger
    Api campaign's), until stopped; else the shard is done when it is drained."""
    variant: str | None = None
    """Send and count every entry as this variant (a winner campaign's rest, with the
    winner's template); None: each as its own (field v)."""
    fail_over: LaneFailOver | None = None
    """Where the lane's messages go when they leave its channel (a run of several
    channels, sender.send.failover); None: they never leave it."""
    sources: Sequence[PooledSourceAddress] = ()
    """The channel's sender addresses (smpp.sourceAddresses, or its one sourceAddr);
    empty: every message from the builder's address (tests, bench)."""
    sticky_sources: bool = False
    """sourceSelection Sticky: each number keeps its address across campaigns."""
    links: LinkSettings | None = None
    """Short links of the templates' {link:URL} (sender.send.link_codes); None: none."""


@dataclass(eq=False)
class Outgoing:
    """One recipient's message while this process handles it."""

    key: str
    phone: str
    variant: str
    pdus: list[bytes]
    """Its submit_sm bodies, one a part (MessageBuilder.bodies); the bind adds each
    header and sequence number as it writes them, at every attempt."""
    # Those the reader gives, right after the four it must: passed by position, as a
    # keyword argument costs 0.13 us more a message.
    zone: str = ""
    """Its recipient's time zone ("": the campaign's), with send times."""
    closes_at: float = float("inf")
    """When its send time ends (a timestamp on the send times' clock): due later, it
    is held back instead of sent."""
    source: str = ""
    """The sender address its PDUs carry (one of the channel's pool)."""
    attempts: int = 0
    parts_left: int = 0
    smsc_ids: list[str] = field(default_factory=list)
    """Each part's SMSC id in this attempt, in part order; "" until the SMSC accepts it."""
    failure: int = 0
    sent_at: float = 0.0
    """time.monotonic() when its submit_sm went out (for the latency metric)."""
    charged: bool = False
    """Its frequency cap charge is made (with a cap, it goes out only then)."""

    @property
    def accepted(self) -> int:
        """Parts the SMSC accepted in this attempt (segments a carrier bills)."""
        ids = self.smsc_ids  # a part not accepted has "": counted in C, not a generator
        return len(ids) - ids.count("")


@dataclass
class ShardStats:
    read: int = 0
    sent: int = 0
    submitted: int = 0
    failed: int = 0
    unknown: int = 0
    resent_unknown: int = 0
    """Unanswered submits sent again (resendUnknown: at-least-once)."""
    failed_over: int = 0
    """Moved to the lane of a later channel (sender.send.failover)."""
    throttled: int = 0
    retried: int = 0
    opted_out: int = 0
    capped: int = 0
    """Not sent: the number had reached the campaign's frequency cap."""
    cap_refunds: int = 0
    """Charges given back: the SMSC refused the message for good."""
    cap_calls: int = 0
    """Cap script calls (one per slot group of each charged batch)."""
    cap_waits: int = 0
    """Dispatch turns that waited for a charge (the head of the line was not charged)."""
    held: int = 0
    """Times a message was held back for its send time (one may be held twice)."""
    receipts: int = 0
    receipts_unmatched: int = 0
    replies: int = 0
    recovered: int = 0


class SettleWindow:
    """Slots held from a message's `submitting` mark until its outcome is durable.

    What it bounds is what Redis holds: marked messages whose outcome is not written. A
    slot whose outcome is buffered (`settling`) may go to a new message at once: the
    new mark is buffered after that outcome, so it is written in the same flush (one
    transitions.lua call, atomic) or a later one, never before it. The send loop then
    need not wait for one flush to free the slots and another to mark their successors.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.held = 0
        self.settling_now = 0
        """Of `held`, slots whose outcome is buffered or being flushed."""
        self._freed = asyncio.Event()

    async def take(self, wanted: int, at_least: int = 1) -> int:
        """Wait for `at_least` free slots (no more than the window holds); hold up to
        `wanted`."""
        at_least = max(1, min(at_least, wanted, self.size))
        while self.size + self.settling_now - self.held < at_least:
            self._freed.clear()
            await self._freed.wait()
        taken = min(wanted, self.size + self.settling_now - self.held)
        self.held += taken
        return taken

    def give(self, count: int = 1) -> None:
        self.held -= count
        self._freed.set()

    def settling(self, count: int = 1) -> None:
        """`count` held slots' outcomes are buffered in the state writer: call `settled`
        once for each when it is durable."""
        self.settling_now += count
        self._freed.set()

    def settled(self) -> None:
        self.settling_now -= 1
        self.held -= 1  # give's, without its call: once a message
        self._freed.set()


def after_failure(status: int, attempts: int, settings: ShardSettings
                  ) -> tuple[ErrorClass, float]:
    """sender.smpp.errors.after_failure with the shard's channel's retry policy."""
    return errors.after_failure(status, attempts, max_attempts=settings.max_attempts,
                                initial_backoff=settings.initial_backoff,
                                max_backoff=settings.max_backoff, overrides=settings.overrides)


def resend_lost(attempts: int, settings: ShardSettings) -> bool:
    """sender.smpp.errors.resend_lost with the shard's channel's policy."""
    return errors.resend_lost(attempts, resend_unknown=settings.resend_unknown,
                              max_attempts=settings.max_attempts)


class SenderGauges:
    """This process's binds up and its rate-limit token counts, exported once a second."""

    def __init__(self, channel_ref: str, binds: Sequence[SmppBind], limiter: RateLimiter
                 ) -> None:
        self._channel_ref = channel_ref
        self._binds = binds
        self._limiter = limiter
        self._tokens_seen = (0, 0, 0)  # granted, asked, expired: exported as deltas

    def export(self) -> None:
        metrics.BINDS_UP.labels(self._channel_ref, "sender").set(
            sum(1 for b in self._binds if b.is_up))
        stats = self._limiter.stats
        now = (stats.granted, stats.asked, stats.expired)
        granted, asked, expired = (a - b for a, b in zip(now, self._tokens_seen, strict=True))
        self._tokens_seen = now
        for result, count in (("granted", granted), ("denied", asked - granted),
                              ("expired", expired)):
            if count > 0:
                metrics.TOKENS.labels(self._channel_ref, result).inc(count)
