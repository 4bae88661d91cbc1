-- Move messages of one campaign between states and keep the counters in step.
--
-- Atomic per call and idempotent per message: a transition the table below does not
-- allow (a second receipt, a resend of a delivered message) changes nothing, so
-- replays after a crash or duplicate receipts never double-count. Every key is the
-- campaign's (one hash tag), so this runs unchanged on Redis Cluster.
--
-- KEYS[1]  state hash     field: message key, value: state code (absent = queued)
-- KEYS[2]  counters hash  field: counter name, value: count
-- KEYS[3]  parts hash     field: message key of a long message, value: one character per
--          part, its receipt's outcome (D, E, F) or "-" while none came
-- KEYS[4]  (optional) the shard stream whose entries to XACK when a message leaves the
--          sender's hands (submitted, failed, opted out, capped, cancelled, unknown)
-- ARGV[1]  consumer group name
-- ARGV[2]  the transitions, packed: one line ("\n"-terminated) per transition with
--          tab-separated fields: message key, new state, either "<part>/<parts>" (a
--          receipt for one part of a long message) or the number of segments the SMSC
--          accepted (counted in segmentsSubmitted; empty: none), then either nothing
--          (no variant, ARGV[5]'s channel, no country: most lines) or three more: the
--          variant, the channel, and a failure's country (counted in
--          country:<CC>:error:<code>; empty: none). One argument instead of several per
--          message: packing arguments is most of a client's cost; and the short form
--          because splitting a line is about 40% of what the script spends on a mark.
--          The message key of a shard entry is "<shard>/<stream id>".
-- ARGV[3]  the final outcomes in order of precedence, e.g. "FED" (FINAL_PRECEDENCE in
--          sender.sms.states): a long message's outcome is the first that any of its
--          parts has; the first of all decides at once, the others once every part is in.
-- ARGV[4]  now, in unix seconds: the time a stamp records (see `value` below)
-- ARGV[5]  the channel of the lines that name none (empty: none)
-- Returns {applied, settled}: how many transitions were applied (a part's receipt
-- recorded counts), and for each part receipt that settled its message a line
-- "<index of the transition, from 1>\t<the message's new state>\n".

-- A move allowed from a state: true, or QUIET when it touches no counter, no stamp and
-- no ack (a mark from queued, a return to queued): a line of such a move that carries no
-- segments only writes its state (the fast path in the loop below), a third of all lines.
local QUIET = "quiet"
local allowed = {
  Q = {S = QUIET, O = true, C = true, X = true, Q = QUIET, F = true,   -- F: not rendered
       W = true},
  -- waiting for its send time: held in the pending list (never acked), goes on as queued
  W = {S = true, O = true, C = true, X = true, Q = true, F = true, W = true},
  S = {s = true, F = true, Q = QUIET, U = true},
  s = {D = true, F = true, E = true},
  U = {D = true, F = true, E = true, S = true},
}
allowed[""] = allowed.Q
local counted = {W = "waiting", s = "submitted", D = "delivered", F = "failed", E = "expired",
                 U = "unknown", O = "optedOut", C = "capped", X = "cancelled"}
local acked = {s = true, F = true, O = true, C = true, X = true, U = true}
local received = {D = true, F = true, E = true}  -- a receipt: the SMSC had the message
local final = {D = true, F = true, E = true, O = true, C = true, X = true}
local now = ARGV[4] or ""
local channel_given = ARGV[5] or ""
local precedence = ARGV[3] or "FED"
local first = string.sub(precedence, 1, 1)
-- Locals, not string.x: Lua 5.1 looks a global and then a field up at each use, and the
-- loop below runs a few hundred times a call, three times a message's life.
local sub, find, match = string.sub, string.find, string.match

-- Reads and writes are batched: one HMGET for the states, then (after the moves are
-- decided in order, a message's state carried from one line to the next) one HSET, one
-- HINCRBY per counter touched and one XACK, instead of several calls per message.
local CHUNK = 1000
local deltas = {}

local function add(name, delta, variant, channel)
  deltas[name] = (deltas[name] or 0) + delta
  if variant ~= "" then
    local field = "variant:" .. variant .. ":" .. name
    deltas[field] = (deltas[field] or 0) + delta
  end
  if channel ~= "" then
    local field = "channel:" .. channel .. ":" .. name
    deltas[field] = (deltas[field] or 0) + delta
  end
end

local function bump(class, delta, variant, channel)
  local name = counted[class]
  if name then add(name, delta, variant, channel) end
end

-- The moves are tallied by variant, channel and (from, to) as they are applied, and
-- turned into counter deltas once a call (`count_moves`): a call's transitions share a
-- few of each, and the deltas' field names cost a new string apiece.
local tallies = {}  -- variant -> channel -> {moves = {[from .. to] = n}, segments = n}
local last_variant, last_channel, last_tally  -- most lines share the one before's
local function tally(variant, channel)
  if variant == last_variant and channel == last_channel then return last_tally end
  local byvariant = tallies[variant]
  if not byvariant then
    byvariant = {}
    tallies[variant] = byvariant
  end
  local t = byvariant[channel]
  if not t then
    t = {moves = {}, segments = 0}
    byvariant[channel] = t
  end
  last_variant, last_channel, last_tally = variant, channel, t
  return t
end

local function count_moves()
  for variant, byvariant in pairs(tallies) do
    for channel, t in pairs(byvariant) do
      for pair, n in pairs(t.moves) do
        local from, to = string.sub(pair, 1, 1), string.sub(pair, 2, 2)
        bump(from, -n, variant, channel)
        bump(to, n, variant, channel)
        -- sent: accepted by the SMSC, never taken back; an unknown one proves it by a
        -- receipt.
        if to == "s" or (from == "U" and received[to]) then add("sent", n, variant, channel) end
      end
      if t.segments > 0 then add("segmentsSubmitted", t.segments, variant, channel) end
    end
  end
end

-- The outcome a long message's part outcomes decide, or nil while undecided.
local function outcome(codes)
  if string.find(codes, first, 1, true) then return first end
  if string.find(codes, "-", 1, true) then return nil end
  for i = 1, #precedence do
    local code = string.sub(precedence, i, i)
    if string.find(codes, code, 1, true) then return code end
  end
  return nil
end

-- The state value `new` with its stamp (sender.sms.states.STAMP), in one concatenation:
-- "~<segments>,<submitted>,<done>". Taken by the SMSC: its segments and now; final: what
-- it carried, and now. Else none (a retry starts afresh, and an unknown one's submit
-- time is not known).
local function value(new, old, to, segments)
  if to == "s" then  -- nothing carried but the segments, and only when none are given
    if segments == "" then segments = match(old, "~(%d*),") or "" end
    return new .. "~" .. segments .. "," .. now .. ","
  end
  if not final[to] then return new end  -- a retry, an unknown one
  local carried, submitted = match(old, "~(%d*),(%d*)")
  if segments == "" then segments = carried or "" end
  return new .. "~" .. segments .. "," .. (submitted or "") .. "," .. now
end

-- The lines, a field an array (no table a line to build and collect). `lrest`: a line's
-- last three fields, when it has them ("": the defaults).
local count, lkey, lnew, lextra, lrest = 0, {}, {}, {}, {}
for key, new, extra, rest in string.gmatch(ARGV[2] or "",
    "([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)([^\n]*)\n") do
  count = count + 1
  lkey[count], lnew[count], lextra[count], lrest[count] = key, new, extra, rest
end
-- One HMGET a chunk reads the lines' keys as they come (a key twice in a call is read
-- twice: rarer, and cheaper, than a table of the distinct ones). `lold`: each line's key's
-- state as read, to tell at the end which the call changed.
local states, lold = {}, {}
for i = 1, count, CHUNK do
  local last = math.min(i + CHUNK - 1, count)
  local values = redis.call("HMGET", KEYS[1], unpack(lkey, i, last))
  for j = i, last do
    local old = values[j - i + 1] or ""
    states[lkey[j]], lold[j] = old, old
  end
end

local acks, nacks, ack_stream = {}, 0, KEYS[4]
local function move(key, from, to, new, variant, channel, segments, country)
  states[key] = value(new, states[key], to, segments)
  local t = tally(variant, channel)
  local pair = (from == "" and "Q" or from) .. to  -- unmarked counts as queued does
  t.moves[pair] = (t.moves[pair] or 0) + 1
  if segments ~= "" then t.segments = t.segments + segments end
  if to == "F" then
    local code = sub(new, 3)
    add("error:" .. code, 1, "", "")
    if channel ~= "" then add("channel:" .. channel .. ":error:" .. code, 1, "", "") end
    if country ~= "" then add("country:" .. country .. ":error:" .. code, 1, "", "") end
  end
  if acked[to] and ack_stream then
    nacks = nacks + 1
    acks[nacks] = match(key, "/(.*)$")
  end
end

local applied, settled = 0, {}
for index = 1, count do
  local key, new, extra = lkey[index], lnew[index], lextra[index]
  local old = states[key]
  -- A state's code, its first character; most are nothing else ("", S, D): those need
  -- no sub's call.
  local from = #old < 2 and old or sub(old, 1, 1)
  local to = #new < 2 and new or sub(new, 1, 1)
  local rules = allowed[from]
  local rule = rules and rules[to]
  if rule == QUIET and extra == "" then
    states[key] = new  -- what `move` would do: no stamp, tally or ack to make
    applied = applied + 1
  elseif rule then
    local variant, channel, country = "", channel_given, ""
    local rest = lrest[index]
    if rest ~= "" then variant, channel, country = match(rest, "^\t([^\t]*)\t([^\t]*)\t([^\t]*)$") end
    -- extra: empty (a receipt, most failures), "<part>/<parts>", or the segments, kept
    -- as text: a number in a concatenation is formatted by sprintf, 0.27 us a submit.
    local segments, part, parts = "", nil, nil
    if extra ~= "" then
      if find(extra, "/", 1, true) then part, parts = match(extra, "^(%d+)/(%d+)$") end
      if not part then segments = extra end
    end
    if part then
      -- One part's receipt: recorded once; the message moves when its parts decide.
      part = tonumber(part)
      local codes = redis.call("HGET", KEYS[3], key) or string.rep("-", tonumber(parts))
      if sub(codes, part, part) == "-" then
        codes = sub(codes, 1, part - 1) .. to .. sub(codes, part + 1)
        applied = applied + 1
        local decided = outcome(codes)
        if decided then
          redis.call("HDEL", KEYS[3], key)
          if decided ~= to then  -- decided by an earlier part's receipt
            new = decided == "F" and "F:receipt" or decided
          end
          move(key, from, sub(new, 1, 1), new, variant, channel, "", country)
          settled[#settled + 1] = index .. "\t" .. new .. "\n"
        else
          redis.call("HSET", KEYS[3], key, codes)
        end
      end
    else
      move(key, from, to, new, variant, channel, segments, country)
      applied = applied + 1
    end
  end
end

count_moves()
-- The states the call changed, each once: a key written is set aside (false) so that a
-- later line of the same key does not write it again. Keys a move left as they were (a
-- queued one queued again) are not written: the hash is the same either way.
local args, nargs = {}, 0
for j = 1, count do
  local key = lkey[j]
  local state = states[key]
  if state and state ~= lold[j] then
    args[nargs + 1], args[nargs + 2] = key, state
    nargs = nargs + 2
    states[key] = false
  end
end
for i = 1, nargs, 2 * CHUNK do
  redis.call("HSET", KEYS[1], unpack(args, i, math.min(i + 2 * CHUNK - 1, nargs)))
end
for name, delta in pairs(deltas) do
  if delta ~= 0 then redis.call("HINCRBY", KEYS[2], name, delta) end
end
for i = 1, nacks, CHUNK do
  redis.call("XACK", ack_stream, ARGV[1], unpack(acks, i, math.min(i + CHUNK - 1, nacks)))
end
return {applied, table.concat(settled)}
