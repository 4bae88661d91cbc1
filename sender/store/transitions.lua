-- Move messages of one campaign between states and keep the counters in step.
--
-- Atomic per call and idempotent per message: a transition the table below does not
-- allow (a second receipt, a resend of a delivered message) changes nothing, so
-- replays after a crash or duplicate receipts never double-count. Every key is the
-- campaign's (one hash tag), so this runs unchanged on Redis Cluster.
--
-- KEYS[1]  state hash     field: message key, value: state code (absent = queued)
-- KEYS[2]  counters hash  field: counter name, value: count
-- KEYS[3]  (optional) the shard stream whose entries to XACK when a message leaves the
--          sender's hands (submitted, failed, opted out, cancelled, unknown)
-- ARGV[1]  consumer group name
-- ARGV[2]  the transitions, packed: one line ("\n"-terminated) per transition with four
--          tab-separated fields: message key, new state, variant, channel. One argument
--          instead of four per message: packing arguments is most of a client's cost.
--          The message key of a shard entry is "<shard>/<stream id>".
-- Returns the number of transitions applied.

local allowed = {
  Q = {S = true, O = true, X = true, Q = true, F = true},  -- F: could not be built (render)
  S = {s = true, F = true, Q = true, U = true},
  s = {D = true, F = true, E = true},
  U = {D = true, F = true, E = true, S = true},
}
allowed[""] = allowed.Q
local counted = {s = "submitted", D = "delivered", F = "failed", E = "expired",
                 U = "unknown", O = "optedOut", X = "cancelled"}
local acked = {s = true, F = true, O = true, X = true, U = true}

local function bump(class, delta, variant, channel)
  local name = counted[class]
  if not name then return end
  redis.call("HINCRBY", KEYS[2], name, delta)
  if variant ~= "" then redis.call("HINCRBY", KEYS[2], "variant:" .. variant .. ":" .. name, delta) end
  if channel ~= "" then redis.call("HINCRBY", KEYS[2], "channel:" .. channel .. ":" .. name, delta) end
end

local applied = 0
for key, new, variant, channel in string.gmatch(ARGV[2] or "", "([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)\n") do
  local old = redis.call("HGET", KEYS[1], key) or ""
  local from, to = string.sub(old, 1, 1), string.sub(new, 1, 1)
  local rules = allowed[from]
  if rules and rules[to] then
    redis.call("HSET", KEYS[1], key, new)
    bump(from, -1, variant, channel)
    bump(to, 1, variant, channel)
    if to == "F" then
      redis.call("HINCRBY", KEYS[2], "error:" .. string.sub(new, 3), 1)
    end
    if acked[to] and KEYS[3] then
      redis.call("XACK", KEYS[3], ARGV[1], string.match(key, "/(.*)$"))
    end
    applied = applied + 1
  end
end
return applied
