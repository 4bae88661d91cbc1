"""An aiohttp application served on a port, for the HTTP processes (`herald ingest`,
`herald links`): listening while a block runs, or until SIGTERM, then it stops taking
connections and finishes the requests it has."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from sender.signals import install_stop_signals

SHUTDOWN_SECONDS = 10.0
"""How long requests in hand may take to finish once the process is told to stop."""


@contextlib.asynccontextmanager
async def serving(app: web.Application, host: str, port: int) -> AsyncIterator[int]:
    """`app` listening on host:port while the block runs; yields the port it got (0
    asks for a free one)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def serve_until_stopped(app: web.Application, host: str, port: int) -> None:
    """Serve `app` until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    install_stop_signals(asyncio.get_running_loop(), stop.set)
    async with serving(app, host, port):
        await stop.wait()
