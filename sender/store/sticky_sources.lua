-- Herald's sticky sender addresses (sender/store/sticky_sources.py): the address of a
-- channel's pool each number is sent from, one string key a number.
--
-- KEYS     herald:{sticky:NS/NAME:G}:NUMBER keys, all of one slot group G (one hash tag),
--          so each call runs in one Redis Cluster slot
-- ARGV[1]  ttl: seconds a key lives after it was last read or written, integer >= 1
-- ARGV[2]  recall | remember
--   recall    returns each key's address (nil when none), renewing the ttl of those set
--   remember  ARGV[3], ARGV[4] (address, mode) for KEYS[1], then for KEYS[2] and so on;
--             mode n sets the address only if the key has none (two senders choosing for
--             one number agree on the first), r replaces it (its address left the pool).
--             Returns the address each key holds afterwards.

local ttl = tonumber(ARGV[1])
if not ttl or ttl < 1 then
  return redis.error_reply('ERR sticky_sources: want ttl >= 1')
end
local out = {}
if ARGV[2] == 'recall' then
  for i, key in ipairs(KEYS) do
    local address = redis.call('GET', key)
    if address then
      redis.call('EXPIRE', key, ttl)
    end
    out[i] = address
  end
elseif ARGV[2] == 'remember' then
  for i, key in ipairs(KEYS) do
    local address, mode = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
    if mode == 'r' then
      redis.call('SET', key, address, 'EX', ttl)
      out[i] = address
    elseif redis.call('SET', key, address, 'EX', ttl, 'NX') then
      out[i] = address
    else
      out[i] = redis.call('GET', key)
    end
  end
else
  return redis.error_reply('ERR sticky_sources: want recall or remember')
end
return out
