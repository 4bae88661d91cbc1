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

from sender import http_serving
from sender.ingest.server import IngestApi
from sender.store.client import Redis, connect_from_env

DEFAULT_PORT = 8080


def serving(redis: Redis, host: str, port: int
            ) -> contextlib.AbstractAsyncContextManager[int]:
    """The API listening on host:port while the block runs; yields the port it got."""
    return http_serving.serving(IngestApi(redis).app(), host, port)


async def serve(host: str, port: int) -> None:
    redis = connect_from_env()
    try:
        await http_serving.serve_until_stopped(IngestApi(redis).app(), host, port)
    finally:
        await redis.aclose()


def main(host: str, port: int | None) -> int:
    if port is None:
        port = int(os.environ.get("HERALD_INGEST_PORT") or DEFAULT_PORT)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port))
    return 0
