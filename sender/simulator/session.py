"""One SMPP connection to the simulator: bind state, submit handling, response batching.

Per read: split into frames, answer each, write all answers at once (or, with latency, after
one shared timer). Per submit_sm only a decode, a decision, a record and a response frame.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sender.simulator.config import Outcome
from sender.simulator.delivery import Delivery, receipt_body
from sender.simulator.outcomes import STATES
from sender.simulator.records import AcceptedMessage
from sender.smpp.codes import (
    ESM_UDHI,
    HEADER,
    INTERFACE_VERSION,
    NUL,
    RESPONSE_BIT,
    CommandId,
    CommandStatus,
    PduError,
    Tag,
)
from sender.smpp.pdu import BindResp, BindTransmitter, SubmitSm, concat_info, encode_frame
from sender.smpp.stream import FrameBuffer

if TYPE_CHECKING:
    from sender.simulator.server import Simulator

_SUBMIT_SM, _SUBMIT_SM_RESP = CommandId.SUBMIT_SM, CommandId.SUBMIT_SM_RESP
_DELIVER_SM_RESP, _ENQUIRE_LINK = CommandId.DELIVER_SM_RESP, CommandId.ENQUIRE_LINK
_BIND_MODES = {  # command_id: (can submit, can receive)
    CommandId.BIND_TRANSMITTER: (True, False),
    CommandId.BIND_RECEIVER: (False, True),
    CommandId.BIND_TRANSCEIVER: (True, True),
}
READ_SIZE = 256 * 1024
WRITE_HIGH_WATER = 4 * 1024 * 1024


class SmppSession:
    """One TCP connection: its bind state, unanswered submits and unanswered deliver_sm."""

    def __init__(self, smsc: Simulator, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.smsc = smsc
        self.reader, self.writer = reader, writer
        self.transport = writer.transport
        self.system_id: str | None = None
        self.can_submit = self.can_receive = False
        self.unanswered = 0
        self.outstanding: dict[int, Delivery] = {}
        self._sequence = 0
        self._closing = False
        self.is_open = True

    def next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    def write(self, data: bytes) -> None:
        if self.is_open:
            self.transport.write(data)

    @property
    def mode(self) -> str:
        """Transceiver, Transmitter or Receiver; empty before the bind."""
        return {(True, True): "Transceiver", (True, False): "Transmitter",
                (False, True): "Receiver"}.get((self.can_submit, self.can_receive), "")

    def abort(self) -> None:
        """Drop the connection at once, without unbind; unwritten responses are lost."""
        self.is_open = False
        self.transport.abort()

    async def run(self) -> None:
        frames_of = FrameBuffer().feed
        try:
            while not self._closing:
                data = await self.reader.read(READ_SIZE)
                if not data or not self.is_open:
                    break
                try:
                    frames = frames_of(data)
                except PduError as error:  # bad command_length: the stream is lost
                    self.write(encode_frame(CommandId.GENERIC_NACK, error.status, 0))
                    break
                self.handle(frames)
                if self.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                    await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.is_open = False
            self.smsc._closed(self)
            self.transport.close()

    def handle(self, frames: list[bytes]) -> None:
        """Answer every frame of one read; responses go out in one write (or one timer)."""
        smsc = self.smsc
        out: list[bytes] = []
        delayed: list[bytes] = []
        for frame in frames:
            _, command_id, status, sequence = HEADER.unpack_from(frame)
            if command_id == _SUBMIT_SM:
                self._submit(frame, sequence, out, delayed)
                if smsc._drop_due:
                    smsc.drop_connections()  # what this read answered is lost, as on a crash
                    return
            elif command_id == _DELIVER_SM_RESP or command_id == CommandId.GENERIC_NACK:
                smsc.deliveries.acknowledge(self, sequence, status)
            elif command_id == _ENQUIRE_LINK:
                out.append(encode_frame(CommandId.ENQUIRE_LINK_RESP, 0, sequence))
            elif command_id in _BIND_MODES:
                out.append(self._bind(frame, command_id, sequence))
            elif command_id == CommandId.UNBIND:
                out.append(encode_frame(CommandId.UNBIND_RESP, 0, sequence))
                smsc.counters.unbinds += 1
                self._closing = True
                break
            elif not command_id & RESPONSE_BIT:
                out.append(encode_frame(CommandId.GENERIC_NACK, CommandStatus.ESME_RINVCMDID,
                                        sequence))
        if out:
            self.write(b"".join(out))
        if delayed:
            self.unanswered += len(delayed)
            asyncio.get_running_loop().call_later(smsc.config.latency_ms / 1000,
                                                  self._answer_late, delayed)

    def _answer_late(self, responses: list[bytes]) -> None:
        self.unanswered -= len(responses)
        self.write(b"".join(responses))

    def _bind(self, frame: bytes, command_id: int, sequence: int) -> bytes:
        smsc = self.smsc
        response_id = command_id | RESPONSE_BIT
        try:
            bind = BindTransmitter.decode_body(frame, sequence, 0)  # every bind: one layout
        except PduError as error:
            return encode_frame(response_id, error.status, sequence)
        account = smsc.config.account(bind.system_id)
        if self.system_id is not None:
            status = CommandStatus.ESME_RALYBND
        elif account is None:
            status = CommandStatus.ESME_RINVSYSID
        elif bind.password != account.password:
            status = CommandStatus.ESME_RINVPASWD
        elif smsc.bind_counts[bind.system_id] >= account.max_binds:
            status = CommandStatus.ESME_RBINDFAIL
        else:
            status = CommandStatus.ESME_ROK
        if status:
            smsc.counters.bind_failures += 1
            return encode_frame(response_id, status, sequence)
        self.system_id = bind.system_id
        self.can_submit, self.can_receive = _BIND_MODES[CommandId(command_id)]
        smsc._bound(self)
        tlvs: dict[int, bytes] = ({Tag.SC_INTERFACE_VERSION: bytes((INTERFACE_VERSION,))}
                if bind.interface_version >= INTERFACE_VERSION else {})
        body = BindResp(system_id=smsc.config.smsc_system_id, tlvs=tlvs).encode_body()
        return encode_frame(response_id, 0, sequence, body)

    def _submit(self, frame: bytes, sequence: int, out: list[bytes], delayed: list[bytes]) -> None:
        smsc, config, counters = self.smsc, self.smsc.config, self.smsc.counters
        answers = delayed if config.latency_ms else out
        if not self.can_submit:
            out.append(encode_frame(_SUBMIT_SM_RESP, CommandStatus.ESME_RINVBNDSTS, sequence))
            return
        counters.submits += 1
        if config.window and self.unanswered + len(delayed) >= config.window:
            counters.window_exceeded += 1
            smsc._count_refusal(config.window_status)
            out.append(encode_frame(_SUBMIT_SM_RESP, config.window_status, sequence))
            return
        try:
            pdu = SubmitSm.decode_body(frame, sequence, 0)
            payload = pdu.tlvs.get(Tag.MESSAGE_PAYLOAD, pdu.short_message) if pdu.tlvs \
                else pdu.short_message
            concat = concat_info(pdu.esm_class, payload, pdu.tlvs) \
                if pdu.tlvs or pdu.esm_class & ESM_UDHI else None
        except PduError as error:
            answers.append(encode_frame(_SUBMIT_SM_RESP, error.status, sequence))
            smsc.counters.submit_errors += 1
            return
        decision = smsc.policy.decide(pdu.destination_addr, concat.seqnum if concat else 0)
        if decision.status:
            smsc._count_refusal(decision.status)
            answers.append(encode_frame(_SUBMIT_SM_RESP, decision.status, sequence))
            return
        number = smsc._next_id
        smsc._next_id = number + 1
        message_id = format(number, "08x") if config.message_id_format == "hex" else str(number)
        record = AcceptedMessage(
            len(smsc.accepted), self.system_id or "", message_id, pdu.source_addr,
            pdu.destination_addr, pdu.data_coding, payload, pdu.esm_class,
            pdu.registered_delivery, concat, decision.outcome, smsc._clock())
        smsc._accept(record)
        answers.append(encode_frame(_SUBMIT_SM_RESP, 0, sequence, message_id.encode() + NUL))
        wanted = pdu.registered_delivery & 0x03
        if wanted == 1 or (wanted == 2 and decision.outcome != Outcome.DELIVERED):
            delay = (config.latency_ms + config.receipt_delay_ms) / 1000
            text_id = message_id if config.receipt_id_format == "same" else (
                format(number, "08x") if config.receipt_id_format == "hex" else str(number))
            body = receipt_body(record, STATES[decision.outcome], decision.error_code, text_id,
                                record.timestamp + delay)
            smsc.deliveries.schedule(Delivery(record.system_id, body, True, self), delay)
