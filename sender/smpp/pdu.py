"""SMPP 3.4 PDUs: a small struct-based codec for what an ESME and an SMSC exchange.

A frame is a 16-byte header (command_length, command_id, command_status, sequence_number,
big-endian 32-bit each) and a body of mandatory fields followed by optional TLVs
(tag 16 bits, length 16 bits, value). Strings in the body are C-octet strings (ASCII, NUL
terminated); short_message is an octet string led by its one-byte length.

Covered: bind_transmitter/receiver/transceiver and their responses, unbind, enquire_link,
generic_nack, submit_sm and deliver_sm (the same body layout) and their responses. Decoding is
lenient where SMSCs differ in practice (a response body may be absent when command_status is
not ESME_ROK) and strict about structure (lengths, terminators), raising PduError with the
command_status an SMSC would answer with. No I/O: sender.smpp.stream reads frames.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Final, Self

from sender.smpp.codes import (
    ESM_DELIVERY_RECEIPT,
    ESM_UDHI,
    HEADER,
    HEADER_LENGTH,
    INT_TLV_SIZES,
    INTERFACE_VERSION,
    NUL,
    CommandId,
    CommandStatus,
    PduError,
    Tag,
)


def encode_frame(command_id: int, command_status: int, sequence_number: int,
                 body: bytes = b"") -> bytes:
    """Header plus body: the fast path for responses built without a Pdu object."""
    return HEADER.pack(HEADER_LENGTH + len(body), command_id, command_status,
                       sequence_number) + body


def receipt_fields(frame: bytes) -> tuple[bytes, dict[int, bytes]] | None:
    """short_message and TLVs of a deliver_sm frame whose esm_class marks a delivery
    receipt, without decoding the rest; None for another deliver_sm, or one not well
    formed (decode those whole: DeliverSm.decode_body, which says what is wrong).

    A sender reads a receipt a message and needs only these: the whole PDU, five strings
    decoded and twenty fields set, took 2.6 us, this 1.2. The same checks as
    ShortMessage._decode_well_formed, so a frame goes by one path or the other alike.
    """
    # Each NUL checked as it is found (min() calls cost 0.3 us of 1.5).
    find = frame.find
    e1 = find(NUL, HEADER_LENGTH)  # service_type's NUL; ton, npi follow
    if e1 < 0:
        return None
    e2 = find(NUL, e1 + 3)  # source_addr's; ton, npi follow
    if e2 < 0:
        return None
    e3 = find(NUL, e2 + 3)  # destination_addr's; esm_class, protocol_id, priority
    size = len(frame)
    if e3 < 0 or e3 + 4 > size or not frame[e3 + 1] & ESM_DELIVERY_RECEIPT:
        return None
    e4 = find(NUL, e3 + 4)  # schedule_delivery_time's
    if e4 < 0:
        return None
    e5 = find(NUL, e4 + 1)  # validity_period's; the five fixed octets follow
    start = e5 + 6
    if e5 < 0 or start > size:
        return None
    end = start + frame[e5 + 5]
    if end > size:
        return None
    return frame[start:end], decode_tlvs(frame, end) if end < size else {}


def _cstr(frame: bytes, offset: int, name: str) -> tuple[str, int]:
    end = frame.find(NUL, offset)
    if end < 0:
        raise PduError(f"{name}: C-octet string without a terminating NUL",
                       CommandStatus.ESME_RINVCMDLEN)
    return frame[offset:end].decode("latin-1"), end + 1


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(struct.pack("!HH", tag, len(value)) + value for tag, value in tlvs.items())


def decode_tlvs(frame: bytes, offset: int) -> dict[int, bytes]:
    tlvs: dict[int, bytes] = {}
    end = len(frame)
    while offset < end:
        if offset + 4 > end:
            raise PduError("truncated TLV header", CommandStatus.ESME_RINVOPTPARSTREAM)
        tag, length = struct.unpack_from("!HH", frame, offset)
        offset += 4
        if offset + length > end:
            raise PduError(f"TLV 0x{tag:04X} overruns the PDU", CommandStatus.ESME_RINVOPTPARSTREAM)
        tlvs[tag] = frame[offset:offset + length]
        offset += length
    return tlvs


def int_tlv(tag: int, value: int) -> bytes:
    """The value bytes of an integer TLV, sized per INT_TLV_SIZES."""
    return value.to_bytes(INT_TLV_SIZES[tag], "big")


def cstr_tlv(value: str) -> bytes:
    """The value bytes of a C-octet string TLV (such as receipted_message_id)."""
    return value.encode("latin-1") + NUL


def network_error_code(network_type: int, error_code: int) -> bytes:
    """network_error_code value: type (1 ANSI-136, 2 IS-95, 3 GSM, ...) and a 2-octet code."""
    return struct.pack("!BH", network_type, error_code)


def tlv_int(tlvs: dict[int, bytes], tag: int) -> int | None:
    value = tlvs.get(tag)
    return None if value is None else int.from_bytes(value, "big")


def tlv_str(tlvs: dict[int, bytes], tag: int) -> str | None:
    value = tlvs.get(tag)
    return None if value is None else value.rstrip(NUL).decode("latin-1")


@dataclass(slots=True, kw_only=True)
class Pdu:
    """Any PDU: subclasses add the body. command_status is an int so vendor codes survive."""

    command_id: ClassVar[CommandId]
    sequence_number: int = 0
    command_status: int = CommandStatus.ESME_ROK

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return encode_frame(self.command_id, self.command_status, self.sequence_number,
                            self.encode_body())

    @classmethod
    def decode_body(cls, frame: bytes, sequence_number: int, command_status: int) -> Self:
        return cls(sequence_number=sequence_number, command_status=command_status)


@dataclass(slots=True, kw_only=True)
class Bind(Pdu):
    """bind_transmitter / bind_receiver / bind_transceiver (same body)."""

    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def encode_body(self) -> bytes:
        if len(self.system_id) > 15 or len(self.password) > 8 or len(self.system_type) > 12:
            raise ValueError("SMPP caps system_id at 15, password at 8, system_type at 12")
        return b"".join((
            self.system_id.encode("latin-1"), NUL, self.password.encode("latin-1"), NUL,
            self.system_type.encode("latin-1"), NUL,
            bytes((self.interface_version, self.addr_ton, self.addr_npi)),
            self.address_range.encode("latin-1"), NUL))  # fmt: skip

    @classmethod
    def decode_body(cls, frame: bytes, sequence_number: int, command_status: int) -> Self:
        system_id, off = _cstr(frame, HEADER_LENGTH, "system_id")
        password, off = _cstr(frame, off, "password")
        system_type, off = _cstr(frame, off, "system_type")
        if off + 3 > len(frame):
            raise PduError("bind body truncated", CommandStatus.ESME_RINVCMDLEN, sequence_number)
        version, ton, npi = frame[off], frame[off + 1], frame[off + 2]
        address_range, _ = _cstr(frame, off + 3, "address_range")
        return cls(sequence_number=sequence_number, command_status=command_status,
                   system_id=system_id, password=password, system_type=system_type,
                   interface_version=version, addr_ton=ton, addr_npi=npi,
                   address_range=address_range)


@dataclass(slots=True, kw_only=True)
class BindTransmitter(Bind):
    command_id = CommandId.BIND_TRANSMITTER


@dataclass(slots=True, kw_only=True)
class BindReceiver(Bind):
    command_id = CommandId.BIND_RECEIVER


@dataclass(slots=True, kw_only=True)
class BindTransceiver(Bind):
    command_id = CommandId.BIND_TRANSCEIVER


@dataclass(slots=True, kw_only=True)
class BindResp(Pdu):
    """Response to a bind: the SMSC's system_id and, optionally, sc_interface_version."""

    system_id: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def encode_body(self) -> bytes:
        return self.system_id.encode("latin-1") + NUL + encode_tlvs(self.tlvs)

    @classmethod
    def decode_body(cls, frame: bytes, sequence_number: int, command_status: int) -> Self:
        if len(frame) == HEADER_LENGTH:  # allowed when the bind failed
            return cls(sequence_number=sequence_number, command_status=command_status)
        system_id, off = _cstr(frame, HEADER_LENGTH, "system_id")
        return cls(sequence_number=sequence_number, command_status=command_status,
                   system_id=system_id, tlvs=decode_tlvs(frame, off))


@dataclass(slots=True, kw_only=True)
class BindTransmitterResp(BindResp):
    command_id = CommandId.BIND_TRANSMITTER_RESP


@dataclass(slots=True, kw_only=True)
class BindReceiverResp(BindResp):
    command_id = CommandId.BIND_RECEIVER_RESP


@dataclass(slots=True, kw_only=True)
class BindTransceiverResp(BindResp):
    command_id = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(slots=True, kw_only=True)
class Unbind(Pdu):
    command_id = CommandId.UNBIND


@dataclass(slots=True, kw_only=True)
class UnbindResp(Pdu):
    command_id = CommandId.UNBIND_RESP


@dataclass(slots=True, kw_only=True)
class EnquireLink(Pdu):
    command_id = CommandId.ENQUIRE_LINK


@dataclass(slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    command_id = CommandId.ENQUIRE_LINK_RESP


@dataclass(slots=True, kw_only=True)
class GenericNack(Pdu):
    command_id = CommandId.GENERIC_NACK


_SM_FIXED = struct.Struct("!BBBBB")  # registered_delivery, replace, data_coding, default id, len


@dataclass(slots=True, kw_only=True)
class ShortMessage(Pdu):
    """The body shared by submit_sm and deliver_sm (SMPP 3.4 sections 4.4.1 and 4.6.1)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def encode_body(self) -> bytes:
        if len(self.short_message) > 254:
            raise ValueError("short_message holds at most 254 octets: use message_payload")
        return b"".join((
            self.service_type.encode("latin-1"), NUL,
            bytes((self.source_addr_ton, self.source_addr_npi)),
            self.source_addr.encode("latin-1"), NUL,
            bytes((self.dest_addr_ton, self.dest_addr_npi)),
            self.destination_addr.encode("latin-1"), NUL,
            bytes((self.esm_class, self.protocol_id, self.priority_flag)),
            self.schedule_delivery_time.encode("latin-1"), NUL,
            self.validity_period.encode("latin-1"), NUL,
            _SM_FIXED.pack(self.registered_delivery, self.replace_if_present_flag,
                           self.data_coding, self.sm_default_msg_id, len(self.short_message)),
            self.short_message,
            encode_tlvs(self.tlvs) if self.tlvs else b""))  # fmt: skip

    @classmethod
    def decode_body(cls, frame: bytes, sequence_number: int, command_status: int) -> Self:
        pdu = cls._decode_well_formed(frame, sequence_number, command_status)
        if pdu is None:  # say what is wrong with it
            pdu = cls._decode_checked(frame, sequence_number, command_status)
        return pdu

    @classmethod
    def _decode_well_formed(cls, frame: bytes, sequence_number: int, command_status: int
                            ) -> Self | None:
        """The PDU of a well-formed frame, else None: the fast path, as a sender decodes a
        receipt for every message (3.4 us by the checked path, its dataclass built from 20
        keywords; 2.1 here). Each string's NUL is found first; then every index used is
        known to lie inside the frame, and the fields go straight into the slots."""
        find = frame.find
        e1 = find(NUL, HEADER_LENGTH)  # service_type's NUL; ton, npi follow
        e2 = find(NUL, e1 + 3)  # source_addr's; ton, npi follow
        e3 = find(NUL, e2 + 3)  # destination_addr's; esm_class, protocol_id, priority
        e4 = find(NUL, e3 + 4)  # schedule_delivery_time's
        e5 = find(NUL, e4 + 1)  # validity_period's; the five fixed octets follow
        start = e5 + 6
        if min(e1, e2, e3, e4, e5) < 0 or start > len(frame) or start + frame[e5 + 5] > len(frame):
            return None
        end = start + frame[e5 + 5]
        pdu = object.__new__(cls)  # every field is set below
        pdu.sequence_number, pdu.command_status = sequence_number, command_status
        pdu.service_type = frame[HEADER_LENGTH:e1].decode("latin-1")
        pdu.source_addr_ton, pdu.source_addr_npi = frame[e1 + 1], frame[e1 + 2]
        pdu.source_addr = frame[e1 + 3:e2].decode("latin-1")
        pdu.dest_addr_ton, pdu.dest_addr_npi = frame[e2 + 1], frame[e2 + 2]
        pdu.destination_addr = frame[e2 + 3:e3].decode("latin-1")
        pdu.esm_class, pdu.protocol_id, pdu.priority_flag = frame[e3 + 1:e3 + 4]
        pdu.schedule_delivery_time = frame[e3 + 4:e4].decode("latin-1")
        pdu.validity_period = frame[e4 + 1:e5].decode("latin-1")
        (pdu.registered_delivery, pdu.replace_if_present_flag, pdu.data_coding,
         pdu.sm_default_msg_id) = frame[e5 + 1:e5 + 5]
        pdu.short_message = frame[start:end]
        pdu.tlvs = decode_tlvs(frame, end) if end < len(frame) else {}
        return pdu

    @classmethod
    def _decode_checked(cls, frame: bytes, sequence_number: int, command_status: int
                        ) -> Self:
        try:
            service_type, off = _cstr(frame, HEADER_LENGTH, "service_type")
            src_ton, src_npi = frame[off], frame[off + 1]
            source_addr, off = _cstr(frame, off + 2, "source_addr")
            dst_ton, dst_npi = frame[off], frame[off + 1]
            destination_addr, off = _cstr(frame, off + 2, "destination_addr")
            esm_class, protocol_id, priority = frame[off], frame[off + 1], frame[off + 2]
            schedule, off = _cstr(frame, off + 3, "schedule_delivery_time")
            validity, off = _cstr(frame, off, "validity_period")
            rd, replace, dc, default_id, sm_length = frame[off:off + 5]
        except (IndexError, ValueError) as error:  # ValueError: unpacking a short slice
            if isinstance(error, PduError):
                error.sequence_number = sequence_number
                raise
            raise PduError("short message body truncated", CommandStatus.ESME_RINVCMDLEN,
                           sequence_number) from None
        off += 5
        if off + sm_length > len(frame):
            raise PduError("sm_length overruns the PDU", CommandStatus.ESME_RINVMSGLEN,
                           sequence_number)
        return cls(
            sequence_number=sequence_number, command_status=command_status,
            service_type=service_type, source_addr_ton=src_ton, source_addr_npi=src_npi,
            source_addr=source_addr, dest_addr_ton=dst_ton, dest_addr_npi=dst_npi,
            destination_addr=destination_addr, esm_class=esm_class, protocol_id=protocol_id,
            priority_flag=priority, schedule_delivery_time=schedule, validity_period=validity,
            registered_delivery=rd, replace_if_present_flag=replace, data_coding=dc,
            sm_default_msg_id=default_id, short_message=frame[off:off + sm_length],
            tlvs=decode_tlvs(frame, off + sm_length) if off + sm_length < len(frame) else {})

    @property
    def payload(self) -> bytes:
        """The user data: message_payload if present, else short_message (UDH included)."""
        return self.tlvs.get(Tag.MESSAGE_PAYLOAD, self.short_message)


@dataclass(slots=True, kw_only=True)
class SubmitSm(ShortMessage):
    command_id = CommandId.SUBMIT_SM


@dataclass(slots=True, kw_only=True)
class DeliverSm(ShortMessage):
    command_id = CommandId.DELIVER_SM


@dataclass(slots=True, kw_only=True)
class MessageIdResp(Pdu):
    """submit_sm_resp / deliver_sm_resp: a message_id (empty in deliver_sm_resp)."""

    message_id: str = ""

    def encode_body(self) -> bytes:
        # Section 4.4.2: a submit_sm_resp carries no body when command_status is an error.
        if self.command_status and self.command_id == CommandId.SUBMIT_SM_RESP:
            return b""
        return self.message_id.encode("latin-1") + NUL

    @classmethod
    def decode_body(cls, frame: bytes, sequence_number: int, command_status: int) -> Self:
        if len(frame) == HEADER_LENGTH:
            return cls(sequence_number=sequence_number, command_status=command_status)
        message_id, _ = _cstr(frame, HEADER_LENGTH, "message_id")
        return cls(sequence_number=sequence_number, command_status=command_status,
                   message_id=message_id)


@dataclass(slots=True, kw_only=True)
class SubmitSmResp(MessageIdResp):
    command_id = CommandId.SUBMIT_SM_RESP


@dataclass(slots=True, kw_only=True)
class DeliverSmResp(MessageIdResp):
    command_id = CommandId.DELIVER_SM_RESP


PDU_TYPES: Final[dict[int, type[Pdu]]] = {cls.command_id: cls for cls in (
    BindTransmitter, BindReceiver, BindTransceiver, BindTransmitterResp, BindReceiverResp,
    BindTransceiverResp, Unbind, UnbindResp, EnquireLink, EnquireLinkResp, GenericNack,
    SubmitSm, SubmitSmResp, DeliverSm, DeliverSmResp)}  # fmt: skip
"""command_id to the class that decodes it."""


def decode(frame: bytes) -> Pdu:
    """One whole frame (header included) to its Pdu. Raises PduError."""
    if len(frame) < HEADER_LENGTH:
        raise PduError(f"frame of {len(frame)} bytes is shorter than the header",
                       CommandStatus.ESME_RINVCMDLEN)
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise PduError(f"command_length {length} but the frame has {len(frame)} bytes",
                       CommandStatus.ESME_RINVCMDLEN, sequence)
    cls = PDU_TYPES.get(command_id)
    if cls is None:
        raise PduError(f"unsupported command_id 0x{command_id:08X}",
                       CommandStatus.ESME_RINVCMDID, sequence)
    return cls.decode_body(frame, sequence, status)


@dataclass(frozen=True, slots=True)
class Concat:
    """Where a part sits in a concatenated message (from a UDH or from SAR TLVs)."""

    reference: int
    total: int
    seqnum: int


def split_udh(data: bytes) -> tuple[bytes, bytes]:
    """(user data header with its length octet, the rest); the caller checks ESM_UDHI."""
    if not data or data[0] + 1 > len(data):
        raise PduError("UDH length overruns short_message", CommandStatus.ESME_RINVMSGLEN)
    return data[:data[0] + 1], data[data[0] + 1:]


def concat_info(esm_class: int, data: bytes, tlvs: dict[int, bytes]) -> Concat | None:
    """The concatenation info of a part: UDH IE 0x00 (8-bit ref) or 0x08 (16-bit), or SAR."""
    if esm_class & ESM_UDHI:
        udh, _ = split_udh(data)
        offset = 1
        while offset + 2 <= len(udh):
            iei, length = udh[offset], udh[offset + 1]
            value = udh[offset + 2:offset + 2 + length]
            if iei == 0x00 and length == 3 and len(value) == 3:
                return Concat(value[0], value[1], value[2])
            if iei == 0x08 and length == 4 and len(value) == 4:
                return Concat(int.from_bytes(value[:2], "big"), value[2], value[3])
            offset += 2 + length
    if Tag.SAR_MSG_REF_NUM in tlvs:
        return Concat(tlv_int(tlvs, Tag.SAR_MSG_REF_NUM) or 0,
                      tlv_int(tlvs, Tag.SAR_TOTAL_SEGMENTS) or 1,
                      tlv_int(tlvs, Tag.SAR_SEGMENT_SEQNUM) or 1)
    return None
