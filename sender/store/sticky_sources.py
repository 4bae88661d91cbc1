"""Sticky sender addresses: the address of a channel's pool each number is sent from,
kept across campaigns (smpp.sourceSelection Sticky).

    herald:{sticky:NS/NAME:G}:NUMBER   string, the address (keys.sticky_source); expires
                                       STICKY_SECONDS after it was last read for a message

A sender looks up a whole read batch at once (`recall`, which renews the expiry of
what it finds) and writes the addresses it chose for numbers without one (`remember`,
only when some were new): each one round trip, a script call per slot group of the
batch's numbers, pipelined (sticky_sources.lua). A new number is set only if absent, so
two senders of two campaigns choosing for the same number at the same moment agree:
the one that loses gets the winner's choice back and sends from it. An address that
left the pool is replaced outright.

Redis Cluster: each key carries its number's slot group, never a campaign's tag, and
each script call touches the keys of one group (one slot).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import cast

from redis.exceptions import NoScriptError

from sender.store.client import Redis
from sender.store.keys import STICKY_SECONDS, sticky_source

STICKY_SOURCES_LUA = (resources.files("sender.store").joinpath("sticky_sources.lua")
                      .read_text("utf-8"))


class StickySources:
    """One channel's remembered addresses."""

    def __init__(self, redis: Redis, namespace: str, channel: str) -> None:
        self._redis = redis
        self.namespace, self.channel = namespace, channel
        self._sha = ""
        self.round_trips = 0

    def key(self, number: str) -> str:
        return sticky_source(self.namespace, self.channel, number)

    async def recall(self, numbers: Sequence[str]) -> list[str | None]:
        """Each number's remembered address (None: none yet), renewing their expiry."""
        return await self._call(numbers, "recall", lambda _: ())

    async def remember(self, new: Sequence[tuple[str, str]],
                       replaced: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
        """Write (number, address) pairs: `new` only where none is set yet, `replaced`
        (their address left the pool) outright. Returns each number's address as Redis
        holds it now: another sender's, where it chose first."""
        pairs = [(n, a, "n") for n, a in new] + [(n, a, "r") for n, a in replaced]
        held = await self._call([p[0] for p in pairs], "remember",
                                lambda i: (pairs[i][1], pairs[i][2]))
        return {p[0]: a for p, a in zip(pairs, held, strict=True) if a is not None}

    async def _call(self, numbers: Sequence[str], mode: str,
                    args_of: Callable[[int], tuple[str, ...]]) -> list[str | None]:
        if not numbers:
            return []
        keys = [self.key(n) for n in numbers]
        groups: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            groups.setdefault(key[:key.index("}")], []).append(index)
        if not self._sha:
            self._sha = await self._redis.script_load(STICKY_SOURCES_LUA)
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for indexes in groups.values():
                # execute_command: a Cluster pipeline blocks its evalsha method, yet routes
                # EVALSHA by its keys (one slot group here).
                pipe.execute_command(
                    "EVALSHA", self._sha, len(indexes), *(keys[i] for i in indexes),
                    STICKY_SECONDS, mode, *(a for i in indexes for a in args_of(i)))
            try:
                replies = cast(list[list[str | None]], await pipe.execute())
                break
            except NoScriptError:  # a restarted or failed-over Redis, a new Cluster node
                if attempt == 2:
                    raise
                await self._redis.script_load(STICKY_SOURCES_LUA)
        self.round_trips += 1
        found: list[str | None] = [None] * len(numbers)
        for indexes, reply in zip(groups.values(), replies, strict=True):
            for index, address in zip(indexes, reply, strict=True):
                found[index] = address
        return found
