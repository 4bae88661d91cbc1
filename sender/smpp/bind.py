"""One SMPP bind: connect, bind, write submits within a window, read what comes back.

The bind knows nothing of campaigns or Redis. Whoever submits through it gives each
submit_sm an opaque `ref` and hears back through a `BindListener`: a response (status
and SMSC message id), a deliver_sm (receipt or reply), or the refs that were on the
wire when the connection died or the response never came (the caller counts those
`unknown`). A broken bind reconnects with backoff on its own.

The window is the backpressure: `reserve` waits until the bind is up and a slot is
free, so nothing queues without bound. Writes made in one turn of the event loop go
out as one `write` (one system call for many PDUs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from sender.smpp import quick_ack
from sender.smpp.codes import HEADER, HEADER_LENGTH, CommandId, CommandStatus, PduError
from sender.smpp.errors import status_name
from sender.smpp.pdu import (
    Bind,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    Unbind,
    encode_frame,
    receipt_fields,
)
from sender.smpp.stream import FrameBuffer
from sender.smpp.tls import TlsClient, open_connection

logger = logging.getLogger(__name__)

TRANSCEIVER, TRANSMITTER, RECEIVER = "Transceiver", "Transmitter", "Receiver"
TRANSMITTER_AND_RECEIVER = "TransmitterAndReceiver"
"""A channel's bindMode that is not one bind but a pair: submits go on the transmitter,
receipts and replies come on the receiver."""
BIND_PDUS: dict[str, type[Bind]] = {
    TRANSCEIVER: BindTransceiver,
    TRANSMITTER: BindTransmitter,
    RECEIVER: BindReceiver,
}
WRITE_HIGH_WATER = 1 << 20  # bytes buffered in the transport before writers wait
# The commands a read is mostly made of, as plain ints: an IntEnum's attribute and its
# comparison cost about 0.1 us a frame.
_SUBMIT_SM_RESP: Final = int(CommandId.SUBMIT_SM_RESP)
_GENERIC_NACK: Final = int(CommandId.GENERIC_NACK)
_DELIVER_SM: Final = int(CommandId.DELIVER_SM)
_DELIVER_SM_RESP: Final = int(CommandId.DELIVER_SM_RESP)
_DELIVER_SM_RESP_OK: Final = struct.Struct("!IIIIB")
"""A deliver_sm_resp accepting: the header and an empty message_id (0.12 us to pack,
encode_frame's 0.26)."""
_OK_LENGTH: Final = HEADER_LENGTH + 1
_SUBMIT_SM: Final = int(CommandId.SUBMIT_SM)  # packed a message: an enum's lookup is slow


def bind_modes(mode: str) -> tuple[str, ...]:
    """The binds one unit of a channel's bindMode opens, the submitting one first."""
    if mode == TRANSMITTER_AND_RECEIVER:
        return (TRANSMITTER, RECEIVER)
    if mode not in BIND_PDUS:
        raise ValueError(f"unknown bind mode {mode!r}")
    return (mode,)


def frames_a_turn(window: int) -> int:
    """Frames of one read handled before the dispatch may write to the slots they freed:
    half a window. Against the simulator, which answers a written window of 100 at once,
    40-64 made the most messages a second, 15-25 cost more CPU in writes and wake-ups
    than they won (bench/README.md, "Responses a few at a turn")."""
    return max(16, window // 2)


@dataclass(frozen=True)
class BindSettings:
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)  # a logged BindSettings must not show it
    system_type: str = ""
    mode: str = TRANSCEIVER
    """Transceiver, Transmitter or Receiver: one bind (see bind_modes for a channel's)."""
    window: int = 100
    enquire_link_interval: float = 30.0
    response_timeout: float = 30.0
    connect_timeout: float = 10.0
    max_backoff: float = 30.0
    tls: TlsClient | None = None
    """TLS to the SMSC; None: plain TCP."""


class BindListener(Protocol):
    """What a bind reports. Called synchronously from its reader: keep it cheap."""

    def submits_done(self, done: Sequence[tuple[Any, int, str]]) -> None:
        """Responses to submits (submit_sm_resp, generic_nack), a read's at a time in the
        order they came, each as (ref, command_status, message_id); a frame of another
        kind is acted on only after the responses before it are reported. The message_id
        is "" unless the status is ESME_ROK. Their slots are free already: one that
        raises must report the rest of `done` (`lost`) first."""
        ...

    def deliver(self, pdu: DeliverSm) -> int:
        """Handle a deliver_sm; return the command_status to answer it with."""
        ...

    def receipts_in(self, receipts: Sequence[tuple[bytes, dict[int, bytes]]]) -> list[int]:
        """Handle delivery receipts (deliver_sm whose esm_class says so), a run of them in
        a read at a time, each from its short_message and TLVs
        (sender.smpp.pdu.receipt_fields); return the command_status to answer each with.
        A frame of another kind is acted on only after the receipts before it. `deliver`
        gets one the fast path could not read."""
        ...

    def lost(self, refs: Sequence[Any], reason: str) -> None:
        """Submits whose response will never come: the SMSC may or may not have them."""
        ...


class BindGate(Protocol):
    """A cap on binds shared with other processes (sender.store.channel_activity.BindSlot)."""

    held: bool

    async def acquire(self) -> None:
        """Wait until this bind may connect."""
        ...

    async def release(self) -> None: ...


class BindDown(ConnectionError):
    """The bind went down between reserving slots and writing."""


class SmppBind:
    """One bind to one SMSC account, kept up until `stop`."""

    def __init__(self, settings: BindSettings, listener: BindListener, *, name: str = "",
                 gate: BindGate | None = None) -> None:
        self.settings = settings
        self.listener = listener
        self.gate = gate
        self.name = name or f"{settings.system_id}@{settings.host}:{settings.port}"
        self._writer: asyncio.StreamWriter | None = None
        self._up = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._in_flight: dict[int, tuple[Any, float]] = {}
        self._reserved = 0
        self._sequence = 0
        self._pending: list[bytes] = []
        self._flush_scheduled = False
        self._last_read = 0.0
        self._stopping = False
        self.binds = 0
        self.last_error = ""

    # -- sending ---------------------------------------------------------------------

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    @property
    def submits(self) -> bool:
        """Whether submits may go on this bind (a receiver bind takes deliver_sm only)."""
        return self.settings.mode != RECEIVER

    @property
    def free_slots(self) -> int:
        return self.settings.window - len(self._in_flight) - self._reserved

    async def reserve(self, wanted: int, at_least: int = 1) -> int:
        """Wait until the bind is up with `at_least` free slots; reserve up to `wanted`.

        Waiting for several slots lets the caller mark and write in fewer, larger
        batches (one Redis round trip each) instead of one per freed slot.
        Reserved slots must be used with `send` or given back with `release`.
        """
        at_least = max(1, min(at_least, wanted, self.settings.window))
        while True:
            await self._up.wait()
            free = self.free_slots
            if free >= at_least:
                taken = min(free, wanted)
                self._reserved += taken
                return taken
            self._slot_freed.clear()
            await self._slot_freed.wait()

    def release(self, slots: int) -> None:
        self._reserved -= slots
        self._slot_freed.set()

    def send(self, submits: Sequence[tuple[bytes, Any]]) -> None:
        """Write reserved submits now, each an encoded submit_sm body (SubmitSm's
        `encode_body`; sender.send.messages.MessageBuilder.bodies) given its header and
        the next sequence number here. Raises BindDown if the bind fell in between."""
        self._reserved -= len(submits)
        if not self.is_up or self._writer is None:
            self._slot_freed.set()
            raise BindDown(self.last_error or "bind is down")
        now = time.monotonic()
        in_flight, pending, pack = self._in_flight, self._pending, HEADER.pack
        for body, ref in submits:
            sequence = self._next_sequence()
            in_flight[sequence] = (ref, now)
            # Header and body apart: the flush joins them with the rest, one copy.
            pending += (pack(HEADER_LENGTH + len(body), _SUBMIT_SM, 0, sequence), body)
        self._schedule_flush()

    async def drain(self) -> None:
        """Wait while the transport holds more than WRITE_HIGH_WATER bytes.

        An SMSC that stops reading for a whole response timeout is treated as gone:
        the connection is closed, and the reader reports what was on the wire.
        """
        writer = self._writer
        if writer is not None and writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            try:
                async with asyncio.timeout(self.settings.response_timeout):
                    await writer.drain()
            except (ConnectionError, TimeoutError):
                writer.transport.abort()

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    def _write(self, frame: bytes) -> None:
        self._pending.append(frame)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._pending and self._writer is not None and not self._writer.is_closing():
            self._writer.write(b"".join(self._pending))
        self._pending.clear()

    # -- the connection's life ---------------------------------------------------------

    async def run(self) -> None:
        """Keep the bind up, reconnecting with backoff, until `stop`."""
        backoff = 0.5
        while not self._stopping:
            binds_before = self.binds
            try:
                if self.gate is not None:
                    await self.gate.acquire()  # the carrier's cap on binds, across pods
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bind must never die quietly: say why, reconnect
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self._went_down(self.last_error or "connection closed")
                if self.gate is not None and self.gate.held:
                    with contextlib.suppress(Exception):  # else it ages out
                        await self.gate.release()
            if self._stopping:
                break
            if self.binds > binds_before:
                backoff = 0.5  # it was up: a fresh outage, not a failing SMSC
            logger.warning("bind %s down (%s); reconnecting in %.1fs",
                           self.name, self.last_error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.max_backoff)

    async def stop(self) -> None:
        """Unbind politely and close."""
        self._stopping = True
        writer = self._writer
        if writer is not None and self.is_up:
            self._write(Unbind(sequence_number=self._next_sequence()).encode())
            self._flush()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(2.0):
                    await writer.drain()
            writer.close()

    async def _session(self) -> None:
        s = self.settings
        # asyncio.timeout throughout, not wait_for: on Python 3.11 wait_for can swallow
        # a cancellation, and a bind task that survives `stop` hangs whoever awaits it.
        reader, writer = await open_connection(s.host, s.port, s.tls, s.connect_timeout)
        self._writer = writer
        # One frame buffer for the whole connection: the SMSC may send receipts in the
        # same segment as the bind_resp, and they must not be lost with a local buffer.
        buffer = FrameBuffer()
        try:
            early = await self._bind(reader, writer, buffer)
            # The bind_resp was a read: without this an idle bind (a receiver) looked
            # silent since the epoch, and the keep-alive closed it within a second.
            self._last_read = time.monotonic()
            self.binds += 1
            self.last_error = ""
            self._up.set()
            self._slot_freed.set()
            logger.info("bind %s up (%s)", self.name, s.mode)
            keepalive = asyncio.create_task(self._keepalive())
            try:
                self._handle(early)
                await self._read(reader, buffer)
            finally:
                keepalive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keepalive
        finally:
            writer.close()

    async def _bind(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, buffer: FrameBuffer
    ) -> list[bytes]:
        """Bind; return the frames that came after the bind_resp in the same reads."""
        s = self.settings
        pdu = BIND_PDUS[s.mode](
            sequence_number=self._next_sequence(), system_id=s.system_id,
            password=s.password, system_type=s.system_type,
        )
        writer.write(pdu.encode())
        while True:
            async with asyncio.timeout(s.response_timeout):
                data = await reader.read(65536)
            if not data:
                raise ConnectionError("SMSC closed the connection during bind")
            frames = buffer.feed(data)
            for index, frame in enumerate(frames):
                _, command_id, status, _ = HEADER.unpack_from(frame)
                if command_id == pdu.command_id | 0x80000000:
                    if status != CommandStatus.ESME_ROK:
                        # Never show the password; the status says enough.
                        raise ConnectionError(f"bind refused: {status_name(status)}")
                    return frames[index + 1:]

    async def _read(self, reader: asyncio.StreamReader, buffer: FrameBuffer) -> None:
        sock = quick_ack.raw_socket(self._writer) if self._writer is not None else None
        turn = frames_a_turn(self.settings.window)
        while True:
            quick_ack.arm(sock)
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("SMSC closed the connection")
            self._last_read = time.monotonic()
            frames = buffer.feed(data)
            if len(frames) <= turn:
                self._handle(frames)
                continue
            # A burst of responses (an SMSC answers a written batch at once) is handled a
            # few frames at a turn: the slots each turn frees are written to before the
            # rest is handled, so the SMSC works on them meanwhile instead of waiting
            # for the whole burst (bench/README.md, "Responses a few at a turn").
            last = len(frames) - turn
            for start in range(0, len(frames), turn):
                freed = self._handle(frames[start:start + turn])
                if freed and start < last:
                    await asyncio.sleep(0)  # the dispatch takes the freed slots
                    await asyncio.sleep(0)  # and its write (`_flush`) goes out

    def _handle(self, frames: Sequence[bytes]) -> bool:
        """Act on frames from the SMSC: responses, receipts and replies, keep-alives.
        True when a response freed a slot of the window."""
        in_flight, listener, unpack = self._in_flight, self.listener, HEADER.unpack_from
        # The dispatch is woken and a write scheduled once a read, not once a frame; the
        # responses, and the receipts, go to the listener in one call a run of them
        # (bench/README.md), in the order they came.
        done: list[tuple[Any, int, str]] = []
        receipts: list[tuple[bytes, dict[int, bytes]]] = []  # and their sequence numbers:
        sequences: list[int] = []
        freed = answered = False
        try:
            for frame in frames:
                _, command_id, status, sequence = unpack(frame)
                if command_id == _SUBMIT_SM_RESP:
                    if receipts:  # the receipts before this frame are acted on first
                        answered = True
                        (read, sequences_read), receipts, sequences = (receipts, sequences), [], []
                        self._answer(listener.receipts_in(read), sequences_read)
                    entry = in_flight.pop(sequence, None)
                    if entry is not None:
                        done.append((entry[0], status,
                                     frame[16:-1].decode("ascii", "replace") if status == 0
                                     else ""))
                    continue
                if done:  # the responses before this frame are acted on first
                    freed = True
                    responses, done = done, []
                    listener.submits_done(responses)
                if command_id == _DELIVER_SM:
                    try:
                        fields = receipt_fields(frame)  # a receipt a message: the fast path
                    except PduError:  # the connection ends: the receipts before it count
                        if receipts:
                            answered = True
                            self._answer(listener.receipts_in(receipts), sequences)
                        raise
                    if fields is not None:
                        receipts.append(fields)
                        sequences.append(sequence)
                        continue
                if receipts:
                    answered = True
                    (read, sequences_read), receipts, sequences = (receipts, sequences), [], []
                    self._answer(listener.receipts_in(read), sequences_read)
                if command_id == _GENERIC_NACK:
                    entry = in_flight.pop(sequence, None)
                    if entry is not None:
                        done.append((entry[0], status or 0xFF, ""))
                elif command_id == _DELIVER_SM:
                    answer = listener.deliver(DeliverSm.decode_body(frame, sequence, status))
                    self._answer((answer,), (sequence,))
                    answered = True
                elif command_id == CommandId.ENQUIRE_LINK:
                    self._write(encode_frame(CommandId.ENQUIRE_LINK_RESP, 0, sequence))
                elif command_id == CommandId.UNBIND:
                    self._write(encode_frame(CommandId.UNBIND_RESP, 0, sequence))
                    self._flush()
                    raise ConnectionError("SMSC unbound")
                # enquire_link_resp, unbind_resp: the read itself proved the link alive.
            if done:
                freed = True
                listener.submits_done(done)
            elif receipts:
                answered = True
                self._answer(listener.receipts_in(receipts), sequences)
        finally:
            if answered:
                self._schedule_flush()
            if freed:
                self._slot_freed.set()
        return freed

    def _answer(self, answers: Sequence[int], sequences: Sequence[int]) -> None:
        """deliver_sm_resps: an empty message_id (a NUL) when accepted, no body when not."""
        pending, ok_answer = self._pending, _DELIVER_SM_RESP_OK.pack
        for answer, sequence in zip(answers, sequences, strict=True):
            pending.append(ok_answer(_OK_LENGTH, _DELIVER_SM_RESP, 0, sequence, 0) if answer == 0
                           else encode_frame(_DELIVER_SM_RESP, answer, sequence))

    async def _keepalive(self) -> None:
        """enquire_link when idle; settle submits whose response is overdue."""
        s = self.settings
        tick = min(1.0, s.enquire_link_interval, s.response_timeout)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - self._last_read > s.enquire_link_interval:
                if now - self._last_read > s.enquire_link_interval + s.response_timeout:
                    if self._writer is not None:
                        self._writer.close()  # the reader then ends the session
                    return
                self._write(EnquireLink(sequence_number=self._next_sequence()).encode())
            overdue = [seq for seq, (_, sent) in self._in_flight.items()
                       if now - sent > s.response_timeout]
            if overdue:
                refs = [self._in_flight.pop(seq)[0] for seq in overdue]
                self.listener.lost(refs, "no submit_sm_resp in time")
                self._slot_freed.set()

    def _went_down(self, reason: str) -> None:
        self._up.clear()
        self._writer = None
        self._pending.clear()
        if self._in_flight:
            refs = [ref for ref, _ in self._in_flight.values()]
            self._in_flight.clear()
            self.listener.lost(refs, reason)
        self._slot_freed.set()
