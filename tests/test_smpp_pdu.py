"""sender.smpp.pdu: round trips of every PDU type, exact wire bytes, malformed frames."""

from __future__ import annotations

import asyncio
import random
import struct
from typing import Any

import pytest

from sender.smpp.codes import CommandId, CommandStatus, MessageState, PduError, Tag
from sender.smpp.pdu import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    Concat,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    concat_info,
    cstr_tlv,
    decode,
    encode_frame,
    int_tlv,
    network_error_code,
    receipt_fields,
    tlv_int,
    tlv_str,
)
from sender.smpp.stream import FrameBuffer, read_frame

RECEIPT_TLVS: dict[int, bytes] = {Tag.RECEIPTED_MESSAGE_ID: cstr_tlv("5f3a9c0e"),
                Tag.MESSAGE_STATE: int_tlv(Tag.MESSAGE_STATE, MessageState.DELIVERED),
                Tag.NETWORK_ERROR_CODE: network_error_code(3, 1)}
SAR_TLVS: dict[int, bytes] = {Tag.SAR_MSG_REF_NUM: int_tlv(Tag.SAR_MSG_REF_NUM, 0x1234),
            Tag.SAR_TOTAL_SEGMENTS: int_tlv(Tag.SAR_TOTAL_SEGMENTS, 3),
            Tag.SAR_SEGMENT_SEQNUM: int_tlv(Tag.SAR_SEGMENT_SEQNUM, 2)}


@pytest.mark.parametrize("pdu", [
    pytest.param(BindTransmitter(sequence_number=1, system_id="herald", password="secret",
                                 system_type="SMS", addr_ton=1, addr_npi=1,
                                 address_range="^86"), id="bind_transmitter"),
    pytest.param(BindReceiver(sequence_number=2, system_id="r"), id="bind_receiver"),
    pytest.param(BindTransceiver(sequence_number=3, system_id="t", password="p"),
                 id="bind_transceiver"),
    pytest.param(BindTransmitterResp(sequence_number=1, system_id="smsc",
                                     tlvs={Tag.SC_INTERFACE_VERSION: b"\x34"}),
                 id="bind_transmitter_resp"),
    pytest.param(BindReceiverResp(sequence_number=2, command_status=CommandStatus.ESME_RINVPASWD),
                 id="bind_receiver_resp-failed-no-body"),
    pytest.param(BindTransceiverResp(sequence_number=3, system_id="smsc"),
                 id="bind_transceiver_resp"),
    pytest.param(Unbind(sequence_number=4), id="unbind"),
    pytest.param(UnbindResp(sequence_number=4), id="unbind_resp"),
    pytest.param(EnquireLink(sequence_number=0x7FFFFFFF), id="enquire_link"),
    pytest.param(EnquireLinkResp(sequence_number=5), id="enquire_link_resp"),
    pytest.param(GenericNack(sequence_number=6, command_status=CommandStatus.ESME_RINVCMDID),
                 id="generic_nack"),
    pytest.param(SubmitSm(sequence_number=7, source_addr_ton=5, source_addr="Herald",
                          dest_addr_ton=1, dest_addr_npi=1, destination_addr="+8613800000000",
                          registered_delivery=1, data_coding=8,
                          short_message="退订回T".encode("utf-16-be")), id="submit_sm"),
    pytest.param(SubmitSm(sequence_number=8, destination_addr="1", tlvs=SAR_TLVS,
                          short_message=b"part"), id="submit_sm-sar"),
    pytest.param(SubmitSm(sequence_number=9, destination_addr="1",
                          tlvs={Tag.MESSAGE_PAYLOAD: b"x" * 1000}), id="submit_sm-payload"),
    pytest.param(SubmitSmResp(sequence_number=7, message_id="5f3a9c0e"), id="submit_sm_resp"),
    pytest.param(SubmitSmResp(sequence_number=7, command_status=CommandStatus.ESME_RTHROTTLED),
                 id="submit_sm_resp-throttled"),
    pytest.param(DeliverSm(sequence_number=10, esm_class=0x04, tlvs=RECEIPT_TLVS,
                           short_message=b"id:5f3a9c0e stat:DELIVRD"), id="deliver_sm-receipt"),
    pytest.param(DeliverSmResp(sequence_number=10), id="deliver_sm_resp"),
])  # fmt: skip
def test_round_trip(pdu: Pdu) -> None:
    frame = pdu.encode()
    assert struct.unpack_from("!I", frame)[0] == len(frame)
    assert decode(frame) == pdu


def test_submit_sm_wire_bytes() -> None:
    pdu = SubmitSm(sequence_number=2, source_addr="A", destination_addr="12",
                   registered_delivery=1, short_message=b"hi")
    body = (b"\x00" + b"\x00\x00A\x00" + b"\x00\x0012\x00" + b"\x00\x00\x00" + b"\x00\x00"
            + b"\x01\x00\x00\x00\x02hi")
    assert pdu.encode() == struct.pack("!IIII", 16 + len(body), 4, 0, 2) + body


def test_error_submit_sm_resp_has_no_body() -> None:
    frame = SubmitSmResp(sequence_number=1, command_status=CommandStatus.ESME_RMSGQFUL).encode()
    assert frame == struct.pack("!IIII", 16, 0x80000004, 0x14, 1)


@pytest.mark.parametrize("member, code", [
    (CommandStatus.ESME_RTHROTTLED, 0x58), (CommandStatus.ESME_RMSGQFUL, 0x14),
    (CommandStatus.ESME_RINVDSTADR, 0x0B), (CommandStatus.ESME_RBINDFAIL, 0x0D),
    (CommandStatus.ESME_RINVPASWD, 0x0E), (CommandStatus.ESME_RALYBND, 0x05),
    (CommandStatus.ESME_RSYSERR, 0x08), (CommandStatus.ESME_RSUBMITFAIL, 0x45),
    (CommandId.DELIVER_SM_RESP, 0x80000005), (CommandId.BIND_TRANSCEIVER, 0x09),
    (Tag.RECEIPTED_MESSAGE_ID, 0x001E), (Tag.MESSAGE_STATE, 0x0427),
    (Tag.MESSAGE_PAYLOAD, 0x0424), (Tag.SAR_SEGMENT_SEQNUM, 0x020F),
])  # fmt: skip
def test_codes_match_the_spec(member: int, code: int) -> None:
    assert int(member) == code


def test_tlv_accessors() -> None:
    pdu = decode(DeliverSm(tlvs=RECEIPT_TLVS | SAR_TLVS).encode())
    assert isinstance(pdu, DeliverSm)
    assert tlv_str(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "5f3a9c0e"
    assert tlv_int(pdu.tlvs, Tag.MESSAGE_STATE) == MessageState.DELIVERED
    assert tlv_int(pdu.tlvs, Tag.SAR_MSG_REF_NUM) == 0x1234
    assert pdu.tlvs[Tag.NETWORK_ERROR_CODE] == b"\x03\x00\x01"
    assert tlv_int(pdu.tlvs, Tag.USER_MESSAGE_REFERENCE) is None


@pytest.mark.parametrize("esm_class, data, tlvs, expected", [
    pytest.param(0x40, b"\x05\x00\x03\x2a\x03\x02text", {}, Concat(0x2A, 3, 2), id="udh-8bit"),
    pytest.param(0x40, b"\x06\x08\x04\x12\x34\x02\x01text", {}, Concat(0x1234, 2, 1),
                 id="udh-16bit"),
    pytest.param(0x40, b"\x08\x0a\x01\x00\x00\x03\x99\x02\x01x", {}, Concat(0x99, 2, 1),
                 id="udh-other-ie-first"),
    pytest.param(0x00, b"plain", SAR_TLVS, Concat(0x1234, 3, 2), id="sar"),
    pytest.param(0x00, b"\x05\x00\x03\x2a\x03\x02text", {}, None, id="no-udhi-flag"),
])  # fmt: skip
def test_concat_info(esm_class: int, data: bytes, tlvs: dict[int, bytes],
                     expected: Concat | None) -> None:
    assert concat_info(esm_class, data, tlvs) == expected


def _submit_frame(**fields: object) -> bytes:
    return SubmitSm(sequence_number=9, destination_addr="123", short_message=b"abc",
                    **fields).encode()  # type: ignore[arg-type]


def _with_length(frame: bytes) -> bytes:
    return struct.pack("!I", len(frame)) + frame[4:]


@pytest.mark.parametrize("frame, status", [
    pytest.param(b"\x00\x00\x00\x10\x00\x00", CommandStatus.ESME_RINVCMDLEN, id="short-header"),
    pytest.param(_submit_frame()[:-1], CommandStatus.ESME_RINVCMDLEN, id="length-mismatch"),
    pytest.param(encode_frame(0x00000099, 0, 3), CommandStatus.ESME_RINVCMDID, id="unknown-id"),
    pytest.param(encode_frame(CommandId.BIND_TRANSMITTER, 0, 3, b"herald"),
                 CommandStatus.ESME_RINVCMDLEN, id="bind-no-nul"),
    pytest.param(_with_length(_submit_frame()[:-2]), CommandStatus.ESME_RINVMSGLEN,
                 id="sm-length-overrun"),
    pytest.param(_with_length(_submit_frame()[:30]), CommandStatus.ESME_RINVCMDLEN,
                 id="submit-truncated"),
    pytest.param(_with_length(_submit_frame() + b"\x04\x24\x00\x09ab"),
                 CommandStatus.ESME_RINVOPTPARSTREAM, id="tlv-overrun"),
    pytest.param(_with_length(_submit_frame() + b"\x04"), CommandStatus.ESME_RINVOPTPARSTREAM,
                 id="tlv-header-truncated"),
])  # fmt: skip
def test_malformed_frames(frame: bytes, status: CommandStatus) -> None:
    with pytest.raises(PduError) as raised:
        decode(frame)
    assert raised.value.status == status


def test_submit_sm_error_keeps_sequence_number() -> None:
    with pytest.raises(PduError) as raised:
        decode(_with_length(_submit_frame()[:-2]))
    assert raised.value.sequence_number == 9


def test_encoder_refuses_what_smpp_cannot_carry() -> None:
    with pytest.raises(ValueError, match="password"):
        BindTransmitter(system_id="herald", password="nine-long").encode()
    with pytest.raises(ValueError, match="message_payload"):
        SubmitSm(short_message=b"x" * 255).encode()


def test_frame_buffer_splits_and_joins_across_reads() -> None:
    frames = [EnquireLink(sequence_number=n).encode() for n in range(1, 4)]
    frames.append(_submit_frame())
    stream = b"".join(frames)
    for cut in range(len(stream)):
        buffer = FrameBuffer()
        got = buffer.feed(stream[:cut]) + buffer.feed(stream[cut:])
        assert got == frames
        assert buffer.pending == 0


@pytest.mark.parametrize("length", [0, 15, 70_001])
def test_frame_buffer_refuses_bad_lengths(length: int) -> None:
    with pytest.raises(PduError) as raised:
        FrameBuffer().feed(struct.pack("!I", length) + b"\x00" * 12)
    assert raised.value.status == CommandStatus.ESME_RINVCMDLEN


async def test_read_frame_from_stream() -> None:
    reader = asyncio.StreamReader()
    frame = _submit_frame()
    reader.feed_data(frame[:5])
    reader.feed_data(frame[5:] + EnquireLink(sequence_number=2).encode()[:8])
    reader.feed_eof()
    assert await read_frame(reader) == frame
    with pytest.raises(asyncio.IncompleteReadError):
        await read_frame(reader)


def _decoded(decode: Any, frame: bytes) -> object:
    try:
        return decode(frame, 1, 0)
    except PduError as error:
        return ("error", str(error), error.args)


def test_the_fast_decode_agrees_with_the_checked_one() -> None:
    """deliver_sm and submit_sm decode by a fast path when well formed: every truncation
    and thousands of corruptions of a receipt give the same PDU or the same error as the
    field-by-field checked decode."""
    receipt = DeliverSm(
        sequence_number=5, source_addr="8613800000001", destination_addr="HERALD",
        esm_class=0x04, short_message=b"id:1a2b3c4d sub:001 stat:DELIVRD err:000 text:x",
        tlvs={Tag.RECEIPTED_MESSAGE_ID: b"1a2b3c4d\x00", Tag.MESSAGE_STATE: b"\x02"}).encode()
    frames = [receipt[:cut] for cut in range(16, len(receipt) + 1)]
    chance = random.Random(17)
    for _ in range(5000):
        corrupted = bytearray(receipt)
        for _ in range(chance.randint(1, 4)):
            corrupted[chance.randrange(16, len(corrupted))] = chance.choice([0, 0, 1, 40, 255])
        frames.append(bytes(corrupted))
    for cls in (DeliverSm, SubmitSm):
        for frame in frames:
            assert (_decoded(cls.decode_body, frame)
                    == _decoded(cls._decode_checked, frame))


def test_a_receipt_read_by_the_fast_path_is_the_decoded_one() -> None:
    """receipt_fields (a receipt a message, read without decoding the whole PDU): for
    every truncation and thousands of corruptions of a receipt and of a reply, the
    short_message and TLVs decode_body gives when its esm_class marks a receipt, None
    otherwise, or the same error."""
    receipt = DeliverSm(
        sequence_number=5, source_addr="8613800000001", destination_addr="HERALD",
        esm_class=0x04, short_message=b"id:1a2b3c4d sub:001 stat:DELIVRD err:000 text:x",
        tlvs={Tag.RECEIPTED_MESSAGE_ID: b"1a2b3c4d\x00", Tag.MESSAGE_STATE: b"\x02"}).encode()
    reply = DeliverSm(sequence_number=6, source_addr="8613800000001", destination_addr="HERALD",
                      short_message=b"STOP").encode()
    chance = random.Random(23)
    frames = [receipt, reply]
    for whole in (receipt, reply):
        frames += [whole[:cut] for cut in range(16, len(whole))]
        for _ in range(3000):
            corrupted = bytearray(whole)
            for _ in range(chance.randint(1, 4)):
                corrupted[chance.randrange(16, len(corrupted))] = chance.choice([0, 0, 4, 40, 255])
            frames.append(bytes(corrupted))
    fast_ones = 0
    for frame in frames:
        decoded = _decoded(DeliverSm.decode_body, frame)
        try:
            fields = receipt_fields(frame)
        except PduError as error:
            assert decoded == ("error", str(error), error.args), frame
            continue
        if fields is None:  # another deliver_sm, or one the checked decode must judge
            assert (not isinstance(decoded, DeliverSm) or not decoded.esm_class & 0x04
                    or DeliverSm._decode_well_formed(frame, 0, 0) is None), frame
            continue
        fast_ones += 1
        assert isinstance(decoded, DeliverSm) and decoded.esm_class & 0x04, frame
        assert fields == (decoded.short_message, decoded.tlvs), frame
    assert fast_ones > 1000 and receipt_fields(receipt) is not None
    assert receipt_fields(reply) is None
