-- Herald's frequency cap: check and charge messages against their numbers' ledgers, each
-- message as one atomic step. sender/store/frequency_caps.py runs it once per slot group
-- of a batch (all the calls of a batch in one pipeline) and mirrors its decision in
-- Python (cap_allows).
--
-- KEYS     the numbers' ledgers, one per message, herald:{cap:NS:G}:NUMBER
--          (sender.store.keys.frequency_cap), all of one slot group G: this script
--          touches nothing else, so on Redis Cluster it runs in that group's slot, never
--          beside a campaign's keys. A ledger is a sorted set of the messages capped
--          campaigns of namespace NS sent the number, scored by the time of their
--          charge in milliseconds, each member "<category initial>|<campaign>|<message
--          key>". One more member, "~", scored minus the longest period (ms) any campaign
--          charged the ledger with, says how long entries are kept.
-- ARGV[1]  maxMessages
-- ARGV[2]  the period in milliseconds (periodHours * 3600000)
-- ARGV[3]  "" (scope Namespace: every entry counts) or "C" (scope Category: only the
--          entries of the message's own category, its member's first letter)
-- ARGV[4]  the members, one line ("\n"-terminated) per key, in the order of KEYS
-- ARGV[5]  (tests only) the time in ms to use instead of the server's clock
--
-- Returns one character per key: "1" charged (send it; also when this very member was
-- charged before, so a message resent after a crash or a retry is never charged twice)
-- or "0" capped (the number had maxMessages counted entries within the period; nothing
-- is written). The same number twice in one call: the second sees the first's charge.
--
-- Sliding window: an entry counts while it is younger than the period of the campaign
-- asking, so campaigns with different periods share a ledger; entries are trimmed only
-- once older than the longest period that charged the ledger, and the key expires that
-- long after its last charge.

local most, period, by_category = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == "C"
local now = tonumber(ARGV[5] or "")
if not now then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local since = "(" .. (now - period)

-- Every charge writes the keep marker, so a ledger without one has no entries: a new
-- number's ledger (the common case) costs ZMSCORE, ZADD and PEXPIRE.
local function charge(key, member)
  local scores = redis.call("ZMSCORE", key, member, "~")
  if scores[1] then return "1" end
  local keep = scores[2] and -tonumber(scores[2]) or 0
  if keep > 0 then
    redis.call("ZREMRANGEBYSCORE", key, 0, "(" .. (now - keep))
    local count = 0
    if by_category then
      local prefix = string.sub(member, 1, 2)  -- "M|"
      for _, entry in ipairs(redis.call("ZRANGEBYSCORE", key, since, "+inf")) do
        if string.sub(entry, 1, 2) == prefix then count = count + 1 end
      end
    else
      count = redis.call("ZCOUNT", key, since, "+inf")
    end
    if count >= most then return "0" end
  end
  if period > keep then
    redis.call("ZADD", key, now, member, -period, "~")
    keep = period
  else
    redis.call("ZADD", key, now, member)
  end
  redis.call("PEXPIRE", key, keep)
  return "1"
end

local out, i = {}, 0
for member in string.gmatch(ARGV[4], "([^\n]*)\n") do
  i = i + 1
  out[i] = charge(KEYS[i], member)
end
return table.concat(out)
