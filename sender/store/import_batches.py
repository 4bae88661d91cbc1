"""A campaign's import in Redis: its progress, its dedupe set, and each batch's commit.

    herald:{campaign:NS/NAME}:import   hash: rows_done, config, shard:I, done, and the
                                       import's own copy of the counters; in parts,
                                       done:P a part
    herald:{campaign:NS/NAME}:import:part:P  in parts: part P's rows_done (kept to the
                                       end of the run: a late pod of a part finds it)
    herald:{campaign:NS/NAME}:seen     set of numbers taken (dedupe), gone when done
    herald:{campaign:NS/NAME}:claimed  in parts: number -> the batch that took it
                                       (dedupe), gone when every part is done
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

An import in parts (several importer pods, `part` of `parts`: sender.importer.shards
gives part P the batches B with B % parts == P) keeps each part's progress apart
(import:part:P, and done:P), so each part resumes on its own, its commits WATCH only
its own mark (with one, every part's commit would spoil every other's), and the import
is done when every part is. Their dedupe cannot be a lookup before the MULTI, as two
parts could both find a number new and both queue it: a part claims its batch's
numbers first, in one script (_CLAIM_LUA), each number for the first batch to ask,
which the claim names ("P:START"), so a retry of the same batch finds its own claims
again. Which of a
number's rows is queued is then the first batch to claim it, not always the first row;
the counts are the same, but for what comes of the row (its variables, and whether its
zone came from its column or its number).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
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
    part: int = 0
    parts: int = 1
    """An import in parts: this importer's part, of how many (module docstring)."""

    def __post_init__(self) -> None:
        if not 0 <= self.part < self.parts:
            raise ValueError(f"part {self.part} of {self.parts}")

    @property
    def _mark(self) -> str:
        """Where rows_done is kept, WATCHed by each commit: the import's hash, or in
        parts the part's own (a commit of another part must not spoil the WATCH)."""
        return self.keys.import_progress if self.parts == 1 else self.keys.import_part(self.part)

    async def begin(self) -> int | None:
        """Rows already committed (by this part: the end of its last batch), or None if
        the import (or this part) is complete. Creates the shard streams and the
        senders' group on them (once)."""
        done, config, part_done = cast(list[str | None], await self.redis.hmget(
            self.keys.import_progress, ["done", "config", f"done:{self.part}"]))
        rows_done = await self.redis.hget(self._mark, "rows_done")
        self._check(config)
        if done is not None or (self.parts > 1 and part_done is not None):
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in range(self.shards):
                pipe.xgroup_create(self.keys.shard(i), SENDERS_GROUP, id="0", mkstream=True)
            for result in await pipe.execute(raise_on_error=False):
                if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                    raise result
        return int(rows_done or 0)

    async def commit(self, start: int, end: int, numbers: Callable[[int], Sequence[str]],
                     decide: Callable[[int, Lookups], BatchWrite], after: int,
                     sending: Callable[[], None] | None = None) -> None:
        """Commit rows [start, end): `numbers(done)` are the valid numbers of the rows
        from `done` on, `decide(done, lookups)` what those rows add. A part another
        importer committed meanwhile is skipped; a conflict retries from a fresh read.
        `after`: the progress this importer last saw, its previous batch's end (`start`
        for one importer; in parts, the end of the part's batch before). `sending` is
        called as the MULTI is about to be written (the importer then reads its next
        batch while Redis runs this one)."""
        progress, mark = self.keys.import_progress, self._mark
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.watch(mark)
                if mark == progress:  # one importer: one round trip for both
                    raw_done, config = cast(list[str | None], await pipe.hmget(
                        progress, ["rows_done", "config"]))
                else:
                    raw_done = cast(str | None, await pipe.hget(mark, "rows_done"))
                    config = cast(str | None, await pipe.hget(progress, "config"))
                self._check(config)
                done = int(raw_done or 0)
                if done >= end:
                    return
                if done < after:
                    raise ImportConflict(
                        f"{self.keys.ref}: import progress went back from row {after} to"
                        f" {done}; were the campaign's Redis keys deleted?")
                write = decide(max(start, done),
                               await self._lookup(numbers(done), f"{self.part}:{start}"))
                pipe.multi()  # type: ignore[no-untyped-call]
                self._write(pipe, write)
                if sending is not None:
                    sending()
                try:
                    await pipe.execute()
                    return
                except WatchError:
                    continue  # another importer committed meanwhile: read again

    async def finish(self) -> None:
        """This importer's rows are all in: the import is done (with parts, once every
        part is), and its dedupe sets go."""
        if self.parts > 1:
            await self.redis.eval(
                _FINISH_PART_LUA, 3, self.keys.import_progress, self.keys.claimed,
                self.keys.suppressed, self.part, self.parts, self.fingerprint)
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.import_progress, mapping={"done": 1, "config": self.fingerprint})
            pipe.delete(self.keys.seen, self.keys.suppressed)
            await pipe.execute()

    def _check(self, config: str | None) -> None:
        if config is not None and config != self.fingerprint:
            raise ImportConflict(
                f"{self.keys.ref}: an import with other settings is in Redis"
                f" ({config}); delete the campaign's keys to import again")

    async def _lookup(self, batch_numbers: Sequence[str], claimant: str) -> Lookups:
        numbers = list(dict.fromkeys(batch_numbers))
        claiming = self.dedupe and self.parts > 1
        wanted = [(self.dedupe and not claiming, self.keys.seen),
                  (self.respect_opt_outs, OPT_OUT_SET), (self.suppression, self.keys.suppressed)]
        if not numbers or not (claiming or any(on for on, _ in wanted)):
            return set(), set(), set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for on, key in wanted:
                if on:
                    pipe.smismember(key, numbers)
            if claiming:
                pipe.eval(_CLAIM_LUA, 1, self.keys.claimed, claimant, *numbers)
            results = iter(await pipe.execute())
        found = [set(compress(numbers, next(results))) if on else set() for on, _ in wanted]
        if claiming:  # numbers another batch took first: duplicates, as if seen before
            found[0] = set(next(results))
        return found[0], found[1], found[2]

    def _write(self, pipe: Pipeline, write: BatchWrite) -> None:
        keys, progress = self.keys, self.keys.import_progress
        if write.entries:
            pipe.eval(_XADD_LUA, self.shards, *map(keys.shard, range(self.shards)),
                      *_xadd_args(write.entries))
        if write.taken and self.parts == 1:  # in parts, the claims hold them
            pipe.sadd(keys.seen, *write.taken)
        if write.held:
            pipe.sadd(keys.holdout, *write.held)
        for name, n in write.counts.items():
            if n:  # the campaign's counters (senders move them on) and the import's own
                pipe.hincrby(keys.counters, name, n)
                pipe.hincrby(progress, name, n)
        for shard, n in write.shard_counts.items():
            pipe.hincrby(progress, f"shard:{shard}", n)
        pipe.hset(progress, "config", self.fingerprint)
        pipe.hset(self._mark, "rows_done", write.end)


# A part's claim of its batch's numbers (module docstring): each unclaimed number becomes
# the claimant's; the reply lists those another batch holds. KEYS[1] the claims hash,
# ARGV[1] the claimant, the rest the numbers (each once).
_CLAIM_LUA = """
local theirs = {}
for i = 2, #ARGV do
  local owner = redis.call("HGET", KEYS[1], ARGV[i])
  if not owner then
    redis.call("HSET", KEYS[1], ARGV[i], ARGV[1])
  elseif owner ~= ARGV[1] then
    theirs[#theirs + 1] = ARGV[i]
  end
end
return theirs
"""

# A part is done; the last of them marks the import done and drops the dedupe sets. The
# parts' marks stay (delete_run drops them): a pod of a part that outlived its
# replacement finds its part's batches committed, not a mark gone back to 0 (which
# would import them again, undeduped). KEYS: the progress hash, the claims, the
# suppression set; ARGV: part, parts, config.
_FINISH_PART_LUA = """
redis.call("HSET", KEYS[1], "done:" .. ARGV[1], 1)
for part = 0, tonumber(ARGV[2]) - 1 do
  if not redis.call("HGET", KEYS[1], "done:" .. part) then
    return 0
  end
end
redis.call("HSET", KEYS[1], "done", 1, "config", ARGV[3])
redis.call("DEL", KEYS[2], KEYS[3])
return 1
"""

def _xadd_args(entries: Sequence[tuple[int, str, str, str, str]]) -> list[str | int]:
    """_XADD_LUA's arguments for `entries` (shard, number, variant, variables, zone):
    a group a stream, its entries in their order, each with only the fields some
    entry of the group has (a list without variants or zones sends two a row, not
    five: packing the arguments was a third of a commit's time in the importer)."""
    groups: dict[int, list[tuple[int, str, str, str, str]]] = {}
    for entry in entries:
        group = groups.get(entry[0])
        if group is None:
            groups[entry[0]] = [entry]
        else:
            group.append(entry)
    args: list[str | int] = []
    for stream, group in groups.items():
        if any(map(_ZONE, group)):
            args += (stream + 1, 4, len(group))
            args += [field for _, *fields in group for field in fields]
        elif any(map(_VARIANT, group)):
            args += (stream + 1, 3, len(group))
            args += [field for _, n, v, x, _ in group for field in (n, v, x)]
        else:
            args += (stream + 1, 2, len(group))
            args += [field for _, n, _, x, _ in group for field in (n, x)]
    return args


_VARIANT, _ZONE = itemgetter(2), itemgetter(4)

# One command for a batch's entries instead of one XADD each: redis-py spends more time
# packing commands and parsing replies than Redis spends adding (measured without
# phonenumbers: 24k rows/s against 12k). EVAL, not EVALSHA: a script missing from the
# cache must not fail one command of the MULTI. Fields n, v, x, z: sender.importer.shards.
# ARGV: groups of a stream (_xadd_args): its key's index, the fields an entry has (2: n
# and x, v empty; 3: n, v, x; 4: n, v, x, z, z left out where empty), the entries,
# then theirs.
_XADD_LUA = """
local i, added = 1, 0
while i <= #ARGV do
  local stream = KEYS[tonumber(ARGV[i])]
  local width, count = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local first, last = i + 3, i + 2 + width * count
  if width == 2 then
    for j = first, last, 2 do
      redis.call("XADD", stream, "*", "n", ARGV[j], "v", "", "x", ARGV[j + 1])
    end
  elseif width == 3 then
    for j = first, last, 3 do
      redis.call("XADD", stream, "*", "n", ARGV[j], "v", ARGV[j + 1], "x", ARGV[j + 2])
    end
  else
    for j = first, last, 4 do
      local z = ARGV[j + 3]
      if z == "" then
        redis.call("XADD", stream, "*", "n", ARGV[j], "v", ARGV[j + 1], "x", ARGV[j + 2])
      else
        redis.call("XADD", stream, "*", "n", ARGV[j], "v", ARGV[j + 1], "x", ARGV[j + 2],
                   "z", z)
      end
    end
  end
  added, i = added + count, last + 1
end
return added
"""
