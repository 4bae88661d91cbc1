"""sender.smpp.bind: what a read's frames become for the listener, and the answers."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from sender.smpp.bind import BindSettings, SmppBind
from sender.smpp.codes import CommandId, CommandStatus, PduError, Tag
from sender.smpp.pdu import DeliverSm, encode_frame


class Recorder:
    """A BindListener that writes down what it hears, in order."""

    def __init__(self) -> None:
        self.heard: list[tuple[Any, ...]] = []
        self.batches: list[int] = []
        self.receipt_batches: list[int] = []
        self.answers = 0

    def _answer(self) -> int:
        self.answers += 1  # every third refused, for the deliver_sm_resp without a body
        return CommandStatus.ESME_RX_T_APPN if self.answers % 3 == 0 else 0

    def submits_done(self, done: Sequence[tuple[Any, int, str]]) -> None:
        self.batches.append(len(done))
        self.heard += [("done", *response) for response in done]

    def deliver(self, pdu: DeliverSm) -> int:
        self.heard.append(("deliver", pdu.short_message, pdu.esm_class))
        return self._answer()

    def receipt(self, short_message: bytes, tlvs: dict[int, bytes]) -> int:
        self.heard.append(("receipt", short_message, tlvs))
        return self._answer()

    def receipts_in(self, receipts: Sequence[tuple[bytes, dict[int, bytes]]]) -> list[int]:
        self.receipt_batches.append(len(receipts))
        return [self.receipt(*fields) for fields in receipts]

    def lost(self, refs: Sequence[Any], reason: str) -> None:
        self.heard.append(("lost", list(refs)))


def frames_of_a_read(chance: random.Random, in_flight: dict[int, Any]) -> list[bytes]:
    """Submit responses (accepted, refused with and without a body, for no submit),
    generic_nacks, receipts, replies, a receipt only the whole decode reads, keep-alives."""
    frames = []
    for index in range(chance.randint(1, 40)):
        kind = chance.choice("rrrrrefnuddddgk")
        sequence = chance.randint(1, 1 << 30)
        if kind in "refnu":
            if kind != "u":
                in_flight[sequence] = (f"ref{index}", 0.0)
            if kind == "r" or kind == "u":
                body = f"{chance.getrandbits(32):08x}".encode() + b"\x00"
                frames.append(encode_frame(CommandId.SUBMIT_SM_RESP, 0, sequence, body))
            elif kind == "e":
                frames.append(encode_frame(CommandId.SUBMIT_SM_RESP, 0x58, sequence,
                                           chance.choice([b"", b"\x00"])))
            elif kind == "f":
                frames.append(encode_frame(CommandId.GENERIC_NACK, chance.choice([0, 3]), sequence))
            else:  # a nack for a submit not in flight
                frames.append(encode_frame(CommandId.GENERIC_NACK, 3, sequence + 1))
        elif kind == "d":
            receipt = chance.random() < 0.7
            pdu = DeliverSm(source_addr="8613800000001", destination_addr="HERALD",
                            esm_class=0x04 if receipt else 0,
                            short_message=b"id:%d stat:DELIVRD" % index if receipt else b"STOP",
                            tlvs={Tag.RECEIPTED_MESSAGE_ID: b"%d\x00" % index,
                                  Tag.MESSAGE_STATE: b"\x02"} if receipt else {})
            frames.append(encode_frame(CommandId.DELIVER_SM, 0, sequence, pdu.encode_body()))
        elif kind == "g":
            frames.append(encode_frame(CommandId.ENQUIRE_LINK_RESP, 0, sequence))
        else:
            frames.append(encode_frame(CommandId.ENQUIRE_LINK, 0, sequence))
    return frames


def heard_frame_by_frame(frames: list[bytes], in_flight: dict[int, Any]
                         ) -> tuple[list[tuple[Any, ...]], list[bytes]]:
    """What the bind's listener heard and what it wrote back when it read a frame at a
    time (before responses were batched): the reference."""
    listener = Recorder()
    written = []
    for frame in frames:
        command_id = int.from_bytes(frame[4:8], "big")
        status, sequence = int.from_bytes(frame[8:12], "big"), int.from_bytes(frame[12:16], "big")
        if command_id in (CommandId.SUBMIT_SM_RESP, CommandId.GENERIC_NACK):
            entry = in_flight.pop(sequence, None)
            if entry is not None:
                if command_id == CommandId.GENERIC_NACK:
                    listener.submits_done([(entry[0], status or 0xFF, "")])
                else:
                    message_id = frame[16:-1].decode("ascii", "replace") if status == 0 else ""
                    listener.submits_done([(entry[0], status, message_id)])
        elif command_id == CommandId.DELIVER_SM:
            pdu = DeliverSm.decode_body(frame, sequence, status)
            answer = (listener.receipt(pdu.short_message, pdu.tlvs) if pdu.esm_class & 0x04
                      else listener.deliver(pdu))
            written.append(encode_frame(CommandId.DELIVER_SM_RESP, answer, sequence,
                                        b"\x00" if answer == 0 else b""))
        elif command_id == CommandId.ENQUIRE_LINK:
            written.append(encode_frame(CommandId.ENQUIRE_LINK_RESP, 0, sequence))
    return listener.heard, written


def a_random_read(chance: random.Random) -> tuple[
        list[bytes], SmppBind, Recorder, dict[int, Any], tuple[list[Any], list[bytes]]]:
    """A random read's frames, a bind with their submits in flight and its listener,
    the submits the read leaves unanswered, and what reading it a frame at a time gives."""
    in_flight: dict[int, Any] = {}
    frames = frames_of_a_read(chance, in_flight)
    left = dict(in_flight)
    expected = heard_frame_by_frame(frames, left)
    listener = Recorder()
    bind = SmppBind(BindSettings(host="127.0.0.1", port=1, system_id="herald", password="x"),
                    listener)
    bind._in_flight = in_flight
    return frames, bind, listener, left, expected


async def test_a_read_is_heard_in_order_and_answered_as_frame_by_frame() -> None:
    """A read's submit responses and receipts go to the listener a run at a time;
    everything it hears
    and every byte written back is what reading a frame at a time gave, in order, and a
    receipt or reply is heard only after the responses before it (a receipt may be for
    a message whose response is in the same read). Hundreds of random reads."""
    chance = random.Random(31)
    runs = receipt_runs = 0
    for _ in range(400):
        frames, bind, listener, left, (expected, written) = a_random_read(chance)
        bind._handle(frames)
        assert listener.heard == expected
        assert bind._pending == written
        assert bind._in_flight == left  # the unanswered submits still on the wire
        runs += sum(1 for size in listener.batches if size > 1)
        receipt_runs += sum(1 for size in listener.receipt_batches if size > 1)
    assert runs > 100 and receipt_runs > 100  # runs were heard in one call


async def test_a_bad_frame_ends_the_read_after_what_came_before_it() -> None:
    """A receipt whose TLVs overrun its PDU raises (the connection is closed): the
    responses and receipts read before it in the same read were heard all the same."""
    chance = random.Random(37)
    bad = DeliverSm(esm_class=0x04, short_message=b"id:1 stat:DELIVRD",
                    tlvs={Tag.RECEIPTED_MESSAGE_ID: b"1\x00"}).encode_body()[:-1]
    for _ in range(100):
        frames, bind, listener, left, (expected, _) = a_random_read(chance)
        with pytest.raises(PduError):
            bind._handle([*frames, encode_frame(CommandId.DELIVER_SM, 0, 9, bad), *frames])
        assert listener.heard == expected and bind._in_flight == left
