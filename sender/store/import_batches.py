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
it lands. A batch's stream entries, counters, dedupe set and progress mark are written
by one script, which writes nothing unless the progress mark still reads as it did when
the batch was decided (a compare-and-set: rows_done only grows): after a crash Redis
holds whole batches only, and two importers at once (a Job pod that outlived its
replacement) commit each row once.
Every key is the campaign's (one hash tag: Redis Cluster safe); the opt-out set is only
read, outside the script, as the suppression set is.

An import in parts (several importer pods, `part` of `parts`: sender.importer.shards
gives part P the batches B with B % parts == P) keeps each part's progress apart
(import:part:P, and done:P), so each part resumes on its own, its commits compare only
its own mark (with one, every part's commit would spoil every other's), and the import
is done when every part is. Their dedupe cannot be a lookup before the commit, as two
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

from sender.store.client import Redis, one_server
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

BatchRead = tuple[str | None, str | None, Lookups]
"""What a commit reads before it writes: the progress mark's rows_done, the import's
config, and the batch's lookups (ImportBatches.commit)."""


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
        """Where rows_done is kept, compared by each commit: the import's hash, or in
        parts the part's own (a commit of another part must not spoil the compare)."""
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
                     sending: Callable[[], None] | None = None, *,
                     read: BatchRead | None = None,
                     following: Sequence[str] | None = None) -> BatchRead | None:
        """Commit rows [start, end): `numbers(done)` are the valid numbers of the rows
        from `done` on, `decide(done, lookups)` what those rows add. A part another
        importer committed meanwhile is skipped; a conflict retries from a fresh read.
        `after`: the progress this importer last saw, its previous batch's end (`start`
        for one importer; in parts, the end of the part's batch before). `sending` is
        called as the commit is about to be written (the importer then reads its next
        batch while Redis runs this one).

        One round trip a batch (two in parts, with the claim): `read` is what the commit
        before this one read for it, behind its script (this commit's lookups); and the
        script goes with the lookups of `following`, the next batch's numbers, which
        are returned for its commit. Without `read`, the commit reads first (a round trip
        more); on a cluster, whose nodes keep no order between them, it always does, and
        returns None. The script writes the batch if the progress mark still reads as
        the read found it (_COMMIT_LUA: a compare-and-set in place of a WATCH, whose
        WATCH, read, MULTI and a queued reply a command each were a sixth of a clean
        row's time in the importer); a read that went ahead of another importer's
        commit fails it, and the batch is read and decided again."""
        while True:
            if read is None:
                read = await self._read(numbers(start))
            raw_done, config, lookups = read
            read = None
            self._check(config)
            done = int(raw_done or 0)
            if done >= end:
                return None
            if done < after:
                raise ImportConflict(
                    f"{self.keys.ref}: import progress went back from row {after} to"
                    f" {done}; were the campaign's Redis keys deleted?")
            if self._claiming:  # after the read: the claims are of the rows left
                lookups = (await self._claim(numbers(done), f"{self.part}:{start}"),
                           *lookups[1:])
            write = decide(max(start, done), lookups)
            keys, args = self._commit_args(write, raw_done or "")
            if sending is not None:
                sending()
            if following is None or not one_server(self.redis):
                if await self.redis.eval(_COMMIT_LUA, len(keys), *keys, *args):
                    return None
                continue  # another importer committed since the read (or its settings differ)
            wanted = list(dict.fromkeys(following))
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.eval(_COMMIT_LUA, len(keys), *keys, *args)
                self._queue_read(pipe, wanted)
                committed, *results = await pipe.execute()
            if committed:
                return self._parse_read(wanted, results)
            # another importer committed since the read: again

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

    @property
    def _claiming(self) -> bool:
        """In parts, dedupe is a claim (module docstring), not a read of the seen set."""
        return self.dedupe and self.parts > 1

    async def _read(self, batch_numbers: Sequence[str]) -> BatchRead:
        """The mark's rows_done, the import's config, and which of `batch_numbers` are
        taken, opted out and suppressed, in one round trip. The sets are read after the
        mark, so a commit landing between them fails the compare-and-set as it would
        have spoilt a WATCH. `batch_numbers` may be more than the rows left need (all of
        the batch's): a lookup answers for each number alone."""
        numbers = list(dict.fromkeys(batch_numbers))
        async with self.redis.pipeline(transaction=False) as pipe:
            self._queue_read(pipe, numbers)
            return self._parse_read(numbers, await pipe.execute())

    def _lookups(self) -> list[tuple[bool, str]]:
        """Which sets a read looks the numbers up in: the dedupe set (unless the parts
        claim), the opt-outs, the suppression lists (whether each is on, the key)."""
        return [(self.dedupe and not self._claiming, self.keys.seen),
                (self.respect_opt_outs, OPT_OUT_SET), (self.suppression, self.keys.suppressed)]

    def _queue_read(self, pipe: Pipeline, numbers: list[str]) -> None:
        """_read's commands for `numbers` (each once), onto `pipe`: the mark first."""
        progress, mark = self.keys.import_progress, self._mark
        if mark == progress:
            pipe.hmget(progress, ["rows_done", "config"])
        else:
            pipe.hget(mark, "rows_done")
            pipe.hget(progress, "config")
        for on, key in self._lookups():
            if on and numbers:
                pipe.smismember(key, numbers)

    def _parse_read(self, numbers: list[str], replies: Sequence[object]) -> BatchRead:
        """What _queue_read's commands for `numbers` answered."""
        results = iter(replies)
        if self._mark == self.keys.import_progress:
            raw_done, config = cast(list[str | None], next(results))
        else:
            raw_done, config = cast(str | None, next(results)), cast(str | None, next(results))
        found = [set(compress(numbers, cast(list[int], next(results)))) if on and numbers
                 else set() for on, _ in self._lookups()]
        return raw_done, config, (found[0], found[1], found[2])

    async def _claim(self, batch_numbers: Sequence[str], claimant: str) -> set[str]:
        """Claim the numbers for batch `claimant`; return those another batch took first
        (duplicates, as if seen before)."""
        numbers = list(dict.fromkeys(batch_numbers))
        if not numbers:
            return set()
        return set(await self.redis.eval(_CLAIM_LUA, 1, self.keys.claimed, claimant, *numbers))

    def _commit_args(self, write: BatchWrite, rows_done: str) -> tuple[list[str], list[str | int]]:
        """_COMMIT_LUA's keys and arguments for `write`, if the mark reads `rows_done`."""
        keys = self.keys
        counts = [(name, n) for name, n in write.counts.items() if n]
        taken = list(write.taken) if self.parts == 1 else []  # in parts, the claims hold them
        args: list[str | int] = [rows_done, write.end, self.fingerprint, len(counts),
                                 len(write.shard_counts), len(taken), len(write.held)]
        for name, n in counts:
            args += (name, n)
        for shard, n in write.shard_counts.items():
            args += (f"shard:{shard}", n)
        args += taken
        args += write.held
        args += _xadd_args(write.entries)
        return [keys.import_progress, self._mark, keys.counters, keys.seen, keys.holdout,
                *map(keys.shard, range(self.shards))], args


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
    """_COMMIT_LUA's stream arguments for `entries` (shard, number, variant, variables, zone):
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

# A batch's commit, whole or not at all (a script runs alone, as a MULTI does), if the
# progress mark still reads as it did when the batch was decided and the settings agree;
# returns 0, writing nothing, otherwise. One EVAL for the batch's XADDs: redis-py spends
# more time packing commands and parsing replies than Redis spends adding. EVAL, not
# EVALSHA: a script missing from the cache would cost a round trip more.
# KEYS: the progress hash, the mark (the same, or the part's), the counters, the seen
# set, the holdout set, then the streams. ARGV: the mark's rows_done as read ("": none),
# the new rows_done, the config, how many counts, shard counts, taken and held numbers,
# then the counts (name, n), the shard counts (shard:I, n), the taken numbers, the held
# ones, and the entries in groups of a stream (_xadd_args): its index among the streams,
# the fields an entry has (2: n and x, v empty; 3: n, v, x; 4: n, v, x, z, z left out
# where empty), the entries, then theirs.
_COMMIT_LUA = """
if (redis.call("HGET", KEYS[2], "rows_done") or "") ~= ARGV[1] then
  return 0
end
local config = redis.call("HGET", KEYS[1], "config")
if config and config ~= ARGV[3] then
  return 0
end
local counts, shards, taken, held = tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7])
local i = 8
local function add(key, n)  -- SADD of the next n arguments, in slices Lua's stack holds
  local last = i + n - 1
  while i <= last do
    local upto = math.min(i + 999, last)
    redis.call("SADD", key, unpack(ARGV, i, upto))
    i = upto + 1
  end
end
i = i + 2 * (counts + shards)
add(KEYS[4], taken)
add(KEYS[5], held)
while i <= #ARGV do
  local stream = KEYS[5 + tonumber(ARGV[i])]
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
  i = last + 1
end
for c = 8, 7 + 2 * counts, 2 do  -- the campaign's counters (senders move them on) and
  redis.call("HINCRBY", KEYS[3], ARGV[c], ARGV[c + 1])  -- the import's own copy
  redis.call("HINCRBY", KEYS[1], ARGV[c], ARGV[c + 1])
end
for c = 8 + 2 * counts, 7 + 2 * (counts + shards), 2 do
  redis.call("HINCRBY", KEYS[1], ARGV[c], ARGV[c + 1])
end
redis.call("HSET", KEYS[1], "config", ARGV[3])
redis.call("HSET", KEYS[2], "rows_done", ARGV[2])
return 1
"""
