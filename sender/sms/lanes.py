"""Where a run's messages queue: one stream a lane, a lane a (shard, channel) pair.

A run of S shards over C channels (the campaign's, in its order) has S x C lanes, each
a stream `herald:{campaign:NS/NAME}:shard:L` that only the messages routed to that
channel take, so each channel is sent at its own rate and bind cap. A winner campaign
(spec.winner) has as many again after them for the rest of its audience:

    lane L = (R x C + c) x S + s     s shard, c channel, R 1 for the rest else 0

With one channel this is the layout runs have always had (shard s is stream s, the
rest of shard s stream S + s), so a run started before channels were routed reads on.
Sender pod s sends every lane of shard s: one lane a channel, side by side.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lanes:
    shards: int
    channels: int = 1
    rest: bool = False
    """Whether the run has a winner's rest lanes after the first ones."""

    @property
    def first(self) -> int:
        """Lanes sent first (all of them without a winner): shards x channels."""
        return self.shards * self.channels

    @property
    def streams(self) -> int:
        """Every lane of the run, the rest's included."""
        return self.first * 2 if self.rest else self.first

    def lane(self, shard: int, channel: int = 0, rest: bool = False) -> int:
        return ((self.channels if rest else 0) + channel) * self.shards + shard

    def of_shard(self, shard: int, rest: bool = False) -> list[int]:
        """The lanes sender pod `shard` sends: one a channel, in the campaign's order."""
        return [self.lane(shard, channel, rest) for channel in range(self.channels)]

    def channel_of(self, lane: int) -> int:
        """The index of the channel a lane sends through."""
        return (lane // self.shards) % self.channels

    def is_rest(self, lane: int) -> bool:
        return lane >= self.first
