"""A real HTTP server on loopback for tests of audience URLs (no mocked sockets)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp.web

Handler = Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.StreamResponse]]


@contextlib.asynccontextmanager
async def serving(path: str, handler: Handler) -> AsyncIterator[str]:
    """Serve GET `path` (an aiohttp route) with `handler` on a free port; yield the base URL."""
    app = aiohttp.web.Application()
    app.router.add_get(path, handler)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
