"""A campaign's import in Redis: its progress, its dedupe set, and each batch's commit.

    herald:{campaign:NS/NAME}:import   hash: rows_done, config, shard:I, done, and the
                                       import's own copy of the counters
    herald:{campaign:NS/NAME}:seen     set of numbers taken (dedupe), gone when done
    herald:{campaign:NS/NAME}:suppress set of the suppression lists' numbers, loaded
                                       before the first batch, gone when done
    herald:{campaign:NS/NAME}:shard:I  the shard streams the batches append to

The importer (sender.importer.shards) decides what a batch adds; this module owns how
it lands. A batch's stream entries (one EVAL doing its XADDs), counters, dedupe set and
progress mark are written in one MULTI/EXEC, with the progress hash WATCHed from the
read of `rows_done` to the write: after a crash Redis holds whole batches only, and two
importers at once (a Job pod that outlived its replacement) commit each row once.
Every key is the campaign's (one hash tag: Redis Cluster safe); the opt-out set is only
read, outside the MULTI, as the suppression set is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from sender.store.client import Redis
from sender.store.keys import OPT_OUT_SET, SENDERS_GROUP, CampaignKeys

SUPPRESSION_BATCH = 1000
"""Numbers a suppression list adds per SADD."""


async def import_done(redis: Redis, keys: CampaignKeys) -> bool:
    """Whether the campaign's import has finished (a rerun of its pod has nothing to do)."""
    return bool(await redis.hexists(keys.import_progress, "done"))


async def load_suppression(redis: Redis, keys: CampaignKeys,
                           numbers: AsyncIterable[str]) -> int:
    """Add a suppression list's numbers to the campaign's set; return how many were read.
    Idempotent, so a rerun of the importer loads them again safely."""
    count, batch = 0, []
    async for number in numbers:
        batch.append(number)
        if len(batch) >= SUPPRESSION_BATCH:
            await redis.sadd(keys.suppressed, *batch)
            count, batch = count + len(batch), []
    if batch:
        await redis.sadd(keys.suppressed, *batch)
    return count + len(batch)


class ImportConflict(RuntimeError):
    """Redis holds an import of this campaign made with other settings, or its progress
    went backwards (the campaign's keys were deleted under a running import)."""


@dataclass
class BatchWrite:
    """What one batch adds, as the importer decided it."""

    end: int
    """Rows of the source committed once it lands (the new rows_done)."""
    entries: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    """(shard, number, variant, variables JSON, time zone) per message, in order."""
    taken: set[str] = field(default_factory=set)
    """Numbers to add to the dedupe set."""
    counts: Counter[str] = field(default_factory=Counter)
    """Counter increments, for the campaign's counters and the import's copy."""
    shard_counts: Counter[int] = field(default_factory=Counter)
    held: set[str] = field(default_factory=set)
    """Numbers held out (holdoutPercent), to record."""


Lookups = tuple[set[str], set[str], set[str]]
"""Numbers already taken by the campaign, numbers that opted out, and numbers on the
campaign's suppression lists."""


@dataclass(frozen=True)
class ImportBatches:
    """One campaign's import, for one set of import settings (`fingerprint`)."""

    redis: Redis
    keys: CampaignKeys
    shards: int
    """The streams batches go to: the shards, and a winner campaign's rest streams."""
    fingerprint: str
    """The settings the import runs with; a resumed import must agree on them."""
    dedupe: bool
    respect_opt_outs: bool
    suppression: bool = False
    """Whether the campaign has suppression lists (loaded with load_suppression)."""

    async def begin(self) -> int | None:
        """Rows already committed, or None if the import is complete. Creates the shard
        streams and the senders' group on them (once)."""
        done, config, rows_done = cast(list[str | None], await self.redis.hmget(
            self.keys.import_progress, ["done", "config", "rows_done"]))
        self._check(config)
        if done is not None:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in range(self.shards):
                pipe.xgroup_create(self.keys.shard(i), SENDERS_GROUP, id="0", mkstream=True)
            for result in await pipe.execute(raise_on_error=False):
                if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                    raise result
        return int(rows_done or 0)

    async def commit(self, start: int, end: int, numbers: Callable[[int], Sequence[str]],
                     decide: Callable[[int, Lookups], BatchWrite]) -> None:
        """Commit rows [start, end): `numbers(done)` are the valid numbers of the rows
        from `done` on, `decide(done, lookups)` what those rows add. A part another
        importer committed meanwhile is skipped; a conflict retries from a fresh read."""
        progress = self.keys.import_progress
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.watch(progress)
                raw_done, config = cast(list[str | None],
                                        await pipe.hmget(progress, ["rows_done", "config"]))
                self._check(config)
                done = int(raw_done or 0)
                if done >= end:
                    return
                if done < start:
                    raise ImportConflict(
                        f"{self.keys.ref}: import progress went back from row {start}"
                        f" to {done}; were the campaign's Redis keys deleted?")
                write = decide(max(start, done), await self._lookup(numbers(done)))
                pipe.multi()  # type: ignore[no-untyped-call]
                self._write(pipe, write)
                try:
                    await pipe.execute()
                    return
                except WatchError:
                    continue  # another importer committed meanwhile: read again

    async def finish(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.import_progress, mapping={"done": 1, "config": self.fingerprint})
            pipe.delete(self.keys.seen, self.keys.suppressed)
            await pipe.execute()

    def _check(self, config: str | None) -> None:
        if config is not None and config != self.fingerprint:
            raise ImportConflict(
                f"{self.keys.ref}: an import with other settings is in Redis"
                f" ({config}); delete the campaign's keys to import again")

    async def _lookup(self, batch_numbers: Sequence[str]) -> Lookups:
        numbers = list(dict.fromkeys(batch_numbers))
        wanted = [(self.dedupe, self.keys.seen), (self.respect_opt_outs, OPT_OUT_SET),
                  (self.suppression, self.keys.suppressed)]
        if not numbers or not any(on for on, _ in wanted):
            return set(), set(), set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for on, key in wanted:
                if on:
                    pipe.smismember(key, numbers)
            results = iter(await pipe.execute())
        found = [{n for n, hit in zip(numbers, next(results), strict=True) if hit} if on
                 else set() for on, _ in wanted]
        return found[0], found[1], found[2]

    def _write(self, pipe: Pipeline, write: BatchWrite) -> None:
        keys, progress = self.keys, self.keys.import_progress
        if write.entries:
            args = [field for entry in write.entries
                    for field in (entry[0] + 1, *entry[1:])]
            pipe.eval(_XADD_LUA, self.shards, *map(keys.shard, range(self.shards)), *args)
        if write.taken:
            pipe.sadd(keys.seen, *write.taken)
        if write.held:
            pipe.sadd(keys.holdout, *write.held)
        for name, n in write.counts.items():
            if n:  # the campaign's counters (senders move them on) and the import's own
                pipe.hincrby(keys.counters, name, n)
                pipe.hincrby(progress, name, n)
        for shard, n in write.shard_counts.items():
            pipe.hincrby(progress, f"shard:{shard}", n)
        pipe.hset(progress, mapping={"rows_done": write.end, "config": self.fingerprint})


# One command for a batch's entries instead of one XADD each: redis-py spends more time
# packing commands and parsing replies than Redis spends adding (measured without
# phonenumbers: 24k rows/s against 12k). EVAL, not EVALSHA: a script missing from the
# cache must not fail one command of the MULTI. Fields n, v, x, z: sender.importer.shards.
_XADD_LUA = """
for i = 1, #ARGV, 5 do
  local stream = KEYS[tonumber(ARGV[i])]
  local n, v, x, z = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if z == "" then
    redis.call("XADD", stream, "*", "n", n, "v", v, "x", x)
  else
    redis.call("XADD", stream, "*", "n", n, "v", v, "x", x, "z", z)
  end
end
return #ARGV / 5
"""
