"""What a shard sender works with: its settings, one message in flight, its figures, and
the settle window that bounds what a crash can leave unknown (sender.send.shard_sender)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from crds.channel import ErrorClass
from sender.smpp.pdu import SubmitSm
from sender.store.keys import CampaignKeys, ChannelKeys


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


@dataclass(eq=False)
class Outgoing:
    """One recipient's message while this process handles it."""

    key: str
    phone: str
    variant: str
    pdus: list[SubmitSm]
    attempts: int = 0
    parts_left: int = 0
    smsc_ids: list[str] = field(default_factory=list)
    failure: int = 0
    sent_at: float = 0.0
    """time.monotonic() when its submit_sm went out (for the latency metric)."""


@dataclass
class ShardStats:
    read: int = 0
    sent: int = 0
    submitted: int = 0
    failed: int = 0
    unknown: int = 0
    throttled: int = 0
    retried: int = 0
    opted_out: int = 0
    receipts: int = 0
    receipts_unmatched: int = 0
    replies: int = 0
    recovered: int = 0


class SettleWindow:
    """Slots held from a message's `submitting` mark until its outcome is durable."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.held = 0
        self._freed = asyncio.Event()

    async def take(self, wanted: int) -> int:
        while self.held >= self.size:
            self._freed.clear()
            await self._freed.wait()
        taken = min(wanted, self.size - self.held)
        self.held += taken
        return taken

    def give(self, count: int = 1) -> None:
        self.held -= count
        self._freed.set()
