"""Final messages compacted: a run's finished recipients kept in small listpack hashes
instead of a stream entry and a state-hash field each (issue 17, part 5).

    herald:{campaign:NS/NAME}:final           hash: lane L -> "BUCKETS BASE_MS[ ...]",
                                              lane L's layout (`Layout`): its first
                                              generation fixed at its first compaction,
                                              one more each time the lane outgrows the
                                              last; "L:at" -> the id the last pass
                                              stopped at; "L:n" -> the records of the
                                              last generation; "L:top" -> the latest
                                              millisecond of any record
    herald:{campaign:NS/NAME}:final:L:B       hash: bucket B of lane L, field: the
                                              entry's number within the bucket (see
                                              `slot`), value: its record (`record`)
    herald:{campaign:NS/NAME}:final:hold      sorted set: the readers (an export,
                                              another full read) holding compaction off,
                                              each scored by when its hold lapses (ms,
                                              the server's clock); while one is live,
                                              nothing is compacted

Why. A message that reached its final state (delivered, failed, expired, opted out,
capped, cancelled) or moved to another lane never changes again, yet it held a stream
entry (its number, variant, variables, zone) and a field of the state hash: ~180 bytes
a recipient in Redis, most of it the per-entry overhead of two large structures. Its
record here, "<number in base 36>|<variant>|<state with its times relative to the
lane's base>", sits in a hash small enough for Redis's listpack encoding (buckets of
~48 entries, under hash-max-listpack-entries' default 128), about 30 bytes.

What is kept is what the export and the opt-out ratio read: number, variant and the
state value, restored exactly (`decode_record`). Variables and zone are not: a final
message is never rendered again.

Only final ones move. A message still owed a receipt (submitted, unknown), waiting,
queued or in flight keeps its entry and state: the sender, the receipts and failover
still act on them. The compaction (compact_lane, one script per PAGE entries) runs from
the operator's reconcile, over the entries the senders' group has read so far (past its
last-delivered-id nothing was sent), resuming where the last pass stopped and starting
over at the lane's head once it reaches that end, so a late receipt's message is picked
up by a later pass.

Readers: `records` (a lane's compacted records, a bucket page at a time) and
`final_state` (one message's). A reader that needs every message of a lane reads the
stream, then the records, under `hold`, so no message moves between the two reads.
Every key carries the campaign's tag: the script runs unchanged on Redis Cluster.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from redis.exceptions import ResponseError

from sender.sms.states import STAMP, State
from sender.store.client import Redis
from sender.store.keys import SENDERS_GROUP, CampaignKeys

PAGE = 1000
"""Stream entries one compaction call reads."""
BUCKET_ENTRIES = 48
"""Records a bucket is sized for, below listpack's 128 so failover's additions fit."""
GENERATION_FULL = 80
"""Records a bucket of a lane's last generation holds on average when the lane gets its
next generation: a bucket stays under listpack's 128 (a bucket's share varies by ~10)."""
SEQ = 65536
"""An entry id "MS-SEQ" is slotted as (MS - base) * SEQ + SEQ; a larger SEQ falls back."""
SLOT_MAX = 2 ** 50
"""Past this a slot is not exact in Lua's doubles: the id's text is the field instead."""
HOLD_SECONDS = 60
"""A hold lasts this long unless renewed: a reader that died does not stop compaction."""
FINAL_CODES = (State.DELIVERED, State.FAILED, State.EXPIRED, State.OPTED_OUT,
               State.CAPPED, State.CANCELLED, State.MOVED)
"""States a message never leaves: compacted. (Moved: its new lane's entry is the message.)"""


@dataclass(frozen=True)
class Generation:
    """Buckets for a lane's entries from `base_ms` on, numbered from `first`."""

    buckets: int
    base_ms: int
    first: int

    @property
    def base_s(self) -> int:
        """What the records' times are relative to."""
        return self.base_ms // 1000

    def place(self, ms: int, seq: int, entry_id: str) -> tuple[int, str]:
        slot = (ms - self.base_ms) * SEQ + seq
        if seq >= SEQ or slot < 0 or slot >= SLOT_MAX:
            return self.first + ms % self.buckets, entry_id
        return self.first + slot % self.buckets, str(slot // self.buckets)

    def entry_id(self, bucket: int, field: str) -> str:
        if "-" in field:
            return field
        slot = int(field) * self.buckets + bucket - self.first
        return f"{self.base_ms + slot // SEQ}-{slot % SEQ}"


@dataclass(frozen=True)
class Layout:
    """A lane's generations of buckets. The first is fixed when the lane is first
    compacted, sized to the lane then; a lane that grows after it (a triggered
    campaign's, failover's) gets another, twice the size, for its entries from then on,
    once the last one holds GENERATION_FULL records a bucket on average. Buckets are
    numbered across generations: a lane's keys are its buckets 0 to `buckets` - 1."""

    generations: tuple[Generation, ...]

    @classmethod
    def parse(cls, text: str) -> Layout:
        """From "BUCKETS BASE_MS[ BUCKETS BASE_MS ...]", as the meta hash keeps it."""
        numbers = [int(n) for n in text.split()]
        generations, first = [], 0
        for buckets, base in zip(numbers[::2], numbers[1::2], strict=True):
            generations.append(Generation(buckets, base, first))
            first += buckets
        return cls(tuple(generations))

    @property
    def buckets(self) -> int:
        last = self.generations[-1]
        return last.first + last.buckets

    def generation(self, ms: int) -> Generation:
        """The generation an entry of that millisecond belongs to (the first for one
        before every base)."""
        for generation in reversed(self.generations):
            if ms >= generation.base_ms:
                return generation
        return self.generations[0]

    def owner(self, bucket: int) -> Generation:
        """The generation bucket `bucket` is one of."""
        for generation in reversed(self.generations):
            if bucket >= generation.first:
                return generation
        raise ValueError(f"no bucket {bucket}")

    def place(self, entry_id: str) -> tuple[int, str]:
        """(bucket, field) of an entry id; the Lua script computes the same."""
        ms_text, _, seq_text = entry_id.partition("-")
        ms, seq = int(ms_text), int(seq_text or 0)
        return self.generation(ms).place(ms, seq, entry_id)

    def entry_id(self, bucket: int, field: str) -> str:
        """The entry id a bucket's field stands for (`place` reversed)."""
        return self.owner(bucket).entry_id(bucket, field)


def layout_for(length: int, first_id: str) -> Layout:
    """A lane's layout from its length and first entry when first compacted. Buckets
    are odd, so consecutive milliseconds (steps of SEQ) spread over all of them."""
    buckets = 2 * (-(-length // (2 * BUCKET_ENTRIES))) + 1
    return Layout((Generation(buckets, int(first_id.partition("-")[0]), 0),))


def decode_record(value: str, base_s: int) -> tuple[str, str, str]:
    """(number, variant, state value) of a record, as the stream and state hash held them."""
    number, variant, state = value.split("|", 2)
    number = number[1:] if number.startswith("=") else "+" + str(int(number, 36))
    head, mark, stamp = state.partition(STAMP)
    if mark:
        times = stamp.split(",")
        for i in (1, 2):
            if i < len(times) and times[i]:
                times[i] = str(int(times[i]) + base_s)
        state = head + STAMP + ",".join(times)
    return number, variant, state


# KEYS: the lane's stream, the state hash, the meta hash, the hold key.
# ARGV: start ("-" or "(ID"), the last id the senders' group read ("" none), count, lane,
#       the buckets' key prefix ("...:final:L:"), the final codes.
# Returns {entries read, records written, the id to go on after ("" when at the end)}.
COMPACT_LUA = """
local clock = redis.call("TIME")
redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", clock[1] * 1000 + math.floor(clock[2] / 1000))
if redis.call("ZCARD", KEYS[4]) > 0 then return {-1, 0, ARGV[1]} end
local stop = ARGV[2]
if stop == "" then return {0, 0, ""} end
local lane, prefix = ARGV[4], ARGV[5]
local final = {}
for i = 1, #ARGV[6] do final[string.sub(ARGV[6], i, i)] = true end
local entries = redis.call("XRANGE", KEYS[1], ARGV[1], stop, "COUNT", tonumber(ARGV[3]))
if #entries == 0 then return {0, 0, ""} end
local layout = redis.call("HGET", KEYS[3], lane)
if not layout then
  local first = redis.call("XRANGE", KEYS[1], "-", "+", "COUNT", 1)
  local length = redis.call("XLEN", KEYS[1])
  local buckets = 2 * math.ceil(length / (2 * """ + str(BUCKET_ENTRIES) + """)) + 1
  layout = buckets .. " " .. string.match(first[1][1], "^(%d+)")
  redis.call("HSET", KEYS[3], lane, layout)
end
local gens, first = {}, 0  -- {buckets, base ms, first bucket}, as Layout.parse reads
for b, s in string.gmatch(layout, "(%d+) (%d+)") do
  gens[#gens + 1] = {tonumber(b), tonumber(s), first}
  first = first + tonumber(b)
end
local last_gen = gens[#gens]
local function generation(ms)
  for g = #gens, 1, -1 do
    if ms >= gens[g][2] then return gens[g] end
  end
  return gens[1]
end
local SEQ, MAX, FULL = """ + f"{SEQ}, {SLOT_MAX}, {GENERATION_FULL}" + """

local function b36(n)
  local digits, out = "0123456789abcdefghijklmnopqrstuvwxyz", ""
  repeat
    local d = n % 36
    out = string.sub(digits, d + 1, d + 1) .. out
    n = (n - d) / 36
  until n == 0
  return out
end

local function number_of(n)
  local digits = string.match(n, "^%+([1-9]%d*)$")
  if digits and #digits <= 15 then return b36(tonumber(digits)) end
  return "=" .. n
end

local function relative(state, base_s)
  local head, segments, submitted, done = string.match(state, "^(.-)~([^,]*),([^,]*),?(.*)$")
  if not head then return state end
  if submitted ~= "" then submitted = string.format("%d", tonumber(submitted) - base_s) end
  if done ~= "" then done = string.format("%d", tonumber(done) - base_s) end
  return head .. "~" .. segments .. "," .. submitted .. "," .. done
end

local keys = {}
for i, entry in ipairs(entries) do keys[i] = lane .. "/" .. entry[1] end
local states = redis.call("HMGET", KEYS[2], unpack(keys))
-- The records in the last generation, and the latest millisecond of any record so far.
local count_field, top_field = lane .. ":n", lane .. ":top"
local kept = redis.call("HMGET", KEYS[3], count_field, top_field)
local in_last, top = tonumber(kept[1] or "0"), tonumber(kept[2] or "0")
local counted, was_top = in_last, top
local done_keys, done_ids = {}, {}
for i, entry in ipairs(entries) do
  local state = states[i]
  if state and final[string.sub(state, 1, 1)] then
    local id = entry[1]
    local ms, seq = string.match(id, "^(%d+)-(%d+)$")
    ms, seq = tonumber(ms), tonumber(seq)
    local gen = generation(ms)
    local buckets, base = gen[1], gen[2]
    local slot = (ms - base) * SEQ + seq
    local bucket, field
    if seq >= SEQ or slot < 0 or slot >= MAX then
      bucket, field = gen[3] + ms % buckets, id
    else
      local within = slot % buckets
      bucket, field = gen[3] + within, string.format("%d", (slot - within) / buckets)
    end
    -- A lane that grew past its last generation's size gets the next, twice as large,
    -- for the entries after every record so far (a pass that started over at the head
    -- compacts older entries after newer ones: none placed changes generation).
    if ms > top then top = ms end
    if gen == last_gen then
      in_last = in_last + 1
      if in_last >= last_gen[1] * FULL then
        local grown = {2 * last_gen[1] + 1, top + 1, last_gen[3] + last_gen[1]}
        gens[#gens + 1] = grown
        last_gen = grown
        layout = string.format("%s %d %d", layout, grown[1], grown[2])
        redis.call("HSET", KEYS[3], lane, layout)
        in_last = 0
      end
    end
    local fields, n, v = entry[2], "", ""
    for j = 1, #fields, 2 do
      if fields[j] == "n" then n = fields[j + 1] elseif fields[j] == "v" then v = fields[j + 1] end
    end
    redis.call("HSET", prefix .. bucket, field,
               number_of(n) .. "|" .. v .. "|" .. relative(state, math.floor(base / 1000)))
    done_keys[#done_keys + 1] = keys[i]
    done_ids[#done_ids + 1] = id
  end
end
if #done_ids > 0 then
  redis.call("HDEL", KEYS[2], unpack(done_keys))
  redis.call("XDEL", KEYS[1], unpack(done_ids))
end
if in_last ~= counted or top ~= was_top then
  redis.call("HSET", KEYS[3], count_field, in_last, top_field, string.format("%d", top))
end
local last = entries[#entries][1]
if #entries < tonumber(ARGV[3]) or last == stop then last = "" else last = "(" .. last end
return {#entries, #done_ids, last}
"""


@dataclass
class Compacted:
    """What a pass did: entries read, records written, whether a lane has more now."""

    read: int = 0
    written: int = 0
    more: bool = False


async def _last_delivered(redis: Redis, stream: str) -> str:
    """The last id the senders' group read from a stream; "" before any read."""
    try:
        groups: Any = await redis.xinfo_groups(stream)
    except ResponseError as error:  # no such stream (nothing imported into this lane)
        if "no such key" in str(error).lower():
            return ""
        raise
    for group in groups:
        name = group.get("name")
        if (name.decode() if isinstance(name, bytes) else name) == SENDERS_GROUP:
            last = group.get("last-delivered-id") or ""
            last = last.decode() if isinstance(last, bytes) else str(last)
            return "" if last == "0-0" else last
    return ""


async def compact_lane(redis: Redis, keys: CampaignKeys, lane: int, budget: int,
                       page: int = PAGE, *, whole: bool = False) -> Compacted:
    """Move lane `lane`'s final messages to its records, reading at most about `budget`
    entries, from where the last pass stopped. `whole`: to the stream's end, not only
    what the senders read (a finished run: cancelled entries were never read)."""
    done = Compacted()
    stop = "+" if whole else await _last_delivered(redis, keys.shard(lane))
    if not stop:
        return done
    script = redis.register_script(COMPACT_LUA)
    at_field = f"{lane}:at"
    start = cast(str | None, await redis.hget(keys.final, at_field)) or "-"
    while done.read < budget:
        reply: Any = await script(
            keys=[keys.shard(lane), keys.state, keys.final, keys.final_hold],
            args=[start, stop, page, lane, keys.final_bucket(lane, ""),
                  "".join(FINAL_CODES)])
        read, written, after = int(reply[0]), int(reply[1]), reply[2]
        after = after.decode() if isinstance(after, bytes) else str(after)
        if read < 0:  # held
            done.more = True
            return done
        done.read += read
        done.written += written
        start = after or "-"
        if not after:
            break
    else:
        done.more = True
    await redis.hset(keys.final, at_field, start)
    return done


async def compact_run(redis: Redis, keys: CampaignKeys, lanes: int, budget: int, *,
                      whole: bool = False) -> Compacted:
    """One pass over every lane of a run (`budget` entries each, at most)."""
    total = Compacted()
    for lane in range(lanes):
        done = await compact_lane(redis, keys, lane, budget, whole=whole)
        total.read += done.read
        total.written += done.written
        total.more = total.more or done.more
    return total


async def layout(redis: Redis, keys: CampaignKeys, lane: int) -> Layout | None:
    text = cast(str | None, await redis.hget(keys.final, str(lane)))
    return None if text is None else Layout.parse(text)


@dataclass(frozen=True)
class FinalRecord:
    entry_id: str
    number: str
    variant: str
    state: str


async def records(redis: Redis, keys: CampaignKeys, lane: int, buckets_per_page: int = 40
                  ) -> AsyncIterator[list[FinalRecord]]:
    """Every compacted record of a lane, a page of buckets at a time."""
    found = await layout(redis, keys, lane)
    if found is None:
        return
    for first in range(0, found.buckets, buckets_per_page):
        numbers = range(first, min(first + buckets_per_page, found.buckets))
        async with redis.pipeline(transaction=False) as pipe:
            for bucket in numbers:
                pipe.hgetall(keys.final_bucket(lane, bucket))
            replies: list[Any] = await pipe.execute()
        page = []
        for bucket, fields in zip(numbers, replies, strict=True):
            generation = found.owner(bucket)
            for field, value in fields.items():
                number, variant, state = decode_record(value, generation.base_s)
                page.append(FinalRecord(generation.entry_id(bucket, field), number,
                                        variant, state))
        if page:
            yield page


async def final_state(redis: Redis, keys: CampaignKeys, lane: int, entry_id: str
                      ) -> str | None:
    """The state value of a compacted message; None when it is not compacted."""
    found = await layout(redis, keys, lane)
    if found is None:
        return None
    bucket, field = found.place(entry_id)
    value = cast(str | None, await redis.hget(keys.final_bucket(lane, bucket), field))
    return None if value is None else decode_record(value, found.owner(bucket).base_s)[2]


# KEYS: the hold. ARGV: the reader's token, HOLD_SECONDS in ms. By the server's clock, as
# the compaction reads it.
RENEW_LUA = """
local clock = redis.call("TIME")
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
"""


@contextlib.asynccontextmanager
async def hold(redis: Redis, keys: CampaignKeys) -> AsyncIterator[Any]:
    """No compaction while inside (a reader of a lane's stream, then its records). Each
    reader holds with a token of its own, so one that finishes does not release
    another's hold. A hold lapses on its own after HOLD_SECONDS: call the yielded
    `renew` per page."""
    token = uuid.uuid4().hex

    async def renew() -> None:
        await redis.eval(RENEW_LUA, 1, keys.final_hold, token, HOLD_SECONDS * 1000)

    await renew()
    try:
        yield renew
    finally:
        await redis.zrem(keys.final_hold, token)


async def delete_records(redis: Redis, keys: CampaignKeys, lanes: int) -> None:
    """Every record key of a run, then its layout."""
    for lane in range(lanes):
        found = await layout(redis, keys, lane)
        if found is None:
            continue
        for first in range(0, found.buckets, 1000):
            await redis.delete(*(keys.final_bucket(lane, b)
                                 for b in range(first, min(first + 1000, found.buckets))))
    await redis.delete(keys.final, keys.final_hold)
