"""Failover between the lanes of one shard: which channel a message moves on to, and how
the lanes of a sender pod wait for one another.

A sender pod sends every lane of its shard side by side, one a channel of the run
(sender.sms.lanes). A message leaves its lane's channel for the next one in the
campaign's order that serves its number and is not unavailable:

- when it spent the channel's retry.maxAttempts on temporary errors and the channel
  has retry.failOver; it had an answer each time, so the SMSC did not take it;
- when the operator marks the channel unavailable (not Ready for its
  retry.failoverAfterSeconds): every queued message of the lane that is not on the wire.

The move is one script in Redis (sender.store.lane_moves). Messages only move to later
channels, so a lane waits, before it finishes, for the lanes of earlier channels: they
may still move messages into it (`LaneBoard`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers

from sender.sms.lanes import Lanes
from sender.sms.numbers import NO_COUNTRY, region_of
from sender.sms.routing import Router

WAKE_SECONDS = 1.0
"""How long a drained lane waits before it looks again for messages moved into it (it
is woken at once when they are moved from this process)."""
TARGETS_KEPT = 100_000
"""Numbers whose target a lane remembers (LaneFailOver.target) before it starts over."""


@dataclass(eq=False)
class LaneBoard:
    """The lanes of one sender pod: which still run, and a wake-up for each."""

    running: set[int] = field(default_factory=set)
    _woken: dict[int, asyncio.Event] = field(default_factory=dict)

    def start(self, lane: int) -> None:
        self.running.add(lane)
        self._woken.setdefault(lane, asyncio.Event())

    def finished(self, lane: int) -> None:
        self.running.discard(lane)
        for event in self._woken.values():  # a lane waiting on this one looks again
            event.set()

    def feeders_running(self, lane: int) -> bool:
        """Whether a lane that may move messages into `lane` still runs: one of an
        earlier channel (a lower lane number, sender.sms.lanes)."""
        return any(other < lane for other in self.running)

    def wake(self, lane: int) -> None:
        event = self._woken.get(lane)
        if event is not None:
            event.set()

    async def wait(self, lane: int, timeout: float = WAKE_SECONDS) -> None:
        event = self._woken.setdefault(lane, asyncio.Event())
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass
        event.clear()


@dataclass
class LaneFailOver:
    """Where the messages of one lane go when they leave its channel."""

    lanes: Lanes
    lane: int
    channels: tuple[str, ...]
    """The run's channels, in the campaign's order."""
    router: Router
    per_message: bool
    """The lane's channel has retry.failOver: a message that spent its attempts on
    temporary errors moves on rather than failing."""
    board: LaneBoard | None = None
    _targets: dict[str, tuple[int, str] | None] = field(default_factory=dict, repr=False)
    """Each number's target while the unavailable channels stay the same: a diverted
    lane looks at what stays in its queue every poll, and parsing is the cost."""
    _regions: dict[str, str] = field(default_factory=dict, repr=False)
    """The region of each number looked at, from the same parse (a move counts it)."""

    @property
    def channel(self) -> str:
        return self.channels[self.lanes.channel_of(self.lane)]

    def mark_unavailable(self, names: Iterable[str]) -> None:
        """The channels routing now passes over (the run's unavailable list)."""
        unavailable = frozenset(names)
        if unavailable != self.router.unavailable:
            self.router = Router(self.router.routes, unavailable)
            self._targets.clear()

    @property
    def diverted(self) -> bool:
        """Whether the lane's own channel is unavailable: its queue moves on."""
        return self.channel in self.router.unavailable

    def target(self, number: str) -> tuple[int, str] | None:
        """The lane and channel a message to `number` moves to: the next channel after
        this lane's that serves it and is available; None when there is none."""
        if number in self._targets:
            return self._targets[number]
        if len(self._targets) >= TARGETS_KEPT:
            self._targets.clear()
            self._regions.clear()
        parsed = phonenumbers.parse(number)
        country = phonenumbers.region_code_for_number(parsed) or ""
        self._regions[number] = country or NO_COUNTRY
        name = self.router.route(parsed, number, after=self.channel, country=country)
        target = None
        if name is not None:
            shard = self.lane % self.lanes.shards
            target = (self.lanes.lane(shard, self.channels.index(name),
                                      self.lanes.is_rest(self.lane)), name)
        self._targets[number] = target
        return target

    def region(self, number: str) -> str:
        """The region a move counts the number under (sender.store.lane_moves)."""
        found = self._regions.get(number)
        return found if found is not None else region_of(number)
