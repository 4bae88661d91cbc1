"""A campaign run's per-recipient export: every lane read a page at a time, each page
decoded (sender.export.rows) and written (sender.export.writers) to its destination
(sender.export.destinations) before the next is read.

Memory is a page (and for Parquet a row group), whatever the run's size: nothing loads
the run whole. The run's config (sender.run_config) says its lanes, each lane's
channel and a winner campaign's rest variant; a run without one (deleted after its
retention, or never started) is an ExportError.

The export Job's pod (`herald export --campaign NS/NAME`, spec.export) takes its
settings from the environment the operator gives it (job_settings) and records its
result, or its error, in the run's hash, where the operator reads it for status.export.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from crds.campaign import ExportFormat
from sender.export.destinations import ExportError, S3Credentials, open_destination
from sender.export.rows import export_row
from sender.export.writers import row_writer
from sender.run_config import RunConfig
from sender.store.client import Redis, connect_from_env
from sender.store.export_pages import PAGE, lane_pages
from sender.store.keys import CampaignKeys, campaign_from_ref
from sender.store.run_store import record_export, record_export_error

logger = logging.getLogger(__name__)


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


# -- the export Job's pod (spec.export) ----------------------------------------------------

def job_settings(env: Mapping[str, str]) -> tuple[str, str, ExportFormat, bool,
                                                   S3Credentials | None]:
    """What the operator's export Job gives its pod (controllers.decisions.campaign_export):
    the destination (a path under the claim's mount, or the URL), the location status
    shows, the format, whether numbers are unmasked, and the S3 credentials."""
    destination = env.get("HERALD_EXPORT_DESTINATION", "")
    if not destination:
        raise ExportError("HERALD_EXPORT_DESTINATION is not set")
    credentials = None
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        credentials = S3Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                                    env.get("AWS_ENDPOINT_URL", ""), env.get("AWS_REGION", ""))
    return (destination, env.get("HERALD_EXPORT_LOCATION") or destination,
            _format(env.get("HERALD_EXPORT_FORMAT") or ExportFormat.CSV),
            env.get("HERALD_EXPORT_UNMASKED") == "true", credentials)


def _format(text: str) -> ExportFormat:
    try:
        return ExportFormat(text)
    except ValueError:
        raise ExportError(f"HERALD_EXPORT_FORMAT {text!r} is not one of"
                          f" {', '.join(f.value for f in ExportFormat)}") from None


async def run_job(redis: Redis, keys: CampaignKeys, env: Mapping[str, str]) -> ExportResult:
    """The export of spec.export, recorded in the run for the operator (status.export);
    a failure is recorded too, and raised (the Job retries)."""
    try:
        destination, location, fmt, unmasked, credentials = job_settings(env)
        result = await export_run(redis, keys, destination, fmt, unmasked=unmasked,
                                  credentials=credentials)
    except ExportError as error:
        await record_export_error(redis, keys, str(error))
        raise
    record = {"rows": result.rows, "location": location, "format": fmt.value,
              "unmasked": unmasked, "completionTime": datetime.now(UTC).isoformat()}
    await record_export(redis, keys, json.dumps(record))
    return result


def main(campaign: str) -> int:
    """`herald export --campaign NS/NAME`: the export Job's pod."""
    keys = campaign_from_ref(campaign)

    async def run() -> ExportResult:
        redis = connect_from_env()
        try:
            return await run_job(redis, keys, os.environ)
        finally:
            await redis.aclose()

    try:
        result = asyncio.run(run())
    except ExportError as error:
        logger.error("export of campaign %s failed: %s", campaign, error)
        return 1
    print(json.dumps({"campaign": campaign, "rows": result.rows,
                      "seconds": round(result.seconds, 3)}), flush=True)
    return 0
