-- Herald's frequency cap: check and charge messages against their numbers' ledgers, each
-- message as one atomic step, or give charges back. sender/store/frequency_caps.py runs
-- it once per slot group of a batch (all the calls of a batch in one pipeline) and
-- mirrors its decision in Python (cap_allows).
--
-- Layout. The ledgers of one slot group G of namespace NS live in small hashes, so a
-- number costs a field in a listpack (~40 bytes) rather than a key of its own (~240):
--   herald:{cap:NS:G}:m    the group's meta hash: L and p (the linear hashing's level
--                          and split pointer), n (numbers held), k (the longest period,
--                          ms, any campaign charged the group with: entries are kept
--                          that long)
--   herald:{cap:NS:G}:bB   bucket B, a hash: number -> its ledger. The number is its
--                          digits in hex ("=" and the text for one that is not
--                          +digits); its ledger, entries of 17 characters one after
--                          the other, each <category initial><charged at: 6 base-36
--                          digits of seconds since 2025-01-01, rounded up><token>. The token, the first 10
--                          hex digits of the SHA-1 of the message's member "<category>|
--                          <campaign>|<message key>", makes a charge idempotent per message.
-- Buckets grow by linear hashing (Litwin, 1980): a number's bucket is its hash mod 2^L,
-- or mod 2^(L+1) when that is below p; once n passes LOAD numbers a bucket, bucket p
-- is split in two (and its stale numbers dropped), p moves on. Every bucket stays a
-- listpack (under 128 fields) without knowing ahead how many numbers come. The hash is
-- the number mod 2^31-1 (no two numbers of one bucket collide in it: the field is the
-- number). Idle buckets and the meta hash expire k after their last charge. A ledger
-- of four entries or more passes listpack's 64-byte value limit (hash-max-listpack-
-- value), and its bucket becomes a hash table: about twice the bytes, still correct.
--
-- Ledgers of the earlier layout (a sorted set per number, herald:{cap:NS:G}:+NUMBER)
-- are read when a number has no ledger here yet, converted, and deleted.
--
-- KEYS[1]  the group's meta hash (sender.store.keys.frequency_cap_group); the buckets'
--          names are built from it, in its slot (its hash tag): nothing else is touched.
-- ARGV[1]  "charge" or "refund"
-- ARGV[2]  maxMessages
-- ARGV[3]  the period in milliseconds (periodHours * 3600000)
-- ARGV[4]  "" (scope Namespace: every entry counts) or "C" (scope Category: only the
--          entries of the message's own category)
-- ARGV[5]  one line per message, "<E.164 number> <category initial><token>\n", the
--          token as above (sender.store.frequency_caps.token_of: the sender hashes)
-- ARGV[6]  (tests only) the time in ms to use instead of the server's clock
--
-- Returns one character per message. charge: "1" charged (send it; also when this very
-- member was charged less than k ago, so a message resent after a crash or a retry is never
-- charged twice) or "0" capped (maxMessages counted entries within the period; nothing
-- is written). The same number twice in one call: the second sees the first's charge.
-- refund: "1" the charge was there and is removed, "0" it was not there.
--
-- Sliding window: an entry counts while it is younger than the period of the campaign
-- asking, so campaigns with different periods share a ledger; entries are dropped once
-- older than the longest period that charged the group.

local EPOCH, LOAD = 1735689600, 40
local mode, most, period = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local by_category = ARGV[4] == "C"
local now = tonumber(ARGV[6] or "")
if not now then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local meta = KEYS[1]
local prefix = string.sub(meta, 1, -2)  -- "herald:{cap:NS:G}:"
local state = redis.call("HMGET", meta, "L", "p", "n", "k")
local level, split = tonumber(state[1]) or 0, tonumber(state[2]) or 0
local count, keep = tonumber(state[3]) or 0, tonumber(state[4]) or 0
if mode == "charge" and period > keep then keep = period end
local since, oldest = now - period, now - keep  -- ms: what counts, what is kept

local DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
local function b36(n, width)
  local out = ""
  repeat
    local d = n % 36
    out = string.sub(DIGITS, d + 1, d + 1) .. out
    n = (n - d) / 36
  until n == 0
  if width and #out < width then out = string.rep("0", width - #out) .. out end
  return out
end

local function token_of(member)
  return string.sub(redis.sha1hex(member), 1, 10)
end

local function stamp(ms)  -- seconds after EPOCH, rounded up: an entry never counts short
  -- (a legacy charge from before EPOCH stamped EPOCH: b36 of a negative never ends)
  return b36(math.max(0, math.ceil(ms / 1000) - EPOCH), 6)
end

local ENTRY = 17  -- characters an entry: its initial, its stamp (6), its token (10)

-- Stamps are fixed-width lowercase base 36, so they compare as strings: an entry
-- charged at stamp S is younger than `ms` when S > after(ms).
local function after(ms)
  local s = math.floor(ms / 1000) - EPOCH
  if s < 0 then return "" end
  return b36(s, 6)
end
local kept_after, count_after = after(oldest), after(since)

local function field_hash(field)
  if string.sub(field, 1, 1) == "=" then
    return tonumber(string.sub(redis.sha1hex(field), 1, 8), 16)
  end
  return tonumber(field, 16) % 2147483647
end

local function field_of(number)
  local digits = string.match(number, "^%+([1-9]%d*)$")
  if digits and #digits <= 15 then return string.format("%x", tonumber(digits)) end
  return "=" .. number
end

local function bucket_of(field)
  local h = field_hash(field)
  local b = h % 2 ^ level
  if b < split then b = h % 2 ^ (level + 1) end
  return prefix .. "b" .. string.format("%d", b)
end

local function legacy(number)  -- the earlier layout's ledger, converted; false if none
  -- It was keyed by the E.164 number: anything else (a text that could read as "m" or
  -- "b7", this layout's own keys) never had one.
  if string.sub(number, 1, 1) ~= "+" then return false end
  local key = prefix .. number
  local members = redis.call("ZRANGE", key, 0, -1, "WITHSCORES")
  if #members == 0 then return false end
  local entries = {}
  for i = 1, #members, 2 do
    local member, score = members[i], tonumber(members[i + 1])
    if member == "~" then
      if -score > keep then keep = -score; kept_after = after(now - keep) end
    else
      entries[#entries + 1] = string.sub(member, 1, 1) .. stamp(score) .. token_of(member)
    end
  end
  redis.call("DEL", key)
  return table.concat(entries)
end

local touched = {}
local now_stamp = stamp(now)

local function write(key, field, entries, existed)
  if #entries == 0 or entries[1] == "" then
    if existed then redis.call("HDEL", key, field); count = count - 1 end
  else
    if redis.call("HSET", key, field, table.concat(entries)) == 1 then
      count = count + 1
    end
  end
  touched[key] = true
end

local function charge(number, mark)
  local field = field_of(number)
  local key = bucket_of(field)
  local value = redis.call("HGET", key, field)
  local existed = value ~= false
  if not value then value = legacy(number) end
  local token, initial = string.sub(mark, 2), string.sub(mark, 1, 1)
  local kept, counted = {}, 0
  if value then
    for j = 1, #value, ENTRY do
      local at = string.sub(value, j + 1, j + 6)
      if at > kept_after then  -- a charge older than k is gone, even if not trimmed yet
        if string.sub(value, j + 7, j + 16) == token then
          if not existed then write(key, field, {value}, false) end  -- converted
          return "1"
        end
        kept[#kept + 1] = string.sub(value, j, j + 16)
        if at > count_after and (not by_category or string.sub(value, j, j) == initial) then
          counted = counted + 1
        end
      end
    end
  end
  if counted >= most then
    if not existed and value then write(key, field, kept, false) end  -- converted
    return "0"
  end
  kept[#kept + 1] = initial .. now_stamp .. token
  write(key, field, kept, existed)
  return "1"
end

local function refund(number, mark)
  local field = field_of(number)
  local key = bucket_of(field)
  local value = redis.call("HGET", key, field)
  if not value then
    value = legacy(number)
    if not value then return "0" end
    write(key, field, {value}, false)  -- converted ("": its marker only, no field)
  end
  local token, kept, found = string.sub(mark, 2), {}, "0"
  for j = 1, #value, ENTRY do  -- a charge older than k is gone: nothing to give back
    if string.sub(value, j + 7, j + 16) == token
        and string.sub(value, j + 1, j + 6) > kept_after then
      found = "1"
    else
      kept[#kept + 1] = string.sub(value, j, j + 16)
    end
  end
  if found == "1" then write(key, field, kept, true) end
  return found
end

-- Bucket p becomes p and p + 2^L: its numbers whose hash mod 2^(L+1) says so move, its
-- numbers without an entry younger than k go.
local function split_one()
  local low = 2 ^ level
  local old = prefix .. "b" .. string.format("%d", split)
  local new = prefix .. "b" .. string.format("%d", split + low)
  local fields = redis.call("HGETALL", old)
  local moved, stay, gone = {}, {}, 0
  for i = 1, #fields, 2 do
    local field, value = fields[i], fields[i + 1]
    local live = false
    for j = #value - ENTRY + 1, 1, -ENTRY do  -- the newest is last, most likely
      if string.sub(value, j + 1, j + 6) > kept_after then live = true; break end
    end
    if not live then
      gone = gone + 1
    elseif field_hash(field) % (2 * low) ~= split then
      moved[#moved + 1] = field
      moved[#moved + 1] = value
    else
      stay[#stay + 1] = field
      stay[#stay + 1] = value
    end
  end
  -- Rewritten rather than HDEL'd: each HDEL in a listpack is a scan and a move.
  redis.call("DEL", old)
  if #stay > 0 then redis.call("HSET", old, unpack(stay)) end
  if #moved > 0 then
    redis.call("HSET", new, unpack(moved))
    touched[new] = true
  end
  touched[old] = #stay > 0 or nil
  count = count - gone
  split = split + 1
  if split == low then
    -- A level done: n counted afresh, once a doubling. A bucket idle for k expired on
    -- its own with its numbers, which n still counted.
    level, split, count = level + 1, 0, 0
    for b = 0, 2 * low - 1 do
      count = count + redis.call("HLEN", prefix .. "b" .. string.format("%d", b))
    end
  end
end

local out, i = {}, 0
local step = mode == "refund" and refund or charge
for number, mark in string.gmatch(ARGV[5], "([^ \n]+) ([^\n]*)\n") do
  i = i + 1
  out[i] = step(number, mark)
end
local splits = 0
-- Enough splits for this call's new numbers, and a few to catch up; a bound, so one call
-- never rewrites a whole group.
local most_splits = 4 + 2 * math.ceil(i / LOAD)
while count > LOAD * (2 ^ level + split) and splits < most_splits do
  split_one()
  splits = splits + 1
end
if (next(touched) or splits > 0) and keep > 0 then
  for key in pairs(touched) do redis.call("PEXPIRE", key, keep) end
  redis.call("HSET", meta, "L", level, "p", split, "n", count, "k", keep)
  redis.call("PEXPIRE", meta, keep)
end
return table.concat(out)
