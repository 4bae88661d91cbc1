"""A campaign run in Redis: its config, its progress flags, and what ends it.

    herald:{campaign:NS/NAME}:run   hash: config (RunConfig JSON), import_error (the
                                    last failed import attempt's message), cancelled
                                    (1 once what was left is counted cancelled),
                                    ingest and ingest_closed of a trigger Api campaign
                                    (sender.store.ingest_queue),
                                    rest_handed (1 once a winner campaign's rest
                                    went to the winner: hand_rest_over), export
                                    (the export's result, JSON: record_export) and
                                    export_error (its last failed attempt's message)

The operator writes the config before it creates any Job and reads everything back
in one round trip per fold (`read_run`). Every key is the campaign's hash tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from crds.campaign import IMPORTERS_MAX as IMPORT_PARTS_MAX
from crds.campaign import Counters
from sender.ingest_run import IngestRun
from sender.run_config import RunConfig
from sender.sms.send_times import SendRules
from sender.sms.states import State, Transition, message_key
from sender.store.final_records import delete_records
from sender.store.ingest_queue import CLOSED_FIELD, INGEST_FIELD
from sender.store.keys import CampaignKeys
from sender.store.transitions import StateStore, counters_from_fields

CANCEL_BATCH = 1000
EXPORT_FIELD, EXPORT_ERROR_FIELD = "export", "export_error"


@dataclass(frozen=True)
class RunState:
    config: RunConfig | None
    counters: Counters
    fields: dict[str, int] = field(default_factory=dict)
    """The whole counters hash (breakdowns, errors, drop reasons)."""
    import_done: bool = False
    import_error: str = ""
    cancel_done: bool = False
    ingest: IngestRun | None = None
    """A trigger Api campaign's ingest settings as last written (sender.store.ingest_queue)."""
    ingest_closed: bool = False
    """It takes no more events (cancelled)."""
    export: str = ""
    """The export Job's result as it recorded it (JSON, sender.export.process); "": none."""
    export_error: str = ""
    """Why the export's last attempt failed."""


async def write_run(redis: aioredis.Redis, config: RunConfig) -> None:
    keys = CampaignKeys(config.campaign.namespace, config.campaign.name)
    await redis.hset(keys.run, "config", config.model_dump_json())


async def read_run(redis: aioredis.Redis, keys: CampaignKeys) -> RunState:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.run)
        pipe.hget(keys.import_progress, "done")
        pipe.hgetall(keys.counters)
        run, done, raw = await pipe.execute()
    run = run or {}
    config = RunConfig.model_validate_json(run["config"]) if "config" in run else None
    fields = {k: int(v) for k, v in (raw or {}).items()}
    return RunState(
        config=config,
        counters=counters_from_fields(fields) if fields else Counters(),
        fields=fields,
        import_done=done is not None,
        import_error=run.get("import_error", ""),
        cancel_done=run.get("cancelled") == "1",
        ingest=(IngestRun.model_validate_json(run[INGEST_FIELD]) if INGEST_FIELD in run
                else None),
        ingest_closed=CLOSED_FIELD in run,
        export=run.get(EXPORT_FIELD, ""),
        export_error=run.get(EXPORT_ERROR_FIELD, ""),
    )


async def read_send_rules(redis: aioredis.Redis, keys: CampaignKeys) -> SendRules | None:
    """The run's send times as the operator last wrote them (None: no run)."""
    raw = await redis.hget(keys.run, "config")
    return None if raw is None else RunConfig.model_validate_json(raw).send_times.rules()


async def read_unavailable(redis: aioredis.Redis, keys: CampaignKeys) -> list[str] | None:
    """The channels the run's routing passes over, as the operator last wrote them
    (failed over, or not Ready at the start); None: no run."""
    raw = await redis.hget(keys.run, "config")
    return None if raw is None else RunConfig.model_validate_json(raw).unavailable


async def record_export(redis: aioredis.Redis, keys: CampaignKeys, result: str) -> None:
    """The export Job's result (JSON), which status.export shows; clears its error."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(keys.run, EXPORT_FIELD, result)
        pipe.hdel(keys.run, EXPORT_ERROR_FIELD)
        await pipe.execute()


async def record_export_error(redis: aioredis.Redis, keys: CampaignKeys, message: str) -> None:
    await redis.hset(keys.run, EXPORT_ERROR_FIELD, message[:1024])


async def record_import_error(redis: aioredis.Redis, keys: CampaignKeys, message: str) -> None:
    await redis.hset(keys.run, "import_error", message[:1024])


async def clear_import_error(redis: aioredis.Redis, keys: CampaignKeys) -> None:
    await redis.hdel(keys.run, "import_error")


async def hand_rest_over(redis: aioredis.Redis, keys: CampaignKeys, variant: str) -> bool:
    """Move a winner campaign's rest from awaitingWinner to queued, counted under
    `variant` (the winner), or "" under each entry's own: the per-variant totals follow.
    Once per run (the run hash keeps the flag); returns whether this call did it."""
    script = redis.register_script(_HAND_REST_OVER_LUA)
    return bool(await script(keys=[keys.counters, keys.run], args=[variant]))


async def cancel_remaining(redis: aioredis.Redis, keys: CampaignKeys, shards: int, *,
                           rest_from: int | None = None, rest_variant: str | None = None,
                           channels: Sequence[str] = ()) -> int:
    """Count every message not yet sent `cancelled` (call once no sender runs).

    Queued and waiting ones become cancelled; one caught `submitting` (its sender was killed) is
    unknown, as a sender's recovery would have it. Idempotent: the transitions are, and
    the run is flagged when done. `shards`: the streams; from `rest_from` on, a winner
    campaign's rest, whose entries count as `rest_variant` (None: their own) once handed
    over (done here first, if the winner was not chosen yet). `channels`: each stream's
    channel name, so that status.channels[] counts them too (empty: not per channel).
    """
    store = StateStore(redis, keys)
    cancelled = 0
    if rest_from is not None:
        await hand_rest_over(redis, keys, rest_variant or "")
    for shard in range(shards):
        override = rest_variant if rest_from is not None and shard >= rest_from else None
        channel = channels[shard] if channels else ""
        stream = keys.shard(shard)
        start = "-"
        while True:
            reply: Any = await redis.xrange(stream, min=start, count=CANCEL_BATCH)
            entries: list[tuple[str, dict[str, str]]] = reply
            if not entries:
                break
            ids = [entry_id for entry_id, _ in entries]
            start = "(" + ids[-1]
            states = await store.states([message_key(shard, i) for i in ids])
            moves = []
            for (entry_id, fields), state in zip(entries, states, strict=True):
                code = (state or "")[:1]
                variant = override or fields.get("v") or ""
                key = message_key(shard, entry_id)
                if code in ("", State.QUEUED, State.WAITING):
                    moves.append(Transition(key, State.CANCELLED, variant, channel))
                elif code == State.SUBMITTING:
                    moves.append(Transition(key, State.UNKNOWN, variant, channel))
            cancelled += await store.apply(moves, ack_shard=shard)
    await redis.delete(*(keys.waiting(shard) for shard in range(shards)))
    await redis.hset(keys.run, "cancelled", 1)
    return cancelled


async def delete_run(redis: aioredis.Redis, keys: CampaignKeys, shards: int) -> None:
    """Every key of the campaign: streams, states, counters, buckets, import, timeline,
    run, compacted records."""
    await redis.delete(
        *(keys.shard(i) for i in range(shards)), *(keys.waiting(i) for i in range(shards)),
        keys.state, keys.counters, keys.parts,
        keys.gcra, keys.import_progress, keys.seen, keys.claimed, keys.suppressed, keys.holdout,
        keys.idempotency, keys.idempotency_age, keys.links, keys.clicks, keys.timeline,
        keys.run, *(keys.import_part(part) for part in range(IMPORT_PARTS_MAX)))
    await delete_records(redis, keys, shards)



# The rest of a winner campaign, handed to the winner in one step: the run's flag, then
# each variant's awaitingWinner moved to queued under the winner's total. One hash tag.
_HAND_REST_OVER_LUA = """
if redis.call("HSETNX", KEYS[2], "rest_handed", 1) == 0 then return 0 end
local fields = redis.call("HGETALL", KEYS[1])
for i = 1, #fields, 2 do
  local own = string.match(fields[i], "^variant:(.*):awaitingWinner$")
  local n = tonumber(fields[i + 1])
  if own and n ~= 0 then
    local target = own
    if ARGV[1] ~= "" then target = ARGV[1] end
    redis.call("HINCRBY", KEYS[1], "variant:" .. own .. ":total", -n)
    redis.call("HINCRBY", KEYS[1], "variant:" .. target .. ":total", n)
    redis.call("HSET", KEYS[1], fields[i], 0)
  end
end
redis.call("HSET", KEYS[1], "awaitingWinner", 0)
return 1
"""
