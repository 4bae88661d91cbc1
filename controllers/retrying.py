"""Retry for handlers kopf does not retry.

kopf retries create/update/resume handlers that raise; `on.event` handlers it calls
once. A re-review triggered by an approval or a word list must not be lost to one
failed API call, so those handlers retry here with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

logger = logging.getLogger(__name__)

RETRIABLE = (ApiException, HTTPError, OSError, asyncio.TimeoutError)


async def with_retries(
    action: Callable[[], Awaitable[None]],
    *,
    what: str,
    attempts: int = 6,
    first_delay: float = 0.5,
) -> None:
    """Run `action`, retrying transient API failures with doubling delays (0.5 s .. 16 s)."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            await action()
            return
        except RETRIABLE as exc:
            if attempt == attempts:
                raise
            logger.warning("%s failed (attempt %d of %d): %s; retrying in %.1fs",
                           what, attempt, attempts, type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay *= 2
