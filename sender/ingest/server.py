"""The ingest API over HTTP (aiohttp): events of trigger Api campaigns in, message ids out.

    POST /v1/namespaces/{ns}/campaigns/{name}/messages        202 {"id", "state", ...}
                                                               (200 for a repeated key)
    GET  /v1/namespaces/{ns}/campaigns/{name}/messages/{id}   200 {"id", "state", ...}
    GET  /healthz                                              200 once Redis answers

The decisions are sender.ingest.events'; Redis is the store's (sender.store.ingest_queue).
A campaign's ingest settings (its token's digest, shards, queue bound) are read from
Redis and kept for CACHE_SECONDS, so a rotated token or a cancel takes effect within
that; a cancelled campaign's queue refuses events at once all the same (the enqueue
script checks). Logs name the campaign and a masked number, never the token.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from sender.ingest.events import (
    MAX_BODY_BYTES,
    Problem,
    bearer_token,
    check_idempotency_key,
    full,
    message_id,
    message_key,
    parse_event,
    state_view,
    token_matches,
    too_large,
)
from sender.ingest_run import IngestRun
from sender.sms.numbers import mask_number
from sender.store.client import Redis
from sender.store.ingest_queue import (
    IngestQueue,
    IngestSeen,
    message_state,
    read_ingest,
)
from sender.store.keys import CampaignKeys

logger = logging.getLogger(__name__)

CACHE_SECONDS = 1.0
MESSAGES = "/v1/namespaces/{namespace}/campaigns/{name}/messages"


def _answer(problem: Problem, **headers: str) -> web.Response:
    return web.json_response(problem.body(), status=problem.status, headers=headers or None)


class IngestApi:
    def __init__(self, redis: Redis, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.redis = redis
        self.queue = IngestQueue(redis)
        self.cache_seconds = cache_seconds
        self._seen: dict[tuple[str, str], tuple[float, IngestSeen]] = {}

    def app(self) -> web.Application:
        # The body limit is ours (a JSON 413); aiohttp's only backs it up.
        app = web.Application(client_max_size=MAX_BODY_BYTES * 4)
        app.router.add_post(MESSAGES, self.post)
        app.router.add_get(MESSAGES + "/{id}", self.get)
        app.router.add_get("/healthz", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        await self.redis.ping()
        return web.json_response({"ok": True})

    async def _campaign(self, request: web.Request, *, posting: bool
                        ) -> tuple[CampaignKeys, IngestRun] | web.Response:
        """The campaign the path names and its settings, once the caller proved it may
        use it; else the refusal: 401 without a token, 404 for no such campaign, 409 for
        one that is not trigger Api (or, `posting`, was cancelled), 403 for a token that
        is not its own."""
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            return _answer(Problem(401, "Unauthenticated",
                                   "send the campaign's token: Authorization: Bearer TOKEN"),
                           **{"WWW-Authenticate": 'Bearer realm="herald-ingest"'})
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        keys = CampaignKeys(namespace, name)
        seen = await self._lookup(keys)
        if not seen.exists:
            return _answer(Problem(404, "CampaignNotFound",
                                   f"no campaign {keys.ref} is running"))
        if seen.ingest is None:
            return _answer(Problem(409, "NotTriggerApi", (
                f"campaign {keys.ref} takes no events: it is not trigger Api")))
        if not token_matches(token, seen.ingest.token_sha256):
            logger.info("ingest: refused a token for campaign %s", keys.ref)
            return _answer(Problem(403, "Forbidden",
                                   f"the token is not campaign {keys.ref}'s"))
        if posting and seen.closed:
            return _answer(Problem(409, "CampaignCancelled",
                                   f"campaign {keys.ref} was cancelled: it takes no events"))
        return keys, seen.ingest

    async def _lookup(self, keys: CampaignKeys) -> IngestSeen:
        key = (keys.namespace, keys.name)
        cached = self._seen.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] <= self.cache_seconds:
            return cached[1]
        seen = await read_ingest(self.redis, keys)
        self._seen[key] = (now, seen)
        return seen

    async def post(self, request: web.Request) -> web.Response:
        found = await self._campaign(request, posting=True)
        if isinstance(found, web.Response):
            return found
        keys, ingest = found
        problem = (check_idempotency_key(request.headers.get("Idempotency-Key"))
                   or too_large(request.content_length))
        if problem is not None:
            return _answer(problem)
        raw = await request.content.read(MAX_BODY_BYTES + 1)
        event = parse_event(raw, ingest)
        if isinstance(event, Problem):
            return _answer(event)
        idempotency_key = request.headers["Idempotency-Key"]
        result = await self.queue.enqueue(keys, ingest, idempotency_key, event.shard,
                                          event.number, event.variant, event.variables,
                                          event.fingerprint, event.zone)
        if result.outcome == "closed":
            self._seen.pop((keys.namespace, keys.name), None)
            return _answer(Problem(409, "CampaignCancelled",
                                   f"campaign {keys.ref} takes no more events"))
        if result.outcome == "full":
            problem, wait = full(result.queued, ingest)
            logger.info("ingest: campaign %s queue full (%d), event for %s refused",
                        keys.ref, result.queued, mask_number(event.number))
            return _answer(problem, **{"Retry-After": str(wait)})
        if result.outcome == "repeat" and result.fingerprint != event.fingerprint:
            return _answer(Problem(422, "IdempotencyKeyReused", (
                "this Idempotency-Key was used for another event (another number or other"
                f" variables) as message {message_id(result.message)}")))
        ident = message_id(result.message)
        body: dict[str, Any] = {"id": ident, "campaign": keys.ref, "state": "queued"}
        location = f"{request.path}/{ident}"
        if result.outcome == "repeat":
            logger.debug("ingest: campaign %s key repeated, message %s", keys.ref, ident)
            return web.json_response(body | {"repeated": True}, status=200,
                                     headers={"Location": location})
        logger.debug("ingest: campaign %s queued message %s to %s", keys.ref, ident,
                     mask_number(event.number))
        return web.json_response(body, status=202, headers={"Location": location})

    async def get(self, request: web.Request) -> web.Response:
        found = await self._campaign(request, posting=False)
        if isinstance(found, web.Response):
            return found
        keys, _ = found
        ident = request.match_info["id"]
        key = message_key(ident)
        code = await message_state(self.redis, keys, key) if key is not None else None
        if code is None:
            return _answer(Problem(404, "MessageNotFound",
                                   f"campaign {keys.ref} has no message {ident[:64]}"))
        return web.json_response({"id": ident, "campaign": keys.ref, **state_view(code)})
