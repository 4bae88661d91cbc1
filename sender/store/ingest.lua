-- Herald's ingest: take one event of a trigger Api campaign as one queued message, once
-- per Idempotency-Key, as one atomic step (sender/store/ingest_queue.py).
--
-- KEYS[1]  the campaign's run hash: its "ingest" field says the campaign takes events,
--          unless "ingest_closed" says it was cancelled
-- KEYS[2]  herald:{campaign:NS/NAME}:idempotency       key -> message key
-- KEYS[3]  herald:{campaign:NS/NAME}:idempotency:age   key scored by when taken (ms)
-- KEYS[4]  the campaign's counters hash
-- KEYS[5]  the stream of the number's shard
-- ARGV[1]  the Idempotency-Key
-- ARGV[2]  the retention in milliseconds
-- ARGV[3]  the most messages that may be queued (ingest.maxQueuedMessages)
-- ARGV[4]  the shard's index
-- ARGV[5]  the number (E.164)
-- ARGV[6]  the variant ("" without variants)
-- ARGV[7]  the variables, compact JSON
-- ARGV[8]  the counters that are not waiting to be sent (settled, in flight),
--          space-separated: queued (and held for its window) is total minus their sum
-- ARGV[9]  the event's fingerprint (a hash of its number and variables)
-- ARGV[10] the number's IANA zone, written as field z ("" for none)
-- ARGV[11] where the zone came from, counted zone:<source> ("" counts nothing)
-- ARGV[12] the channel it is routed to, counted channel:<name>:total ("" counts nothing)
-- ARGV[13] (tests only) the time in ms to use instead of the server's clock
--
-- Returns {outcome, value}: {"closed", ""} (the campaign takes no events: cancelled, or
-- its run gone), {"repeat", "message key<TAB>fingerprint"} (the key was taken within
-- the retention, by the event of that fingerprint), {"full", queued} (nothing written),
-- {"new", message key}. Every key is the campaign's.

local now = tonumber(ARGV[13] or "")
if not now then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local since = now - tonumber(ARGV[2])

if redis.call("HEXISTS", KEYS[1], "ingest") == 0
    or redis.call("HEXISTS", KEYS[1], "ingest_closed") == 1 then
  return {"closed", ""}
end

-- Forget keys past the retention, oldest first, a bounded number per call.
local old = redis.call("ZRANGEBYSCORE", KEYS[3], "-inf", "(" .. since, "LIMIT", 0, 100)
if #old > 0 then
  redis.call("HDEL", KEYS[2], unpack(old))
  redis.call("ZREM", KEYS[3], unpack(old))
end

local first = redis.call("HGET", KEYS[2], ARGV[1])
if first then
  local at = tonumber(redis.call("ZSCORE", KEYS[3], ARGV[1]) or "0")
  if at >= since then
    return {"repeat", first}
  end
end

local fields = {"total"}
for name in string.gmatch(ARGV[8], "%S+") do
  fields[#fields + 1] = name
end
local values = redis.call("HMGET", KEYS[4], unpack(fields))
local queued = tonumber(values[1] or "0")
for i = 2, #values do
  queued = queued - tonumber(values[i] or "0")
end
if queued >= tonumber(ARGV[3]) then
  return {"full", tostring(queued)}
end

local entry = {"n", ARGV[5]}
if ARGV[6] ~= "" then
  entry[#entry + 1] = "v"
  entry[#entry + 1] = ARGV[6]
end
entry[#entry + 1] = "x"
entry[#entry + 1] = ARGV[7]
if ARGV[10] ~= "" then
  entry[#entry + 1] = "z"
  entry[#entry + 1] = ARGV[10]
end
local id = redis.call("XADD", KEYS[5], "*", unpack(entry))
local message = ARGV[4] .. "/" .. id
redis.call("HSET", KEYS[2], ARGV[1], message .. "\t" .. ARGV[9])
redis.call("ZADD", KEYS[3], now, ARGV[1])
redis.call("HINCRBY", KEYS[4], "total", 1)
if ARGV[6] ~= "" then
  redis.call("HINCRBY", KEYS[4], "variant:" .. ARGV[6] .. ":total", 1)
end
if ARGV[11] ~= "" then
  redis.call("HINCRBY", KEYS[4], "zone:" .. ARGV[11], 1)
end
if ARGV[12] ~= "" then
  redis.call("HINCRBY", KEYS[4], "channel:" .. ARGV[12] .. ":total", 1)
end
return {"new", message}
