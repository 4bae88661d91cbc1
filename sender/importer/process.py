"""`herald import`: the importer pod's process, loading one campaign's audience into Redis.

    herald import --campaign NAMESPACE/NAME     (Redis from HERALD_REDIS_URL and
                                                 HERALD_REDIS_PASSWORD)

It reads the run's config (sender.run_config) from Redis, streams the audience from
its source (rows written into the Campaign, a mounted ConfigMap or Secret file, an
HTTP(S) CSV, a Redis list or set) through the resumable importer
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
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis
import structlog

from sender.importer.audience_csv import CsvHeaderError, aiter_csv_rows, iter_csv_rows
from sender.importer.shards import import_audience
from sender.run_config import AUDIENCE_DIR, HEADERS_DIR, AudienceSource, ImportSettings
from sender.sms.text import find_variables
from sender.store.client import connect_from_env
from sender.store.import_batches import ImportConflict
from sender.store.keys import campaign_from_ref
from sender.store.run_store import clear_import_error, read_run, record_import_error

logger = logging.getLogger(__name__)
CHUNK = 64 * 1024


class AudienceError(RuntimeError):
    """The audience cannot be read; the message says why, without personal data or secrets."""


def shown_url(url: str) -> str:
    """scheme://host/path: the query and any user:password stay out of messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


async def url_rows(url: str, headers_dir: str) -> AsyncIterator[dict[str, str]]:
    headers = {}
    if headers_dir:
        for path in sorted(Path(headers_dir).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                headers[path.name] = path.read_text(encoding="utf-8").strip()
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=120)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, headers=headers) as response:
            if response.status >= 300:
                raise AudienceError(f"GET {shown_url(url)} answered {response.status}"
                                    f" {response.reason or ''}".rstrip())
            async for row in aiter_csv_rows(response.content.iter_chunked(CHUNK)):
                yield row
    except aiohttp.ClientError as error:
        detail = str(error).replace(url, shown_url(url))  # InvalidURL quotes the URL
        raise AudienceError(f"GET {shown_url(url)} failed: {type(error).__name__}:"
                            f" {detail}") from None


def file_rows(path: str) -> Iterator[dict[str, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as lines:
            yield from iter_csv_rows(lines)
    except FileNotFoundError:
        raise AudienceError(f"the audience file is not mounted at {path}; does the"
                            " ConfigMap or Secret have that key?") from None


async def redis_rows(redis: aioredis.Redis, key: str, phone: str) -> AsyncIterator[dict[str, str]]:
    kind = cast(str, await redis.type(key))
    if kind == "list":
        start = 0
        while batch := await redis.lrange(key, start, start + 999):
            start += len(batch)
            for number in batch:
                yield {phone: cast(str, number)}
    elif kind == "set":
        async for number in redis.sscan_iter(key, count=1000):
            yield {phone: cast(str, number)}
    elif kind == "none":
        raise AudienceError(f"the Redis key {key!r} does not exist")
    else:
        raise AudienceError(f"the Redis key {key!r} is a {kind}; a list or set is needed")


def audience_filter(expression: str) -> Callable[[Mapping[str, str]], bool] | None:
    """The audience filter as a predicate over a recipient's variables (CEL)."""
    if not expression.strip():
        return None
    import celpy  # only campaigns with a filter need it
    from celpy.adapter import json_to_cel
    from celpy.celparser import CELParseError
    from celpy.evaluation import CELEvalError

    env = celpy.Environment()
    try:
        program = env.program(env.compile(expression))
    except CELParseError as error:
        raise AudienceError(f"audience.filter is not valid CEL: {error}") from None

    def keep(variables: Mapping[str, str]) -> bool:
        try:
            return bool(program.evaluate({"vars": json_to_cel(dict(variables))}))
        except CELEvalError:
            return False  # e.g. a variable this row does not have: not selected

    return keep


def source_rows(
    redis: aioredis.Redis, settings: ImportSettings
) -> AsyncIterator[dict[str, str]] | Iterator[dict[str, str]]:
    source: AudienceSource = settings.source
    if source.inline is not None:
        return iter(source.inline)
    if source.file:
        directory = os.environ.get("HERALD_AUDIENCE_DIR", AUDIENCE_DIR)
        return file_rows(str(Path(directory) / Path(source.file).name))
    if source.url:
        headers = os.environ.get("HERALD_URL_HEADERS_DIR", HEADERS_DIR) if source.headers else ""
        return url_rows(source.url, headers)
    return redis_rows(redis, source.redis_key, settings.columns.phone)


async def run_import(ref: str) -> dict[str, Any]:
    keys = campaign_from_ref(ref)
    redis = connect_from_env()
    try:
        run = await read_run(redis, keys)
        if run.config is None:
            raise AudienceError(f"no run of campaign {ref} in Redis; the operator writes it"
                                " before it creates this Job")
        settings = run.config.audience
        try:
            report = await import_audience(
                redis, keys, source_rows(redis, settings), shards=run.config.shards,
                columns=settings.columns, default_region=settings.default_region,
                variants=settings.variants, dedupe=settings.dedupe,
                respect_opt_outs=settings.respect_opt_outs,
                keep=audience_filter(settings.filter),
                required={variant: find_variables(template.body)
                          for variant, template in run.config.templates.items()},
            )
        except (AudienceError, CsvHeaderError, ImportConflict, OSError) as error:
            await record_import_error(redis, keys, str(error))
            raise
        await clear_import_error(redis, keys)
        return {"total": report.total, "queued": report.queued, "invalid": report.invalid,
                "suppressed": report.suppressed, "optedOut": report.opted_out}
    finally:
        await redis.aclose()


def main(ref: str) -> int:
    structlog.contextvars.bind_contextvars(campaign=ref)
    try:
        report = asyncio.run(run_import(ref))
    except (AudienceError, CsvHeaderError, ImportConflict, OSError) as error:
        print(f"herald import: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report), flush=True)
    return 0

