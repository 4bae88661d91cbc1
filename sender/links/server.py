"""The short-link redirects over HTTP (aiohttp): a code in, its target out, the click
counted.

    GET  /{code}     302 to the target, the click counted unless a bot's (sender.links.bots)
    HEAD /{code}     the same answer, never counted
                     404 for no such code (or one long expired), 410 for an expired one
    GET  /healthz    200 once Redis answers
    GET  /robots.txt crawlers asked to follow none of them

Everything comes from Redis (sender.store.links): the code's record, the campaign's
table of targets (kept here, LRU, as it never changes for a url id). A click that cannot
be counted (Redis failing between the two calls) still redirects: the recipient gets
where the link goes, and the count misses one. Answers are not cached (no-store), so a
second visit is a second click. Logs name the campaign, never the recipient.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web
from redis.exceptions import RedisError

from sender.links.bots import counts_as_click
from sender.sms.links import LinkRecord, is_code
from sender.store.client import Redis
from sender.store.links import ClickCounter, read_link, read_target

logger = logging.getLogger(__name__)

TARGETS_CACHED = 10_000
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _problem(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status,
                             headers=NO_STORE)


class LinksApi:
    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self.counter = ClickCounter(redis)
        self._targets: OrderedDict[tuple[str, str], str] = OrderedDict()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.health)  # before /{code}: it is no code
        app.router.add_get("/robots.txt", self.robots)
        app.router.add_get("/{code}", self.follow)  # GET routes answer HEAD as well
        return app

    async def health(self, request: web.Request) -> web.Response:
        await self.redis.ping()
        return web.json_response({"ok": True})

    async def robots(self, request: web.Request) -> web.Response:
        """Well-behaved crawlers are asked not to follow the links at all."""
        return web.Response(text="User-agent: *\nDisallow: /\n")

    async def _target(self, record: LinkRecord) -> str | None:
        key = (record.campaign, record.target)
        found = self._targets.get(key)
        if found is not None:
            self._targets.move_to_end(key)
            return found
        found = await read_target(self.redis, record)
        if found is not None:
            self._targets[key] = found
            if len(self._targets) > TARGETS_CACHED:
                self._targets.popitem(last=False)
        return found

    async def follow(self, request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        if not is_code(code):
            return _problem(404, "LinkNotFound", "no such link")
        record = await read_link(self.redis, code)
        if record is None:
            return _problem(404, "LinkNotFound", "no such link, or it expired long ago")
        now = self.clock()
        if now > record.deadline:
            when = datetime.fromtimestamp(record.deadline, UTC).isoformat()
            return _problem(410, "LinkExpired", f"this link expired at {when}")
        target = await self._target(record)
        if target is None:  # the campaign's keys were deleted (its retention passed)
            return _problem(404, "LinkNotFound", "no such link, or it expired long ago")
        if counts_as_click(request.method, request.headers):
            try:
                await self.counter.count(record, int(now))
            except RedisError as exc:
                logger.warning("links: a click on campaign %s not counted: %s",
                               record.campaign, exc)
        raise web.HTTPFound(target, headers=NO_STORE)
