"""A run's counters sampled over time: the send and receipt rates `herald report` draws.

The operator appends one sample per status fold at most every few seconds
(OperatorConfig.timeline_sample_seconds) while the run's counters move; the list keeps
the newest TIMELINE_MAX samples (RPUSH then LTRIM, one key under the campaign's tag), so
a run's memory stays bounded whatever its length: at the default 10 s, the last 12
hours. It goes with the run (run_store.delete_run).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from sender.store.keys import CampaignKeys

TIMELINE_MAX = 4320
"""Samples kept per run: 12 hours at one every 10 s; about 40 bytes each."""


@dataclass(frozen=True)
class TimelineSample:
    """The run's running totals at one moment."""

    at: float
    """Unix time of the fold."""
    sent: int
    """counters.sent: accepted by the SMSC so far."""
    delivered: int
    failed: int
    expired: int

    def encode(self) -> str:
        return f"{self.at:.3f} {self.sent} {self.delivered} {self.failed} {self.expired}"

    @classmethod
    def decode(cls, text: str) -> TimelineSample | None:
        """A stored sample, or None for one this version cannot read."""
        parts = text.split()
        if len(parts) != 5:
            return None
        try:
            return cls(float(parts[0]), *(int(p) for p in parts[1:]))
        except ValueError:
            return None


async def append_sample(redis: Redis, keys: CampaignKeys, sample: TimelineSample,
                        most: int = TIMELINE_MAX) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.rpush(keys.timeline, sample.encode())
        pipe.ltrim(keys.timeline, -most, -1)
        await pipe.execute()


async def read_timeline(redis: Redis, keys: CampaignKeys) -> list[TimelineSample]:
    """The run's samples, oldest first; empty when it has none (or no run)."""
    raw = await redis.lrange(keys.timeline, 0, -1)
    found = (TimelineSample.decode(r if isinstance(r, str) else r.decode()) for r in raw)
    return [sample for sample in found if sample is not None]
