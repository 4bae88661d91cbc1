"""`herald links`: the short-link Deployment's process, one for the whole install.

    herald links [--host 0.0.0.0] [--port 8080]

    HERALD_REDIS_URL        Redis, with HERALD_REDIS_PASSWORD if it needs one
    HERALD_LINKS_PORT       the port, when --port is not given

It needs nothing but Redis: senders write each short link's record there before its
message goes (sender.store.links). It serves until SIGTERM, then stops taking
connections and finishes the requests it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from sender import http_serving
from sender.links.server import LinksApi
from sender.store.client import Redis, connect_from_env

DEFAULT_PORT = 8080


def serving(redis: Redis, host: str, port: int,
            clock: Callable[[], float] | None = None
            ) -> contextlib.AbstractAsyncContextManager[int]:
    """The redirects listening on host:port while the block runs; yields the port."""
    api = LinksApi(redis) if clock is None else LinksApi(redis, clock=clock)
    return http_serving.serving(api.app(), host, port)


async def serve(host: str, port: int) -> None:
    redis = connect_from_env()
    try:
        await http_serving.serve_until_stopped(LinksApi(redis).app(), host, port)
    finally:
        await redis.aclose()


def main(host: str, port: int | None) -> int:
    if port is None:
        port = int(os.environ.get("HERALD_LINKS_PORT") or DEFAULT_PORT)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port))
    return 0
