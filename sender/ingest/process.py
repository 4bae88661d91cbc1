"""`herald ingest`: the ingest Deployment's process, one for every trigger Api campaign
of the install.

    herald ingest [--host 0.0.0.0] [--port 8080]

    HERALD_REDIS_URL        Redis, with HERALD_REDIS_PASSWORD if it needs one
    HERALD_INGEST_PORT      the port, when --port is not given

It needs nothing but Redis: each campaign's settings and its token's digest are there
(sender.store.ingest_queue), written by the operator, which alone reads the Secrets.
It serves until SIGTERM, then stops taking connections and finishes the requests it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from aiohttp import web

from sender.ingest.server import IngestApi
from sender.signals import install_stop_signals
from sender.store.client import Redis, connect_from_env

DEFAULT_PORT = 8080


@contextlib.asynccontextmanager
async def serving(redis: Redis, host: str, port: int) -> AsyncIterator[int]:
    """The API listening on host:port while the block runs; yields the port it got."""
    runner = web.AppRunner(IngestApi(redis).app(), access_log=None, handle_signals=False,
                           shutdown_timeout=10.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    install_stop_signals(asyncio.get_running_loop(), stop.set)
    redis = connect_from_env()
    try:
        async with serving(redis, host, port):
            await stop.wait()
    finally:
        await redis.aclose()


def main(host: str, port: int | None) -> int:
    if port is None:
        port = int(os.environ.get("HERALD_INGEST_PORT") or DEFAULT_PORT)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port))
    return 0
