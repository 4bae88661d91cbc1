"""Messages a shard sender holds back until they may go (sender.send.shard_sender).

With send times (a send window, quiet hours: sender.sms.send_times), each message is
looked at as it is read and again as its turn to go out comes: one due outside its
recipient's hours is marked `waiting` and its entry id put in the shard's waiting room
(sender.store.waiting_room), scored by when it may go; none is dropped, and none is
submitted outside its hours, because the last look comes right before its submitting
mark. A loop lets the due ones go, through the reader's `accept` like newly read
entries (so opt-outs and rendering apply as for any other). It also reads the run's
send times again every RULES_REFRESH_SECONDS: an edited window or quiet hours apply to
what is held too (every held message is looked at anew).

A window in the campaign's zone holds back everyone at once: then nothing new is read
or let go (the operator stops the pods too), rather than every entry being held one by
one. A message whose hours never come (a window inside the quiet hours) fails with
reason NoSendTime instead of waiting for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sender.send.outgoing import Outgoing, ShardStats
from sender.sms.countries import counted_country
from sender.sms.send_times import SendRules, SendTimes
from sender.sms.states import NO_SEND_TIME, State, Transition, failed, message_key
from sender.store.shard_stream import Entry, ShardStream
from sender.store.state_writer import StateWriter
from sender.store.transitions import StateStore
from sender.store.waiting_room import WaitingRoom

logger = logging.getLogger(__name__)

RULES_REFRESH_SECONDS = 10.0
INFINITY = float("inf")


@dataclass(eq=False)
class HeldMessages:
    times: SendTimes
    room: WaitingRoom
    stream: ShardStream
    store: StateStore
    writer: StateWriter
    stats: ShardStats
    shard: int
    channel_name: str
    poll_seconds: float = 1.0
    read_rules: Callable[[], Awaitable[SendRules | None]] | None = None
    """The run's send times as Redis has them now (None: unchanged or unreadable)."""
    left: int = 0
    """Messages held in Redis, as last counted (the shard is not done while any is)."""
    _holds: list[tuple[str, float]] = field(default_factory=list)
    _puts: int = 0
    """Calls of put_away so far: a count of the room taken before one is stale."""

    def now(self) -> float:
        return self.times.clock()

    def everyone_open(self) -> tuple[bool, float]:
        """Whether the campaign's own window lets anything go now, and until when."""
        return self.times.everyone(self.now())

    def look(self, entry_id: str, fields: dict[str, str], now: float) -> float | None:
        """When a just-read entry's time to go ends (inf: no end), or None once it has
        been held back (or failed, if its time never comes)."""
        zone = fields.get("z", "")
        may_go, until = self.times.check(zone, now)
        if may_go:
            return until
        self._hold(message_key(self.shard, entry_id), entry_id, fields.get("v", ""), until,
                   fields.get("n", ""))
        return None

    def look_again(self, message: Outgoing, now: float) -> bool:
        """Whether a message about to be sent may still go; if not, it is held back."""
        if message.closes_at > now:
            return True
        may_go, until = self.times.check(message.zone, now)
        if may_go:
            message.closes_at = until
            return True
        self._hold(message.key, message.key.partition("/")[2], message.variant, until,
                   message.phone)
        return False

    def _hold(self, key: str, entry_id: str, variant: str, until: float, number: str) -> None:
        if until == INFINITY:
            self.writer.transition(Transition(key, failed(NO_SEND_TIME), variant,
                                              self.channel_name,
                                              country=counted_country(number)))
            self.stats.failed += 1
            return
        self.writer.transition(Transition(key, State.WAITING, variant, self.channel_name))
        self._holds.append((entry_id, until))
        self.stats.held += 1

    async def put_away(self) -> None:
        """Put what was held back since the last call in the waiting room."""
        holds, self._holds = self._holds, []
        if holds:
            self._puts += 1
            self.left += len(holds)
            await self.room.hold(holds)

    async def forget(self, entries: Sequence[Entry]) -> None:
        """Take entries out of the waiting room (recovery is deciding them anew)."""
        await self.room.release([entry_id for entry_id, _ in entries])

    async def release(self, accept: Callable[[Sequence[Entry]], Awaitable[None]],
                      room_for_more: Callable[[], bool], finished: Callable[[], bool]) -> None:
        """Let due messages go, through `accept`, until `finished()`."""
        refreshed = self.now()
        while not finished():
            now = self.now()
            if self.read_rules is not None and abs(now - refreshed) >= RULES_REFRESH_SECONDS:
                refreshed = now
                await self._refresh()
            if room_for_more() and self.times.everyone(now)[0]:
                ids = await self.room.due(now, self.stream.batch)
                if ids:
                    await self._let_go(ids, accept)
                    continue
            puts = self._puts
            size = await self.room.size()
            if puts == self._puts:  # else a hold landed meanwhile: the size may miss it
                self.left = size + len(self._holds)
            await asyncio.sleep(self.poll_seconds)

    async def _let_go(self, ids: Sequence[str],
                      accept: Callable[[Sequence[Entry]], Awaitable[None]]) -> None:
        entries = await self.stream.entries(ids)
        states = await self.store.states([message_key(self.shard, e[0]) for e in entries])
        # Out of the room before they go: never held and on their way at once. A crash
        # now leaves them pending and waiting, which recovery decides anew.
        await self.room.release(ids)
        await accept([entry for entry, state in zip(entries, states, strict=True)
                      if (state or "")[:1] in ("", State.QUEUED, State.WAITING)])

    async def _refresh(self) -> None:
        assert self.read_rules is not None
        rules = await self.read_rules()
        if rules is None or rules == self.times.rules:
            return
        logger.info("send times changed: every held message is looked at again")
        self.times.replace(rules)
        await self.room.wake_all()
