-- Herald's rate limit: one token bucket as GCRA (generic cell rate algorithm), with
-- batch grants and reservation of near-future slots. sender/store/rate_limit.py runs it
-- (EVALSHA through redis-py's register_script) and mirrors its arithmetic in Python.
--
-- KEYS[1]  the bucket, e.g. herald:{channel:NS/NAME}:gcra. The only key it touches,
--          so it runs on Redis Cluster in the slot of the key's {hash tag}.
-- ARGV[1]  rate: tokens per second, integer 1..1000000 (the clock counts microseconds)
-- ARGV[2]  burst: tokens the bucket holds after an idle spell, integer >= 1
-- ARGV[3]  n: tokens wanted, integer >= 0 (0 grants nothing and reports the state)
-- ARGV[4]  ahead_us: how far past now a granted token's slot may lie, integer >= 0.
--          0 is the classic bucket: every granted token is usable at once.
--
-- Returns {granted, first_us, retry_us, now_us}, all integers:
--   granted   0 <= granted <= n
--   first_us  the slot of the first granted token, in microseconds after now_us;
--             token j (1-based) has its slot at first_us + (j - 1) * 1e6 / rate.
--             A slot <= 0 is usable now. No token may be used before its slot.
--   retry_us  microseconds after now_us until one more token could be granted
--   now_us    the server's clock (TIME), microseconds since the epoch
--
-- State: KEYS[1] holds the theoretical arrival time (TAT, integer microseconds since
-- the epoch): the time at which every token granted so far is paid for. The bucket
-- holds (now + burst * interval - TAT) / interval tokens. The key expires when the
-- bucket is full again, so a missing key (flush, restart, expiry) is a full bucket.
-- The server's clock is the only clock: the pods' clocks do not matter.

local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local ahead = tonumber(ARGV[4] or '0')
if not (rate and burst and n and ahead) or rate < 1 or rate > 1000000 or burst < 1 or n < 0 or ahead < 0 then
  return redis.error_reply('ERR gcra: want 1 <= rate <= 1000000, burst >= 1, n >= 0, ahead_us >= 0')
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = 1000000 / rate
local tau = burst * interval

local stored = redis.call('GET', KEYS[1])
local tat = stored and tonumber(stored) or now
if tat < now then
  tat = now
end

-- Token j conforms at tat + j * interval - tau; grant those whose slot is <= now + ahead.
local fits = math.floor((now + ahead + tau - tat) / interval)
local granted = math.max(0, math.min(n, fits))
local first = math.ceil(tat + interval - tau - now)
if granted > 0 then
  tat = math.ceil(tat + granted * interval)
  local ttl_ms = math.ceil((tat - now) / 1000) + 1
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', ttl_ms)
end
local retry = math.max(0, math.ceil(tat + interval - tau - ahead - now))
return {granted, first, retry, now}
