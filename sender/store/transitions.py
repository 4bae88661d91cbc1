"""Applying a campaign's state transitions in Redis, and reading its counters.

`transitions.lua` applies a batch of transitions (see sender.sms.states for the life of
a message) atomically and idempotently, keeping the counters in step; every key it
touches carries the campaign's hash tag. A receipt for one part of a long message is
recorded in the campaign's parts hash, and its message moves once the parts decide
(sender.sms.states.message_outcome, whose order the script is given). The script stamps
what the SMSC took and what became final with the time this store's clock gives
(sender.sms.states.parse_state reads it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from crds.campaign import Counters
from sender.sms.states import FINAL_PRECEDENCE, Transition
from sender.store.keys import SENDERS_GROUP, CampaignKeys

TRANSITIONS_LUA = resources.files("sender.store").joinpath("transitions.lua").read_text("utf-8")
PRECEDENCE = "".join(FINAL_PRECEDENCE)


class StateStore:
    """Applies transitions for one campaign, a batch per Redis call."""

    def __init__(self, redis: aioredis.Redis, keys: CampaignKeys,
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self.keys = keys
        self._clock = clock
        """Unix time for the stamps; whole seconds are kept."""
        self._script = redis.register_script(TRANSITIONS_LUA)

    async def apply(
        self, transitions: Sequence[Transition], *, ack_shard: int | None = None
    ) -> int:
        """Apply `transitions` in order; ack stream entries of `ack_shard` that leave the sender.

        Returns how many were applied (the rest were not allowed from their state; a
        receipt for one part of a long message counts when it was recorded).
        """
        applied, _ = await self.apply_outcomes(transitions, ack_shard=ack_shard)
        return applied

    async def apply_outcomes(
        self, transitions: Sequence[Transition], *, ack_shard: int | None = None
    ) -> tuple[int, list[Transition]]:
        """As `apply`; also the transitions as the messages' outcomes (for metrics):
        those of whole messages as given, and each part receipt that settled its message
        with the state the message reached (the others decided nothing yet)."""
        if not transitions:
            return 0, []
        keys, args = self._call(transitions, ack_shard)
        return self.outcomes(transitions, await self._script(keys=keys, args=args))

    def queue(self, pipe: Pipeline, transitions: Sequence[Transition], *,
              ack_shard: int | None = None) -> None:
        """Queue the call `apply_outcomes` makes on `pipe` (transaction=False, one server),
        behind the writes it already holds: one round trip for both. Its reply (the
        pipeline's last) goes to `outcomes`. By sha alone, not through redis-py's script
        support, which asks SCRIPT EXISTS on every execute: a pipeline's reply then holds
        NoScriptError if the server lost the script (a restart), and `apply_outcomes` loads
        it again."""
        keys, args = self._call(transitions, ack_shard)
        pipe.evalsha(self._script.sha, len(keys), *keys, *args)

    def _call(self, transitions: Sequence[Transition], ack_shard: int | None
              ) -> tuple[list[str], list[str | int]]:
        keys = [self.keys.state, self.keys.counters, self.keys.parts]
        if ack_shard is not None:
            keys.append(self.keys.shard(ack_shard))
        channel = transitions[0].channel if transitions else ""
        # A line a transition: key, state, then part/parts of a part receipt, else the
        # segments accepted; variant, channel and country only when they differ from the
        # call's. A loop over unpacked tuples: three lines a message, 0.22 us each where a
        # generator of attribute reads and a helper call took 0.28 (bench/README.md).
        lines = []
        for key, state, variant, t_channel, segments, part, parts, country in transitions:
            extra = f"{part}/{parts}" if part else (str(segments) if segments else "")
            if variant or t_channel != channel or country:
                lines.append(f"{key}\t{state}\t{extra}\t{variant}\t{t_channel}\t{country}\n")
            else:
                lines.append(f"{key}\t{state}\t{extra}\n")
        packed = "".join(lines)
        return keys, [SENDERS_GROUP, packed, PRECEDENCE, int(self._clock()), channel]

    @staticmethod
    def outcomes(transitions: Sequence[Transition], reply: Any
                 ) -> tuple[int, list[Transition]]:
        """What `apply_outcomes` returns, from the script's reply to these transitions."""
        applied, settled = int(reply[0]), cast(str, reply[1])
        outcomes = [t for t in transitions if not t.part]
        for line in settled.splitlines():
            index, _, state = line.partition("\t")
            t = transitions[int(index) - 1]
            outcomes.append(Transition(t.key, state, t.variant, t.channel))
        return applied, outcomes

    async def states(self, keys: Sequence[str]) -> list[str | None]:
        """Current state values (code, detail, stamp: sender.sms.states.parse_state) of
        the given message keys; None = queued."""
        if not keys:
            return []
        # Casts here and below: redis-py types replies `bytes | str`; Herald's clients
        # decode (sender.store.client).
        return cast(list[str | None], await self._redis.hmget(self.keys.state, list(keys)))



COUNTER_FIELDS = {name: field.alias or name for name, field in Counters.model_fields.items()}


async def read_counters(redis: aioredis.Redis, keys: CampaignKeys) -> Counters:
    """The campaign's counters; queued is what the others leave of total."""
    raw = cast(dict[str, str], await redis.hgetall(keys.counters))
    return counters_from_fields({k: int(v) for k, v in raw.items()})


CUMULATIVE = ("sent", "segments_submitted", "failed_over", "clicks", "clickers")
"""Counters that add up what happened (never go down), not messages in a state."""


def counters_from_fields(fields: dict[str, int]) -> Counters:
    """The Counters of a counters hash as read; queued is what the others leave of total."""
    values = {k: v for k, v in fields.items() if ":" not in k}  # breakdowns: variant:a:...
    counters = Counters.model_validate(values)
    settled = sum(
        getattr(counters, name) for name in COUNTER_FIELDS
        if name not in ("total", "queued", *CUMULATIVE)
    )
    return counters.model_copy(update={"queued": counters.total - settled})
