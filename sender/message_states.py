"""A message's life in Redis, and the campaign counters that follow it.

    queued --> submitting --> submitted(smsc id) --> delivered | failed | expired
       |            |  \\--> failed (permanent error)  \\--> queued (temporary error, retry)
       |            \\--> unknown (on the wire when a bind dropped or the sender died)
       \\--> optedOut | cancelled

`unknown` messages may still resolve: a receipt proves the SMSC took them. States are
one-letter codes in the campaign's state hash (absent = queued); submitted carries the
SMSC's message id and failed the error code. `transitions.lua` applies batches of
transitions atomically and idempotently, keeping the counters in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

import redis.asyncio as aioredis

from crds.campaign import Counters
from sender.redis_keys import SENDERS_GROUP, CampaignKeys


class State(StrEnum):
    QUEUED = "Q"
    SUBMITTING = "S"
    SUBMITTED = "s"
    DELIVERED = "D"
    FAILED = "F"
    EXPIRED = "E"
    UNKNOWN = "U"
    OPTED_OUT = "O"
    CANCELLED = "X"


_FIELD_SAFE = str.maketrans("\t\n", "  ")  # fields travel tab- and line-separated


def submitted(smsc_id: str) -> str:
    return f"{State.SUBMITTED}:{smsc_id.translate(_FIELD_SAFE)}"


def failed(code: str) -> str:
    return f"{State.FAILED}:{code.translate(_FIELD_SAFE)}"


def receipt_state(state: State, error: str) -> str:
    """The state code a final receipt (delivered, expired, failed) moves its message to."""
    return failed(error or "receipt") if state == State.FAILED else state.value


def message_key(shard: int, entry_id: str) -> str:
    """The state-hash field of a shard entry."""
    return f"{shard}/{entry_id}"


@dataclass(frozen=True)
class Transition:
    key: str
    """message_key(shard, entry id)."""
    state: str
    """A State code, with its detail for submitted (smsc id) and failed (error code)."""
    variant: str = ""
    channel: str = ""


TRANSITIONS_LUA = resources.files("sender").joinpath("transitions.lua").read_text("utf-8")


class StateStore:
    """Applies transitions for one campaign, a batch per Redis call."""

    def __init__(self, redis: aioredis.Redis, keys: CampaignKeys) -> None:
        self._redis = redis
        self.keys = keys
        self._script = redis.register_script(TRANSITIONS_LUA)

    async def apply(
        self, transitions: Sequence[Transition], *, ack_shard: int | None = None
    ) -> int:
        """Apply `transitions` in order; ack stream entries of `ack_shard` that leave the sender.

        Returns how many were applied (the rest were not allowed from their state).
        """
        if not transitions:
            return 0
        keys = [self.keys.state, self.keys.counters]
        if ack_shard is not None:
            keys.append(self.keys.shard(ack_shard))
        packed = "".join(f"{t.key}\t{t.state}\t{t.variant}\t{t.channel}\n" for t in transitions)
        applied: int = await self._script(keys=keys, args=[SENDERS_GROUP, packed])
        return applied

    async def states(self, keys: Sequence[str]) -> list[str | None]:
        """Current state codes (with detail) of the given message keys; None = queued."""
        if not keys:
            return []
        values = await self._redis.hmget(self.keys.state, list(keys))
        return [_text(v) if v is not None else None for v in values]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


COUNTER_FIELDS = {name: field.alias or name for name, field in Counters.model_fields.items()}


async def read_counters(redis: aioredis.Redis, keys: CampaignKeys) -> Counters:
    """The campaign's counters; queued is what the others leave of total."""
    raw = await redis.hgetall(keys.counters)
    values = {_text(k): int(v) for k, v in raw.items()}
    values = {k: v for k, v in values.items() if ":" not in k}  # breakdowns: variant:a:...
    counters = Counters.model_validate(values)
    settled = sum(
        getattr(counters, name) for name in COUNTER_FIELDS if name not in ("total", "queued")
    )
    return counters.model_copy(update={"queued": counters.total - settled})
