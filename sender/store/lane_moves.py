"""Failover in Redis: messages moved from one channel's lane to another's, atomically.

    herald:{campaign:NS/NAME}:shard:L   the lanes (sender.sms.lanes): the entry is copied
                                        to the new lane and acked in the old one
    herald:{campaign:NS/NAME}:state     the old message key -> M:<new message key>

A message is never on two channels at once: one script checks that the message has not
left the sender's hands (its state absent, queued, waiting but let go by its send
window, or submitting with the answer just in: a temporary error, the last attempt
spent), copies its entry to the new lane, acks it in the old one and marks the old key
moved, all under the campaign's hash tag, so a crash leaves it in one lane or the other,
never both and never neither. A message whose submit got no answer (unknown) is never
moved; one a receipt or a stop settled is not: the script refuses it, and the sender
drops it from its queue (its outcome is already recorded).

Counters: the old channel's `total` and `country:<CC>` go down and the new one's up
(status.channels[] and status.plan stay each channel's share), and `failedOver` and
`channel:<from>:failedOver` count the moves. A waiting message leaves `waiting`
(campaign, variant and old channel): on the new lane it is queued, and its send window
is checked again there. The campaign's own total does not change: the message is still
the one message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sender.sms.states import State
from sender.store.client import Redis
from sender.store.keys import SENDERS_GROUP, CampaignKeys

FAILED_OVER = "failedOver"


@dataclass(frozen=True)
class Move:
    """One message to move: its entry in lane `source`, to lane `target`."""

    entry_id: str
    target: int
    target_channel: str
    variant: str = ""
    country: str = ""
    """The number's region as the import counted it (ZZ for none); "": not counted."""


_MOVE_LUA = f"""
local state, counters, source = KEYS[1], KEYS[2], KEYS[3]
local group, lane, channel = ARGV[1], ARGV[2], ARGV[3]
local movable = {{[""] = true, {State.QUEUED.value} = true, {State.SUBMITTING.value} = true,
                 {State.WAITING.value} = true}}
local moved = {{}}
for i = 4, #ARGV, 6 do
  local id, slot, target, to_channel = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  local variant, country = ARGV[i + 4], ARGV[i + 5]
  local key = lane .. "/" .. id
  local code = string.sub(redis.call("HGET", state, key) or "", 1, 1)
  local entry = redis.call("XRANGE", source, id, id)
  if movable[code] and entry[1] then
    local new_id = redis.call("XADD", KEYS[3 + slot], "*", unpack(entry[1][2]))
    local new_key = target .. "/" .. new_id
    redis.call("HSET", state, key, "{State.MOVED.value}:" .. new_key)
    redis.call("XACK", source, group, id)
    redis.call("HINCRBY", counters, "channel:" .. channel .. ":total", -1)
    redis.call("HINCRBY", counters, "channel:" .. to_channel .. ":total", 1)
    redis.call("HINCRBY", counters, "channel:" .. channel .. ":{FAILED_OVER}", 1)
    redis.call("HINCRBY", counters, "{FAILED_OVER}", 1)
    if country ~= "" then
      redis.call("HINCRBY", counters, "channel:" .. channel .. ":country:" .. country, -1)
      redis.call("HINCRBY", counters, "channel:" .. to_channel .. ":country:" .. country, 1)
    end
    if code == "{State.WAITING.value}" then  -- queued on its new lane
      redis.call("HINCRBY", counters, "waiting", -1)
      redis.call("HINCRBY", counters, "channel:" .. channel .. ":waiting", -1)
      if variant ~= "" then
        redis.call("HINCRBY", counters, "variant:" .. variant .. ":waiting", -1)
      end
    end
    moved[#moved + 1] = new_key
  else
    moved[#moved + 1] = ""
  end
end
return moved
"""


async def move_messages(redis: Redis, keys: CampaignKeys, lane: int, channel: str,
                        moves: Sequence[Move]) -> list[str | None]:
    """Move entries of lane `lane` (channel `channel`) to their targets; for each, the
    message's new key, or None when it had already left the sender's hands."""
    if not moves:
        return []
    targets = sorted({move.target for move in moves})
    slot = {target: i + 1 for i, target in enumerate(targets)}  # KEYS[3 + slot]
    args: list[Any] = [SENDERS_GROUP, lane, channel]
    for move in moves:
        args += [move.entry_id, slot[move.target], move.target, move.target_channel,
                 move.variant, move.country]
    raw: list[Any] = await redis.register_script(_MOVE_LUA)(
        keys=[keys.state, keys.counters, keys.shard(lane), *map(keys.shard, targets)],
        args=args)
    texts = [value.decode() if isinstance(value, bytes) else str(value) for value in raw]
    return [text or None for text in texts]
