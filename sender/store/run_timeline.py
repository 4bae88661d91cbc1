"""A run's counters sampled over time: the send and receipt rates `herald report` draws.

The operator appends one sample per status fold at most every few seconds
(OperatorConfig.timeline_sample_seconds) while the run's counters move. The list never
holds more than TIMELINE_MAX samples: once full, one script (one key under the
campaign's tag) keeps every other sample, the first and the newest among them, and the
operator samples less often as the run grows longer
(controllers.decisions.campaign_stats.timeline_interval). So a run's memory stays
bounded whatever its length, and its samples still span the whole of it. It goes with
the run (run_store.delete_run).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from sender.store.keys import CampaignKeys

TIMELINE_MAX = 4320
"""Samples kept per run at most (12 hours at one every 10 s; about 40 bytes each)."""

# Append a sample; when the list is over `most`, keep every other one (and the newest).
# The oldest sample back: its time is when the timeline starts.
_APPEND_LUA = """
local n = redis.call("RPUSH", KEYS[1], ARGV[1])
if n > tonumber(ARGV[2]) then
  local all = redis.call("LRANGE", KEYS[1], 0, -1)
  local kept = {}
  for i = 1, #all, 2 do kept[#kept + 1] = all[i] end
  if #all % 2 == 0 then kept[#kept + 1] = all[#all] end
  redis.call("DEL", KEYS[1])
  for i = 1, #kept, 500 do
    redis.call("RPUSH", KEYS[1], unpack(kept, i, math.min(i + 499, #kept)))
  end
end
return redis.call("LINDEX", KEYS[1], 0)
"""


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
                        most: int = TIMELINE_MAX) -> float:
    """Append `sample` (thinning the list when full); the oldest sample's time."""
    script = redis.register_script(_APPEND_LUA)
    first = await script(keys=[keys.timeline], args=[sample.encode(), most])
    oldest = TimelineSample.decode(first if isinstance(first, str) else first.decode())
    return oldest.at if oldest is not None else sample.at


async def read_timeline(redis: Redis, keys: CampaignKeys) -> list[TimelineSample]:
    """The run's samples, oldest first; empty when it has none (or no run)."""
    raw = await redis.lrange(keys.timeline, 0, -1)
    found = (TimelineSample.decode(r if isinstance(r, str) else r.decode()) for r in raw)
    return [sample for sample in found if sample is not None]
