"""A campaign's suppression lists (compliance.suppressionLists): numbers never to send
to in it, loaded into Redis before the audience's first batch.

Each list is a CSV or XLSX file, mounted from a ConfigMap or Secret (one file a list,
named after it, in the pod's suppression directory) or fetched over HTTP(S), and read
as audience files are: any encoding, its numbers in `column`, normalised with the
audience's default region. A row without a valid number is skipped (a list is not an
audience: its bad rows cost nothing); a file that cannot be read fails the import, as
an audience file would, rather than send to numbers it may hold.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import redis.asyncio as aioredis

from sender.importer.audience_sources import file_rows, url_rows
from sender.run_config import SUPPRESSION_DIR, AudienceSource, SuppressionSource
from sender.sms.numbers import normalize_number
from sender.store.import_batches import load_suppression
from sender.store.keys import CampaignKeys

logger = logging.getLogger(__name__)


async def load_suppression_lists(redis: aioredis.Redis, keys: CampaignKeys,
                                 lists: Iterable[SuppressionSource],
                                 default_region: str) -> dict[str, int]:
    """Load every list; return the numbers read from each, by name."""
    loaded = {}
    for item in lists:
        loaded[item.name] = await load_suppression(
            redis, keys, list_numbers(item, default_region))
        logger.info("suppression list %s: %d numbers", item.name, loaded[item.name])
    return loaded


async def list_numbers(item: SuppressionSource, default_region: str) -> AsyncIterator[str]:
    """The valid E.164 numbers of one list."""
    where = f"suppression list {item.name}"
    source = AudienceSource(file=item.file, url=item.url)
    if item.url:
        async for row in url_rows(item.url, "", source, item.column):
            if (number := _number(row, item.column, default_region)) is not None:
                yield number
        return
    directory = os.environ.get("HERALD_SUPPRESSION_DIR", SUPPRESSION_DIR)
    for row in file_rows(str(Path(directory) / item.file), source, item.column, where):
        if (number := _number(row, item.column, default_region)) is not None:
            yield number


def _number(row: object, column: str, default_region: str) -> str | None:
    if not isinstance(row, dict):
        return None  # a malformed or undecodable row holds no number we can trust
    number = normalize_number(row.get(column) or "", default_region)
    return number if isinstance(number, str) else None
