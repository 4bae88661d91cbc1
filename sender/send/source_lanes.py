"""Per-address rate limits of a channel's pool (sourceAddresses[].messagesPerSecond).

A message from an address with a limit does not join the sender's ready line when it is
read: it waits in its address's lane, and the lane's loop lets it into the line (at
its head, so that it goes out close to its token's slot) once its address's bucket
has a token for each of its parts. The bucket, `herald:{channel:NS/NAME}:gcra:source:
ADDRESS` (keys.ChannelKeys.source_gcra), is a GCRA bucket like the channel's, shared by
every sender of every campaign on the channel (sender.store.rate_limit, burst 1); the
message then takes the channel's token like any other, so both limits hold. Each lane
has its own loop: a message waiting for its address's token holds up no message of
another address, and messages of addresses without a limit never wait in a lane.

A channel whose queue fails over (sender.send.failover) takes its lanes' messages along
with its line's, at once, not at its addresses' pace.

Two simplifications, said here because they are what the code does:

- After its address's token a message may still wait for the channel's token and a
  window slot; two messages of one address can then leave closer together than
  1 / messagesPerSecond. Over any W seconds an address sends at most
  1 + rate x (W + d) messages, d the longest such wait (the head of the line, so d is
  short unless the channel itself is the bottleneck).
- The lanes together hold at most LANE_LIMIT read batches' worth; past that the
  reader waits, so a slow address that receives a share s of a shard's recipients
  holds the whole shard to about its rate / s once its lane is full. Route such
  recipients to their own channel, or give the address a higher limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Sequence

from crds.channel import PooledSourceAddress
from sender.send.outgoing import Outgoing
from sender.store.client import Redis
from sender.store.keys import ChannelKeys
from sender.store.rate_limit import Bucket, RateLimiter

LANE_LIMIT = 4
"""Read batches the lanes of one sender hold at most before its reader waits."""


class SourceLanes:
    """One lane per rate-limited address of a sender's pool."""

    def __init__(self, redis: Redis, channel: ChannelKeys,
                 addresses: Sequence[PooledSourceAddress], ready: deque[Outgoing],
                 ready_event: asyncio.Event, read_batch: int) -> None:
        self.limiters = {
            a.address: RateLimiter(redis, Bucket(channel.source_gcra(a.address),
                                                 a.messages_per_second))
            for a in addresses if a.messages_per_second}
        self._lanes: dict[str, deque[Outgoing]] = {a: deque() for a in self.limiters}
        self._wake = {a: asyncio.Event() for a in self.limiters}
        self._ready, self._ready_event = ready, ready_event
        self.limit = LANE_LIMIT * read_batch
        self.peak = 0
        """The most messages the lanes held at once (a reader stops at `limit`, and the
        batch it was accepting when the lanes filled goes in whole)."""

    def __bool__(self) -> bool:
        return bool(self.limiters)

    def limits(self, address: str) -> bool:
        return address in self.limiters

    @property
    def waiting(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    @property
    def full(self) -> bool:
        return self.waiting >= self.limit

    def put(self, message: Outgoing, *, front: bool = False) -> None:
        """Queue a message of a limited address (a retry goes first)."""
        lane = self._lanes[message.source]
        if front:
            lane.appendleft(message)
        else:
            lane.append(message)
            self.peak = max(self.peak, self.waiting)
        self._wake[message.source].set()

    def drop(self, number: str) -> list[Outgoing]:
        """Take a number's waiting messages out (it opted out)."""
        dropped = []
        for address, lane in self._lanes.items():
            mine = [m for m in lane if m.phone == number]
            for message in mine:
                lane.remove(message)
            dropped += mine
            if mine:
                self._wake[address].set()
        return dropped

    def take_all(self) -> list[Outgoing]:
        """Take every waiting message out (the channel's queue fails over)."""
        taken = [message for lane in self._lanes.values() for message in lane]
        self.clear()
        return taken

    def clear(self) -> None:
        """Forget what waits (the sender stops: the entries stay pending in the stream)."""
        for address, lane in self._lanes.items():
            lane.clear()
            self._wake[address].set()

    async def run(self, finished: Callable[[], bool]) -> None:
        """The lanes' loops, until `finished`."""
        async with asyncio.TaskGroup() as group:
            for address in self.limiters:
                group.create_task(self._lane(address, finished), name=f"lane-{address}")

    async def _lane(self, address: str, finished: Callable[[], bool]) -> None:
        lane, wake, limiter = self._lanes[address], self._wake[address], self.limiters[address]
        tokens = 0  # usable now, short of the head message's parts
        while not finished():
            if not lane:
                tokens = 0  # a token is used at its slot or not at all
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):  # and look at `finished` again
                        await wake.wait()
                continue
            head = lane[0]
            wanted = sum(len(m.pdus) for m in itertools.islice(lane, 100))
            if tokens < len(head.pdus):
                tokens += await limiter.acquire(max(1, wanted - tokens))
            released = 0
            while lane and len(lane[0].pdus) <= tokens:
                message = lane.popleft()
                tokens -= len(message.pdus)
                self._ready.appendleft(message)
                released += 1
            if released:
                self._ready_event.set()
