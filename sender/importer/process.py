"""`herald import`: the importer pod's process, loading one campaign's audience into Redis.

    herald import --campaign NAMESPACE/NAME     (Redis from HERALD_REDIS_URL and
                                                 HERALD_REDIS_PASSWORD)

It reads the run's config (sender.run_config) from Redis, streams the audience from
its source (rows written into the Campaign, a CSV or XLSX file mounted from a ConfigMap
or Secret or fetched over HTTP(S), a Redis list, set or stream:
sender.importer.audience_sources) through the resumable importer
(sender.importer.shards), and prints the import report as one JSON line. A failure is
recorded in the run for the operator to show (`import_error`) and ends the process
with status 1, so the Job retries; a rerun resumes after the last committed batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import structlog

from sender.collector import tune_collector
from sender.importer.audience_rows import AudienceError
from sender.importer.audience_sources import file_rows, redis_rows, url_rows
from sender.importer.shards import import_audience
from sender.importer.suppression import load_suppression_lists
from sender.run_config import AUDIENCE_DIR, HEADERS_DIR, AudienceSource, ImportSettings
from sender.sms.audience_filter import FilterError, compile_filter
from sender.sms.text import find_variables
from sender.store.client import connect_from_env, kernel_timeouts
from sender.store.import_batches import ImportConflict, import_done
from sender.store.keys import campaign_from_ref
from sender.store.run_store import clear_import_error, read_run, record_import_error

logger = logging.getLogger(__name__)

__all__ = ["AudienceError", "audience_filter", "main", "run_import", "source_rows"]


def audience_filter(settings: ImportSettings) -> Callable[[Mapping[str, str]], bool] | None:
    """The audience filter as a predicate over a recipient's variables (CEL, typed by
    the column mapping); it raises FilterRowError on a row it cannot judge."""
    types = {v.name: v.type for v in settings.columns.variables}
    try:
        return compile_filter(settings.filter, types, settings.time_zone)
    except FilterError as error:
        raise AudienceError(str(error)) from None


def source_rows(
    redis: aioredis.Redis, settings: ImportSettings
) -> AsyncIterator[dict[str, str]] | Iterator[dict[str, str]]:
    source: AudienceSource = settings.source
    phone = settings.columns.phone
    if source.inline is not None:
        return iter(source.inline)
    if source.file:
        directory = os.environ.get("HERALD_AUDIENCE_DIR", AUDIENCE_DIR)
        return file_rows(str(Path(directory) / Path(source.file).name), source, phone)
    if source.url:
        headers = os.environ.get("HERALD_URL_HEADERS_DIR", HEADERS_DIR) if source.headers else ""
        return url_rows(source.url, headers, source, phone)
    return redis_rows(redis, source.redis_key, phone)


def import_part(parts: int) -> int:
    """This pod's part of an import in `parts` (its Indexed Job's completion index)."""
    if parts == 1:
        return 0
    index = os.environ.get("JOB_COMPLETION_INDEX", "")
    if not index.isdigit() or int(index) >= parts:
        shown = repr(index) if index else "none"
        raise AudienceError(f"an import in {parts} parts needs JOB_COMPLETION_INDEX"
                            f" 0..{parts - 1} (the importer Job is Indexed), not {shown}")
    return int(index)


async def run_import(ref: str) -> dict[str, Any]:
    keys = campaign_from_ref(ref)
    # Every call of an import is on its hot path, as a sender's are: the partition guard
    # is the kernel's (kernel_timeouts), not a timer a call, and a batch's script is
    # written at once rather than in a task of asyncio.wait_for's.
    redis = connect_from_env(**kernel_timeouts())
    try:
        run = await read_run(redis, keys)
        if run.config is None:
            raise AudienceError(f"no run of campaign {ref} in Redis; the operator writes it"
                                " before it creates this Job")
        settings = run.config.audience
        lists = settings.suppression_lists
        try:
            if lists and not await import_done(redis, keys):
                await load_suppression_lists(redis, keys, lists, settings.default_region)
            report = await import_audience(
                redis, keys, source_rows(redis, settings), shards=run.config.shards,
                columns=settings.columns, default_region=settings.default_region,
                variants=settings.variants, dedupe=settings.dedupe,
                respect_opt_outs=settings.respect_opt_outs,
                keep=audience_filter(settings),
                required={variant: find_variables(template.body)
                          for variant, template in run.config.templates.items()},
                suppression=bool(lists), holdout_percent=settings.holdout_percent,
                test_percent=settings.test_percent,
                recipient_zones=settings.recipient_zones,
                channels=[channel.name for channel in run.config.channels],
                router=run.config.import_router(),
                part=import_part(settings.parts), parts=settings.parts,
            )
        except (AudienceError, ImportConflict, OSError) as error:
            await record_import_error(redis, keys, str(error))
            raise
        await clear_import_error(redis, keys)
        return {"total": report.total, "queued": report.queued, "invalid": report.invalid,
                "suppressed": report.suppressed, "optedOut": report.opted_out,
                "holdout": report.holdout, "unroutable": report.unroutable}
    finally:
        await redis.aclose()


def main(ref: str) -> int:
    structlog.contextvars.bind_contextvars(campaign=ref)
    tune_collector()
    try:
        report = asyncio.run(run_import(ref))
    except (AudienceError, ImportConflict, OSError) as error:
        print(f"herald import: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report), flush=True)
    return 0

