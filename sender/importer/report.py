"""What an import did, read back from the campaign's import progress hash in Redis."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import redis.asyncio as aioredis

from sender.sms.numbers import DropReason
from sender.store.keys import CampaignKeys

DUPLICATE, FILTERED = "Duplicate", "Filtered"  # why a valid number is suppressed
SUPPRESSION_LIST = "SuppressionList"
HOLDOUT = "holdout"
"""The holdout group's row among the variants' (crds.campaign.CampaignSpec.holdout_percent)."""


@dataclass(frozen=True)
class ImportReport:
    """What an import did, over every run that contributed to it."""

    total: int = 0
    """Rows read, invalid ones included."""
    queued: int = 0
    """Entries added to the shards."""
    invalid: int = 0
    suppressed: int = 0
    """Duplicates, rows the filter dropped, numbers on a suppression list."""
    opted_out: int = 0
    holdout: int = 0
    """Held out by holdoutPercent (recorded, never sent)."""
    unroutable: int = 0
    """Valid numbers no channel of the run serves (Channel.spec.routing)."""
    unroutable_countries: Mapping[str, int] = field(default_factory=dict)
    """Those by the number's ISO 3166 region (ZZ: none)."""
    reasons: Mapping[DropReason, int] = field(default_factory=dict)
    """Invalid rows by reason."""
    suppressed_reasons: Mapping[str, int] = field(default_factory=dict)
    """Suppressed rows by reason: Duplicate, Filtered, SuppressionList."""
    shards: tuple[int, ...] = ()
    """Entries per shard, by shard index (every channel's lane of it; a winner
    campaign's test group only)."""
    channels: Mapping[str, int] = field(default_factory=dict)
    """Entries per channel they were routed to (a run of several channels)."""
    variants: Mapping[str, int] = field(default_factory=dict)
    """Entries per A/B variant."""
    rows_done: int = 0
    """Rows of the source committed so far."""
    complete: bool = False
    """The whole source is in."""


async def read_import_report(redis: aioredis.Redis, keys: CampaignKeys) -> ImportReport:
    """The import's report as Redis holds it (all runs so far; senders do not change it)."""
    progress = cast(dict[str, str], await redis.hgetall(keys.import_progress))
    counters = {k: int(v) for k, v in progress.items() if k not in ("config", "done")}
    config = json.loads(progress["config"]) if "config" in progress else {}
    shard_count = config.get("shards", 0)
    lanes = shard_count * max(1, len(config.get("channels", ())))  # the rest's lanes after
    per_shard = [0] * shard_count
    for lane in range(lanes):
        per_shard[lane % shard_count] += counters.get(f"shard:{lane}", 0)
    return ImportReport(
        total=counters.get("total", 0),
        queued=counters.get("imported", 0),
        invalid=counters.get("invalid", 0),
        suppressed=counters.get("suppressed", 0),
        opted_out=counters.get("optedOut", 0),
        holdout=counters.get("holdout", 0),
        reasons={r: counters[f"drop:{r}"] for r in DropReason if f"drop:{r}" in counters},
        suppressed_reasons={r: counters[f"suppress:{r}"] for r in (DUPLICATE, FILTERED,
                                                                  SUPPRESSION_LIST)
                            if f"suppress:{r}" in counters},
        unroutable=counters.get("unroutable", 0),
        unroutable_countries={k.split(":")[1]: v for k, v in counters.items()
                              if k.startswith("unroutable:")},
        shards=tuple(per_shard),
        channels={k.split(":")[1]: v for k, v in counters.items()
                  if k.startswith("channel:") and k.endswith(":total")},
        variants={k.split(":")[1]: v for k, v in counters.items()
                  if k.startswith("variant:") and k.endswith(":total")},
        rows_done=counters.get("rows_done", 0),
        complete=progress.get("done") == "1",
    )
