"""The reading side of a shard sender: recovery after a restart, then new entries, each
turned into a message ready to send or settled at once (opted out, not renderable).

Recovery is what makes a SIGKILL safe. The consumer's pending entries are what the last
process read and did not finish; their state says what to do: queued, waiting or
unmarked, send now (or hold back again, if their time has not come); `submitting`, it
was on the wire at the kill, so count it unknown (resent only if the channel asks for
at-least-once); anything else finished and only lost its ack.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sender.send.held_messages import HeldMessages
from sender.send.link_codes import LinkCodes
from sender.send.messages import MessageBuilder
from sender.send.outgoing import Outgoing, ShardSettings, ShardStats
from sender.send.source_choice import SourceChooser
from sender.send.source_lanes import SourceLanes
from sender.sms import text as sms_text
from sender.sms.countries import counted_country
from sender.sms.numbers import mask_number
from sender.sms.states import RENDER_FAILED, State, Transition, failed, message_key
from sender.store.shard_stream import NEW, PENDING, Entry, ShardStream
from sender.store.state_writer import StateWriter
from sender.store.transitions import StateStore

logger = logging.getLogger(__name__)

_NO_END = float("inf")
"""A message's closes_at without send times."""

FOLLOW_BLOCK_MS = 1000
"""How long a read of a followed stream waits for new entries: a stop is seen within it."""


# Untyped in typeshed: the C scanner (value, end) of the decoder json.loads uses.
_scan_json: Callable[[str, int], tuple[Any, int]] = (
    json.JSONDecoder().scan_once)  # type: ignore[attr-defined]


def parse_variables(raw: str) -> Any:
    """json.loads(raw), a message's variables, in a quarter of its time on the short
    objects entries carry (0.95 -> 0.25 us): the C scanner json.loads ends in, without
    the decoder's Python around it. What the scanner does not take whole (whitespace
    around the value, not a str, not JSON) goes to json.loads, which returns the same
    value or raises the same error."""
    try:
        value, end = _scan_json(raw, 0)
    except (StopIteration, TypeError):
        return json.loads(raw)
    return value if end == len(raw) else json.loads(raw)


def sort_recovered(entries: Sequence[Entry], states: Sequence[str | None],
                   resend_unknown: bool) -> tuple[list[Entry], list[Entry], list[str]]:
    """(to send again, to count unknown, ids to ack) of a consumer's pending entries."""
    resend: list[Entry] = []
    unknown: list[Entry] = []
    settled: list[str] = []  # done before the crash; only the ack was lost
    for entry, state in zip(entries, states, strict=True):
        code = (state or "")[:1]
        if code in ("", State.QUEUED, State.WAITING):
            resend.append(entry)
        elif code == State.SUBMITTING:
            unknown.append(entry)
            if resend_unknown:
                resend.append(entry)
        else:
            settled.append(entry[0])
    return resend, unknown, settled


@dataclass(eq=False)
class ShardReader:
    """Fills `ready` with messages from the shard's stream until the stream is drained."""

    settings: ShardSettings
    stream: ShardStream
    store: StateStore
    writer: StateWriter
    builder: MessageBuilder
    stats: ShardStats
    ready: deque[Outgoing] = field(default_factory=deque)
    ready_event: asyncio.Event = field(default_factory=asyncio.Event)
    done: bool = False
    """The stream is drained (or reading stopped)."""
    stopped: bool = False
    held: HeldMessages | None = None
    """Holds back messages outside their send times (None: none are)."""
    sources: SourceChooser | None = None
    """Chooses each message's address from the channel's pool (None: the builder's)."""
    lanes: SourceLanes | None = None
    """Where messages of rate-limited addresses wait for their address's tokens."""
    links: LinkCodes | None = None
    """Hands out the short links of templates with {link:URL} (None: none have)."""

    async def recover(self) -> None:
        """Settle what this consumer read before a crash or restart (its pending entries)."""
        start = PENDING
        shard = self.settings.shard
        while True:
            entries = await self.stream.read(start)
            if not entries:
                break
            start = entries[-1][0]
            states = await self.store.states([message_key(shard, e[0]) for e in entries])
            resend, unknown, settled = sort_recovered(entries, states,
                                                      self.settings.resend_unknown)
            for entry_id, fields in unknown:  # on the wire when we died: the SMSC may have it
                self.writer.transition(Transition(message_key(shard, entry_id), State.UNKNOWN,
                                                  fields.get("v", ""),
                                                  self.settings.channel_name))
            self.stats.unknown += len(unknown)
            await self.stream.ack(settled)
            self.stats.recovered += len(entries)
            await self.writer.flush()
            if self.held is not None:  # decided anew here: out of the waiting room
                await self.held.forget(resend)
            await self.accept(resend)

    async def read(self) -> None:
        """New entries, a batch at a time, while the senders keep up; following the
        stream (settings.follow), until stopped rather than until it is drained."""
        follow = FOLLOW_BLOCK_MS if self.settings.follow else None
        while not self.stopped:
            while (len(self.ready) > 2 * self.settings.read_batch
                   or (self.lanes is not None and self.lanes.full)):
                self.ready_event.clear()
                await asyncio.sleep(0.005)
            if self.held is not None and not self.held.everyone_open()[0]:
                await asyncio.sleep(self.held.poll_seconds)  # the campaign's window is shut
                continue
            # Asked before the read: a feeder that moves its last messages in and stops
            # between an empty read and this question would otherwise end the lane with
            # those messages unread.
            fail_over = self.settings.fail_over
            board = fail_over.board if fail_over is not None else None
            fed = board is not None and board.feeders_running(self.settings.shard)
            entries = await self.stream.read(NEW, block_ms=follow)
            if self.stopped:
                return  # read after the stop: left pending for the next run
            if not entries:
                if follow:
                    continue
                if board is not None and fed:
                    # A lane of an earlier channel may still move messages into this one.
                    await board.wait(self.settings.shard)
                    continue
                self.done = True
                return
            self.stats.read += len(entries)
            await self.accept(entries)

    def stop(self) -> None:
        self.done = self.stopped = True
        self.ready.clear()
        if self.lanes is not None:
            self.lanes.clear()

    async def accept(self, entries: Sequence[Entry]) -> None:
        """Turn stream entries into outgoing messages, dropping opted-out numbers (unless
        the campaign does not respect opt-outs: a Verification campaign may not)."""
        if not entries:
            return
        numbers = [fields["n"] for _, fields in entries]
        opted = (await self.stream.opted_out(numbers) if self.settings.respect_opt_outs
                 else [False] * len(numbers))
        held = self.held
        now = held.now() if held is not None else 0.0
        # What `held.look` said of a zone that lets messages go at `now`: the same for the
        # rest of the batch's in it, without its calls (0.4 us a message).
        open_until: dict[str, float] = {}
        channel = self.settings.channel_name
        prefix = message_key(self.settings.shard, "")  # each key this and its entry's id
        going: list[tuple[str, str, str, dict[str, str], float]] = []
        for (entry_id, fields), number, out in zip(entries, numbers, opted, strict=True):
            key = prefix + entry_id
            variant = fields.get("v", "")
            if out:
                self.writer.transition(Transition(key, State.OPTED_OUT, variant, channel))
                self.stats.opted_out += 1
                continue
            closes_at = _NO_END
            if held is not None:
                zone = fields.get("z", "")
                until = open_until.get(zone)
                if until is None:
                    until = held.look(entry_id, fields, now)
                    if until is None:
                        continue  # held back until its time comes
                    open_until[zone] = until
                closes_at = until
            going.append((key, number, variant, fields, closes_at))
        # Chosen for the batch, not per message: with Sticky, one Redis round trip.
        sources = (await self.sources.choose([g[1] for g in going])
                   if self.sources is not None else [None] * len(going))
        # Claimed in Redis before any of them can be sent: a click finds its code.
        links = (await self.links.assign([(g[0], g[2]) for g in going])
                 if self.links is not None else [None] * len(going))
        lanes, build, ready = self.lanes, self.builder.bodies, self.ready.append
        for (key, number, variant, fields, closes_at), source, link_set in zip(
                going, sources, links, strict=True):
            variables = parse_variables(fields.get("x", "{}"))
            try:
                pdus = build(number, variables, variant, source, link_set)
            except (sms_text.TemplateError, KeyError) as exc:
                self.writer.transition(Transition(key, failed(RENDER_FAILED), variant, channel,
                                                  country=counted_country(number)))
                self.stats.failed += 1
                logger.warning("message %s to %s not rendered: %s", key, mask_number(number), exc)
                continue
            message = Outgoing(key, number, variant, pdus, fields.get("z", ""), closes_at,
                               source.address if source is not None else "")
            if lanes and lanes.limits(message.source):
                lanes.put(message)
            else:
                ready(message)
        if held is not None:
            await held.put_away()
        self.ready_event.set()
