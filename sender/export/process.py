"""A campaign run's per-recipient export: every lane read a page at a time, each page
decoded (sender.export.rows) and written (sender.export.writers) to its destination
(sender.export.destinations) before the next is read.

Memory is a page (and for Parquet a row group), whatever the run's size: nothing loads
the run whole. The run's config (sender.run_config) says its lanes, each lane's
channel and a winner campaign's rest variant; a run without one (deleted after its
retention, or never started) is an ExportError.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sender.export.destinations import ExportError, S3Credentials, open_destination
from sender.export.rows import export_row
from sender.export.writers import ExportFormat, row_writer
from sender.run_config import RunConfig
from sender.store.client import Redis
from sender.store.export_pages import PAGE, lane_pages
from sender.store.keys import CampaignKeys


@dataclass(frozen=True)
class ExportResult:
    rows: int
    location: str
    seconds: float
    unmasked: bool


async def read_config(redis: Redis, keys: CampaignKeys) -> RunConfig:
    raw = await redis.hget(keys.run, "config")
    if raw is None:
        raise ExportError(
            f"campaign {keys.ref} has no run in Redis: it never started, or its keys were"
            " deleted after the retention (spec.export writes the export before that)")
    return RunConfig.model_validate_json(raw)


async def export_run(redis: Redis, keys: CampaignKeys, destination: str, fmt: ExportFormat,
                     *, unmasked: bool = False, credentials: S3Credentials | None = None,
                     page: int = PAGE) -> ExportResult:
    """Write every recipient of the campaign's run to `destination`; the rows written."""
    started = time.monotonic()
    config = await read_config(redis, keys)
    lanes = config.lanes
    held = not config.rest_released
    rows = 0
    with open_destination(destination, credentials) as sink:
        writer = row_writer(fmt, sink)
        for lane in range(lanes.streams):
            channel = config.channel_of(lane).name
            rest = lanes.is_rest(lane)
            variant = config.rest_variant if rest else None
            async for records in lane_pages(redis, keys, lane, page):
                batch = [row for row in (
                    export_row(r.key, r.fields, r.state, r.clicks, channel=channel,
                               variant=variant, held=rest and held, unmasked=unmasked)
                    for r in records) if row is not None]
                writer.write(batch)
                rows += len(batch)
        writer.close()
    return ExportResult(rows, destination, time.monotonic() - started, unmasked)
