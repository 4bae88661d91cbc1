-- Record and forget a channel's receipt correlations (sender.store.correlations), and
-- count the recorded ones as the channel's submits, in one call.
--
-- One argument for any number of ids instead of two arguments an id to record and one to
-- forget: packing arguments is most of a client's cost (redis-py packs each in Python,
-- some 2 us apiece), and a sender records and forgets one id per message. Every key is
-- the channel's (one hash tag), so this runs unchanged on Redis Cluster.
--
-- KEYS[1]  the channel's receipts hash   field: SMSC message id (canonical form),
--          value: its correlation (campaign|message|variant|channel[|part/parts])
-- KEYS[2]  the channel's activity hash   field ARGV[3]: correlations recorded so far
-- ARGV[1]  the correlations to record: one line ("\n"-terminated) each, "<id>\t<value>"
-- ARGV[2]  the ids to forget (their receipt came): one line each, after the records (an
--          id recorded and answered within one call is gone at its end)
-- ARGV[3]  the activity field that counts submits (sender.store.channel_activity)
-- Returns the number of correlations recorded.

local CHUNK = 1000  -- fields per HSET or HDEL: unpack's limit is far above

local function each_chunk(command, args, step)
  for i = 1, #args, CHUNK * step do
    redis.call(command, KEYS[1], unpack(args, i, math.min(i + CHUNK * step - 1, #args)))
  end
end

local records, recorded = {}, 0
for id, value in string.gmatch(ARGV[1] or "", "([^\t\n]*)\t([^\n]*)\n") do
  records[#records + 1] = id
  records[#records + 1] = value
  recorded = recorded + 1
end
each_chunk("HSET", records, 2)
if recorded > 0 then redis.call("HINCRBY", KEYS[2], ARGV[3], recorded) end

local forgotten = {}
for id in string.gmatch(ARGV[2] or "", "([^\n]*)\n") do forgotten[#forgotten + 1] = id end
each_chunk("HDEL", forgotten, 1)
return recorded
