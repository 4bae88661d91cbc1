"""A trigger Api campaign's events in Redis: whether it takes them, each one queued once.

    herald:{campaign:NS/NAME}:run               hash; field `ingest`: the IngestRun JSON
                                                the operator writes once the campaign
                                                takes events (absent: it takes none);
                                                `ingest_closed`: 1 once it was cancelled
    herald:{campaign:NS/NAME}:idempotency       hash: Idempotency-Key -> message key and
                                                the event's fingerprint
    herald:{campaign:NS/NAME}:idempotency:age   sorted set: those keys by when (ms)
    herald:{campaign:NS/NAME}:shard:I           the shard streams the senders follow

The operator opens the run (`open_trigger_run`: the streams and the senders' group,
the import marked done, since there is none) and keeps `ingest` in step with the
campaign (its token's digest, the queue bound), and closes it on cancel (its messages
can still be looked up). The ingest
process (sender.ingest) calls `IngestQueue.enqueue`: one script (ingest.lua) takes the
event once per Idempotency-Key within the retention, refuses it when the queue is
full, appends it to the number's shard stream and counts it in `total`, all under the
campaign's hash tag. The senders read it like any imported entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, cast

from sender.ingest_run import IngestRun
from sender.sms.states import message_key
from sender.store.client import Redis
from sender.store.final_records import final_state
from sender.store.keys import SENDERS_GROUP, CampaignKeys
from sender.store.transitions import COUNTER_FIELDS, CUMULATIVE

INGEST_LUA = resources.files("sender.store").joinpath("ingest.lua").read_text("utf-8")
INGEST_FIELD = "ingest"
"""The run hash field holding the IngestRun (sender.ingest_run) of a campaign that takes events."""
CLOSED_FIELD = "ingest_closed"
"""The run hash field saying the campaign takes no more (it was cancelled)."""
ZONE_FROM_NUMBER, CAMPAIGN_ZONE = "ZoneFromNumber", "CampaignZone"
"""Where a message's zone came from, counted zone:<source> as the importer counts them
(status.timeZoneSources)."""
NOT_QUEUED = " ".join(alias for name, alias in COUNTER_FIELDS.items()
                      if name not in ("total", "queued", "waiting", *CUMULATIVE))
"""The counters whose sum, taken from total, leaves the messages still in Redis to be
sent: queued, and waiting for their window (both take memory the bound is for)."""


@dataclass(frozen=True)
class Enqueued:
    outcome: Literal["new", "repeat", "full", "closed"]
    message: str = ""
    """The message key (sender.sms.states.message_key) for new and repeat."""
    fingerprint: str = ""
    """For repeat: the fingerprint of the event that took the key first."""
    queued: int = 0
    """For full: the messages queued."""


async def open_trigger_run(redis: Redis, keys: CampaignKeys, shards: int) -> None:
    """The run of a trigger campaign ready for senders: its shard streams and their group
    (created once), and its import marked done (it has none). Idempotent."""
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(shards):
            pipe.xgroup_create(keys.shard(i), SENDERS_GROUP, id="0", mkstream=True)
        for result in await pipe.execute(raise_on_error=False):
            if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                raise result
    await redis.hset(keys.import_progress, "done", 1)


async def write_ingest(redis: Redis, keys: CampaignKeys, ingest: IngestRun) -> None:
    """Let the campaign take events with these settings (or update them)."""
    await redis.hset(keys.run, INGEST_FIELD, ingest.model_dump_json())


async def close_ingest(redis: Redis, keys: CampaignKeys) -> None:
    """The campaign takes no more events (cancelled); the script checks it atomically."""
    await redis.hset(keys.run, CLOSED_FIELD, 1)


@dataclass(frozen=True)
class IngestSeen:
    exists: bool
    """The campaign has a run in Redis."""
    ingest: IngestRun | None
    """Its ingest settings; None when it is not a trigger Api campaign (or not yet open)."""
    closed: bool = False
    """It was cancelled: its messages may be read, no event is taken."""


async def read_ingest(redis: Redis, keys: CampaignKeys) -> IngestSeen:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.run, ["config", INGEST_FIELD, CLOSED_FIELD])
        (config, raw, closed), = await pipe.execute()
    return IngestSeen(config is not None,
                      IngestRun.model_validate_json(raw) if raw else None, closed is not None)


class IngestQueue:
    """Queues events of trigger campaigns, one script call each."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(INGEST_LUA)

    async def enqueue(self, keys: CampaignKeys, ingest: IngestRun, idempotency_key: str,
                      shard: int, number: str, variant: str, variables: dict[str, str],
                      fingerprint: str, zone: str = "", *, now_ms: int | None = None
                      ) -> Enqueued:
        """Queue one event. `zone`: the number's own zone, with IngestRun.recipient_zones
        ("" for none: the campaign's zone times it, counted CampaignZone)."""
        source = ("" if not ingest.recipient_zones
                  else ZONE_FROM_NUMBER if zone else CAMPAIGN_ZONE)
        args: list[Any] = [
            idempotency_key, ingest.retention_seconds * 1000, ingest.max_queued, shard,
            number, variant, json.dumps(variables, ensure_ascii=False, separators=(",", ":")),
            NOT_QUEUED, fingerprint, zone, source,
            ingest.channels[ingest.lanes.channel_of(shard)].name if ingest.channels else ""]
        if now_ms is not None:
            args.append(now_ms)
        reply = cast(list[str], await self._script(
            keys=[keys.run, keys.idempotency, keys.idempotency_age, keys.counters,
                  keys.shard(shard)], args=args))
        outcome, value = reply[0], reply[1]
        if outcome == "full":
            return Enqueued("full", queued=int(value))
        if outcome == "repeat":
            message, _, first = value.partition("\t")
            return Enqueued("repeat", message=message, fingerprint=first)
        if outcome == "new":
            return Enqueued("new", message=value)
        return Enqueued("closed")


async def message_state(redis: Redis, keys: CampaignKeys, key: str) -> str | None:
    """The state code (with its detail) of a message key; "" for queued (no state yet);
    None when the campaign has no such message."""
    shard_text, _, entry_id = key.partition("/")
    if not shard_text.isdigit() or not entry_id:
        return None
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xrange(keys.shard(int(shard_text)), min=entry_id, max=entry_id, count=1)
        pipe.hget(keys.state, message_key(int(shard_text), entry_id))
        results = await pipe.execute(raise_on_error=False)
    found, state = results
    if isinstance(found, Exception) or not found:
        # Gone from the stream: compacted once final (sender.store.final_records).
        return await final_state(redis, keys, int(shard_text), entry_id)
    return state if isinstance(state, str) else ""
