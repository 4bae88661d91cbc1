"""Herald's SMPP codec against aiosmpplib's, as properties (hypothesis).

Herald speaks SMPP 3.4 through its own small codec (sender.smpp.pdu and sender.smpp.codes)
because that measured about 20x faster than aiosmpplib's ESME (bench/sender.py). A codec
written independently by other people is the best oracle for it, so aiosmpplib 0.7.4 serves
as one here. It is a test dependency only: nothing in Herald imports it.

1. Every PDU Herald encodes decodes in aiosmpplib to the same fields: command_id,
   command_status, sequence_number, each mandatory field, and the TLVs by tag.
2. Every PDU aiosmpplib encodes decodes in Herald to the fields aiosmpplib was given, and
   Herald encodes it back to the same bytes.
3. Herald's decode(encode(pdu)) == pdu, over a wider domain than aiosmpplib can express.

Beside the codec: the submit_sm that Herald's MessageBuilder makes of a text read back in
aiosmpplib as that text, and Herald's receipt parser reads aiosmpplib's receipt text. The
numbers (command ids, statuses, TLV tags and sizes, TON, NPI) are compared as tables.

Each side is reduced to one comparable view, a plain dict (herald_view, aio_view). Where
aiosmpplib cannot express something, or gets it wrong, the strategies keep out of it and a
comment starting "aiosmpplib:" says so. On Herald's side texts are encoded with Herald's own
encoders (sender.sms.text) and aiosmpplib's codecs read them back; the GSM 03.38 tables
themselves are compared in tests/test_sms_text.py.

Deterministic (derandomize, no example database) so that CI sees the same examples each run.
"""

from __future__ import annotations

from codecs import CodecInfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import smpplib.consts
import smpplib.smpp
from aiosmpplib import protocol as aio
from aiosmpplib import state as aio_state
from aiosmpplib.codec import find_codec_info
from aiosmpplib.utils import split_sms_udh
from hypothesis import given, settings
from hypothesis import strategies as st

from crds.channel import Gsm7Coding, SourceAddress
from crds.template import Category, TemplateSpec
from sender.send.messages import NPI, TON, MessageBuilder
from sender.smpp.codes import (
    ESM_DELIVERY_RECEIPT,
    ESM_UDHI,
    INT_TLV_SIZES,
    RECEIPT_STAT,
    CommandId,
    CommandStatus,
    MessageState,
    Tag,
)
from sender.smpp.pdu import (
    Bind,
    BindReceiver,
    BindReceiverResp,
    BindResp,
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
    MessageIdResp,
    Pdu,
    ShortMessage,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    concat_info,
    cstr_tlv,
    decode,
    int_tlv,
    network_error_code,
    split_udh,
    tlv_int,
)
from sender.sms import text as sms_text
from sender.sms.receipts import STAT_TEXT, Receipt, parse_receipt

PROPERTY = settings(max_examples=200, deadline=None, database=None, derandomize=True)

View = dict[str, object]
"""A PDU as plain fields, the same shape whichever codec read it."""
AioCase = tuple[Any, View]
"""An aiosmpplib message to encode and the view Herald should decode its frame to."""

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFF_FFFF)
TON_CODES = sorted(set(TON.values()))
"""Herald's TON codes (SMPP 3.4 5.2.5); aiosmpplib maps TON to an enum of exactly these."""
NPI_CODES = sorted(set(NPI.values()))
"""Herald's NPI codes (SMPP 3.4 5.2.6); likewise aiosmpplib's NPI enum."""
ASCII = st.characters(min_codepoint=0x01, max_codepoint=0x7F)
LATIN1 = st.characters(min_codepoint=0x01, max_codepoint=0xFF)
GSM7 = st.sampled_from(sorted(sms_text.GSM7_BASIC | sms_text.GSM7_EXTENSION))
GSM7_BASIC = st.sampled_from(sorted(sms_text.GSM7_BASIC))
ALNUM = st.sampled_from("0123456789abcdefABCDEF")
VENDOR_TAGS = st.integers(0x1400, 0x3FFF)
"""SMPP 3.4 5.3.2: the range reserved for SMSC vendor specific TLVs."""
MAX_SM = 254
"""SMPP 3.4 5.2.21: short_message holds 0 to 254 octets."""


def _encode_ascii(text: str) -> bytes:
    return text.encode("ascii")


def _encode_latin1(text: str) -> bytes:
    return text.encode("latin-1")


TEXT_CODINGS: dict[int, tuple[st.SearchStrategy[str], Callable[[str], bytes]]] = {
    0: (GSM7, sms_text.encode_gsm7_unpacked),  # SMSC default alphabet: GSM 03.38, unpacked
    1: (ASCII, _encode_ascii),  # IA5
    3: (LATIN1, _encode_latin1),
    8: (st.characters(), sms_text.encode_ucs2),  # UCS-2, astral characters as surrogate pairs
}
"""data_coding to the characters of a text and how Herald encodes them; any other data_coding
(2 and 4: octet unspecified) carries binary user data."""


# -- What the strategies may draw ---------------------------------------------------------

@dataclass(frozen=True)
class Domain:
    """The values strategies draw from: what aiosmpplib can read and write (ORACLE), or what
    Herald's codec carries (WIDE, a superset, for Herald's own round trip)."""

    char: st.SearchStrategy[str]
    """A character of a C-octet string (never NUL, which ends one)."""
    ton: st.SearchStrategy[int]
    npi: st.SearchStrategy[int]
    request_status: st.SearchStrategy[int]
    """command_status of a bind, submit_sm or deliver_sm: 0 in SMPP."""
    status: st.SearchStrategy[int]
    """command_status of a response, a generic_nack, an unbind or an enquire_link."""
    data_coding: st.SearchStrategy[int]
    octet: st.SearchStrategy[int]
    """An octet of binary user data (data_coding 2 or 4)."""
    time: st.SearchStrategy[str]
    """schedule_delivery_time and validity_period."""
    network_error: st.SearchStrategy[bytes]
    vendor_value: st.SearchStrategy[bytes]
    """The value of a vendor specific TLV."""


def _smpp_absolute(moment: datetime) -> str:
    """SMPP 3.4 7.1.1 absolute time YYMMDDhhmmsstnnp, nn in quarter hours ahead of UTC."""
    offset = moment.utcoffset() or timedelta(0)
    assert offset >= timedelta(0), "only offsets ahead of UTC are drawn (see aio_times)"
    return (f"{moment:%y%m%d%H%M%S}{moment.microsecond // 100_000}"
            f"{offset // timedelta(minutes=15):02d}+")


@st.composite
def relative_periods(draw: st.DrawFn) -> tuple[timedelta, str]:
    """A validity period and its SMPP 3.4 7.1.2 relative form YYMMDDhhmmss000R.

    aiosmpplib: reads a relative time as years of 365 days and months of 30 and writes the
    same way, refusing more than 63 weeks, so only that canonical form reads back as itself.
    """
    days, seconds = draw(st.integers(0, 63 * 7 - 1)), draw(st.integers(0, 86_399))
    years, rest = divmod(days, 365)
    months, day = divmod(rest, 30)
    hours, minutes, secs = seconds // 3600, seconds // 60 % 60, seconds % 60
    return (timedelta(days=days, seconds=seconds),
            f"{years:02d}{months:02d}{day:02d}{hours:02d}{minutes:02d}{secs:02d}000R")


# aiosmpplib: reads YY as the year YY AD, so 00 (year 0) raises; and reads nn as hours, not
# quarter hours, so only UTC (00+) reads back as itself. Herald keeps the string as it is.
UTC_TIMES = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31),
                         timezones=st.just(UTC))
ORACLE_TIMES = st.one_of(st.just(""), UTC_TIMES.map(_smpp_absolute),
                         relative_periods().map(lambda period: period[1]))

ORACLE = Domain(
    # aiosmpplib: decodes C-octet strings as ASCII (Herald as Latin-1).
    char=ASCII,
    # aiosmpplib: maps TON and NPI to enums and raises on any other code.
    ton=st.sampled_from(TON_CODES), npi=st.sampled_from(NPI_CODES),
    # aiosmpplib: its request decoders drop command_status (always 0 in a request).
    request_status=st.just(0),
    # aiosmpplib: maps command_status to the spec's enum, so no vendor codes (0x400...).
    status=st.sampled_from(sorted(CommandStatus)),
    data_coding=st.sampled_from([0, 1, 3, 4, 8]),
    # aiosmpplib: has no codec for octet unspecified data, falls back to strict ASCII.
    octet=st.integers(0, 0x7F),
    time=ORACLE_TIMES,
    # aiosmpplib: types network_error_code as an ASCII octet string and drops one trailing
    # NUL from every octet string TLV, so: octets below 0x80, the last one not 0.
    network_error=st.builds(network_error_code, st.integers(0, 0x7F),
                            st.builds(lambda high, low: high << 8 | low,
                                      st.integers(0, 0x7F), st.integers(1, 0x7F))),
    vendor_value=st.text(ASCII, max_size=16).map(_encode_ascii),  # vendor TLVs: ASCII
)
WIDE = Domain(
    char=LATIN1,
    ton=U8, npi=U8,
    request_status=U32, status=U32,
    data_coding=st.sampled_from([0, 1, 3, 4, 8]) | U8,
    octet=U8,
    time=ORACLE_TIMES | st.text(LATIN1, max_size=16),
    network_error=st.builds(network_error_code, U8, U16),
    vendor_value=st.binary(max_size=16),
)


def _cstrings(domain: Domain, max_size: int) -> st.SearchStrategy[str]:
    return st.text(domain.char, max_size=max_size)


@st.composite
def _user_data(draw: st.DrawFn, domain: Domain, data_coding: int, limit: int) -> bytes:
    """1 to `limit` octets of user data for data_coding: text encoded as Herald does, whole
    characters only, or binary. At least one character (see herald_short_messages)."""
    if data_coding not in TEXT_CODINGS:
        return draw(st.lists(domain.octet, min_size=1, max_size=limit).map(bytes))
    chars, encode = TEXT_CODINGS[data_coding]
    data = b""
    for char in draw(st.text(chars, min_size=1, max_size=limit)):
        encoded = encode(char)
        if len(data) + len(encoded) > limit:
            break
        data += encoded
    return data


# -- Herald's PDUs ------------------------------------------------------------------------

@st.composite
def herald_binds(draw: st.DrawFn, domain: Domain) -> Pdu:
    cls = draw(st.sampled_from([BindTransmitter, BindReceiver, BindTransceiver]))
    return cls(
        sequence_number=draw(U32), command_status=draw(domain.request_status),
        system_id=draw(_cstrings(domain, 15)), password=draw(_cstrings(domain, 8)),
        system_type=draw(_cstrings(domain, 12)),
        interface_version=draw(st.sampled_from([0x33, 0x34]) | U8),
        addr_ton=draw(domain.ton), addr_npi=draw(domain.npi),
        address_range=draw(_cstrings(domain, 40)))  # fmt: skip


@st.composite
def herald_bind_resps(draw: st.DrawFn, domain: Domain) -> Pdu:
    cls = draw(st.sampled_from([BindTransmitterResp, BindReceiverResp, BindTransceiverResp]))
    # aiosmpplib: reads any TLV of a bind response as sc_interface_version, the only one
    # SMPP 3.4 defines there (and the only one Herald sends). It cannot read a bind response
    # without a body (ValueError), which SMPP 3.4 4.1.2 allows on error and Herald's SMSC
    # simulator sends then; BindResp.encode always writes one.
    tlvs: dict[int, bytes] = {}
    if draw(st.booleans()):
        tlvs[Tag.SC_INTERFACE_VERSION] = int_tlv(Tag.SC_INTERFACE_VERSION, draw(U8))
    return cls(sequence_number=draw(U32), command_status=draw(domain.status),
               system_id=draw(_cstrings(domain, 15)), tlvs=tlvs)


@st.composite
def herald_header_only(draw: st.DrawFn, domain: Domain) -> Pdu:
    cls = draw(st.sampled_from([GenericNack, EnquireLink, EnquireLinkResp, Unbind, UnbindResp]))
    return cls(sequence_number=draw(U32), command_status=draw(domain.status))


@st.composite
def herald_message_id_resps(draw: st.DrawFn, domain: Domain) -> Pdu:
    cls = draw(st.sampled_from([SubmitSmResp, DeliverSmResp]))
    status = draw(domain.status)
    # A failed submit_sm_resp goes without a body (SMPP 3.4 4.4.2), so without a message_id.
    message_id = "" if status and cls is SubmitSmResp else draw(_cstrings(domain, 64))
    return cls(sequence_number=draw(U32), command_status=status, message_id=message_id)


@st.composite
def _sar_tlvs(draw: st.DrawFn) -> dict[int, bytes]:
    total = draw(st.integers(1, 255))
    return {Tag.SAR_MSG_REF_NUM: int_tlv(Tag.SAR_MSG_REF_NUM, draw(U16)),
            Tag.SAR_TOTAL_SEGMENTS: int_tlv(Tag.SAR_TOTAL_SEGMENTS, total),
            Tag.SAR_SEGMENT_SEQNUM: int_tlv(Tag.SAR_SEGMENT_SEQNUM, draw(st.integers(1, total)))}


def _int_tlv(tag: int, values: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    return values.map(lambda value: int_tlv(tag, value))


def _int_tlvs(tags: dict[int, st.SearchStrategy[int]]) -> dict[int, st.SearchStrategy[bytes]]:
    return {tag: _int_tlv(tag, values) for tag, values in tags.items()}


def _optional_tlvs(domain: Domain, receipt: bool) -> st.SearchStrategy[dict[int, bytes]]:
    """Some of the TLVs Herald sends or reads in a submit_sm or a deliver_sm."""
    optional = _int_tlvs({Tag.USER_MESSAGE_REFERENCE: U16, Tag.SOURCE_PORT: U16,
                          Tag.DESTINATION_PORT: U16, Tag.MORE_MESSAGES_TO_SEND: st.integers(0, 1)})
    if receipt:
        optional |= _int_tlvs({Tag.MESSAGE_STATE: st.sampled_from(sorted(MessageState))})
        optional |= {Tag.RECEIPTED_MESSAGE_ID: _cstrings(domain, 64).map(cstr_tlv),
                     Tag.NETWORK_ERROR_CODE: domain.network_error}
    return st.fixed_dictionaries({}, optional=optional)


@st.composite
def herald_short_messages(draw: st.DrawFn, domain: Domain, cls: type[ShortMessage]) -> Pdu:
    """submit_sm or deliver_sm (an MO message): plain, with a concatenation UDH (8- or 16-bit
    reference), or with its text in message_payload; TLVs including SAR ones.

    aiosmpplib: refuses a message whose text is empty (short_message and message_payload);
    reads the UDH's first IE as the concatenation IE without looking at its IEI; with UDHI it
    reads a UDH from message_payload too, and it refuses short_message and message_payload
    together. So: some text always, the concatenation IE alone in the UDH, no message_payload
    with UDHI, no SAR TLVs with a UDH (they would say the same twice), as Herald sends them.
    """
    kind = draw(st.sampled_from(["plain", "udh8", "udh16", "payload"]))
    data_coding = draw(domain.data_coding)
    total = draw(st.integers(1, 255))
    seqnum = draw(st.integers(1, total))
    tlvs: dict[int, bytes] = {}
    if kind == "udh8":
        udh = sms_text.encode_udh_parts([b""] * total, draw(U8))[seqnum - 1]
    elif kind == "udh16":  # Herald sends 8-bit references but reads both
        reference = draw(U16)
        udh = bytes((6, 0x08, 4, reference >> 8, reference & 0xFF, total, seqnum))
    else:
        udh = b""
        if draw(st.booleans()):
            tlvs |= draw(_sar_tlvs())
    if kind == "payload":
        short_message = b""
        tlvs[Tag.MESSAGE_PAYLOAD] = draw(_user_data(domain, data_coding, 1000))
    else:
        short_message = udh + draw(_user_data(domain, data_coding, MAX_SM - len(udh)))
    tlvs |= draw(_optional_tlvs(domain, receipt=cls is DeliverSm))
    if draw(st.booleans()):
        tlvs[draw(VENDOR_TAGS)] = draw(domain.vendor_value)
    return cls(
        sequence_number=draw(U32), command_status=draw(domain.request_status),
        service_type=draw(_cstrings(domain, 5)),
        source_addr_ton=draw(domain.ton), source_addr_npi=draw(domain.npi),
        source_addr=draw(_cstrings(domain, 20)),
        dest_addr_ton=draw(domain.ton), dest_addr_npi=draw(domain.npi),
        destination_addr=draw(_cstrings(domain, 20)),
        esm_class=draw(U8) & ~ESM_UDHI | (ESM_UDHI if udh else 0),
        protocol_id=draw(U8), priority_flag=draw(U8),
        schedule_delivery_time=draw(domain.time), validity_period=draw(domain.time),
        registered_delivery=draw(U8), replace_if_present_flag=draw(U8),
        data_coding=data_coding, sm_default_msg_id=draw(U8),
        short_message=short_message, tlvs=tlvs)  # fmt: skip


def _receipt_date(moment: datetime) -> str:
    return f"{moment:%y%m%d%H%M}"


RECEIPT_DATES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
RECEIPT_EXCERPTS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789 "), max_size=20)
"""The text: field of a receipt. Without colons: Herald's receipt parser (sender.sms.receipts)
would take `stat:...` inside the excerpt for the receipt's stat."""


@st.composite
def herald_receipts(draw: st.DrawFn, domain: Domain) -> Pdu:
    """A delivery receipt deliver_sm as Herald's SMSC simulator sends it: esm_class 0x04, the
    SMPP 3.4 Appendix B text and receipted_message_id, message_state (network_error_code)."""
    message_id = draw(st.text(ALNUM, min_size=1, max_size=20))
    state = draw(st.sampled_from(sorted(MessageState)))
    text = (f"id:{message_id} sub:001 dlvrd:{1 if state == MessageState.DELIVERED else 0:03d}"
            f" submit date:{_receipt_date(draw(RECEIPT_DATES))}"
            f" done date:{_receipt_date(draw(RECEIPT_DATES))}"
            f" stat:{RECEIPT_STAT[state]} err:{draw(st.integers(0, 999)):03d}"
            f" text:{draw(RECEIPT_EXCERPTS)}")
    tlvs: dict[int, bytes] = {Tag.RECEIPTED_MESSAGE_ID: cstr_tlv(message_id),
                              Tag.MESSAGE_STATE: int_tlv(Tag.MESSAGE_STATE, state)}
    if state != MessageState.DELIVERED:
        tlvs[Tag.NETWORK_ERROR_CODE] = draw(domain.network_error)
    return DeliverSm(
        sequence_number=draw(U32), command_status=draw(domain.request_status),
        source_addr_ton=1, source_addr_npi=1, source_addr=draw(st.text(ALNUM, max_size=20)),
        dest_addr_ton=draw(domain.ton), dest_addr_npi=draw(domain.npi),
        destination_addr=draw(_cstrings(domain, 20)), esm_class=ESM_DELIVERY_RECEIPT,
        short_message=sms_text.encode_gsm7_unpacked(text), tlvs=tlvs)


HeraldFamily = Callable[[Domain], st.SearchStrategy[Pdu]]
HERALD_FAMILIES: dict[str, HeraldFamily] = {
    "bind": herald_binds,
    "bind_resp": herald_bind_resps,
    "enquire_link-unbind-generic_nack": herald_header_only,
    "submit_sm_resp-deliver_sm_resp": herald_message_id_resps,
    "submit_sm": lambda domain: herald_short_messages(domain, SubmitSm),
    "deliver_sm": lambda domain: herald_short_messages(domain, DeliverSm),
    "deliver_sm-receipt": herald_receipts,
}


# -- Views: a PDU as plain fields, from either codec --------------------------------------

def _header(command_id: int, command_status: int, sequence_number: int) -> View:
    return {"command_id": int(command_id), "command_status": int(command_status),
            "sequence_number": sequence_number}


def herald_view(pdu: Pdu) -> View:
    view = _header(pdu.command_id, pdu.command_status, pdu.sequence_number)
    match pdu:
        case Bind():
            return view | {
                "system_id": pdu.system_id, "password": pdu.password,
                "system_type": pdu.system_type, "interface_version": pdu.interface_version,
                "addr_ton": pdu.addr_ton, "addr_npi": pdu.addr_npi,
                "address_range": pdu.address_range}  # fmt: skip
        case BindResp():
            others = {tag: value for tag, value in pdu.tlvs.items()
                      if tag != Tag.SC_INTERFACE_VERSION}
            return view | {"system_id": pdu.system_id,
                           "sc_interface_version": tlv_int(pdu.tlvs, Tag.SC_INTERFACE_VERSION),
                           "tlvs": others}
        case MessageIdResp():
            return view | {"message_id": pdu.message_id}
        case ShortMessage():
            udhi = bool(pdu.esm_class & ESM_UDHI)
            user_data = split_udh(pdu.short_message)[1] if udhi else pdu.short_message
            tlvs = dict(pdu.tlvs)
            return view | {
                "service_type": pdu.service_type,
                "source": (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr),
                "destination": (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr),
                "esm_class": pdu.esm_class, "protocol_id": pdu.protocol_id,
                "priority_flag": pdu.priority_flag,
                "schedule_delivery_time": pdu.schedule_delivery_time,
                "validity_period": pdu.validity_period,
                "registered_delivery": pdu.registered_delivery,
                "replace_if_present_flag": pdu.replace_if_present_flag,
                "data_coding": pdu.data_coding, "sm_default_msg_id": pdu.sm_default_msg_id,
                "user_data": user_data, "payload": tlvs.pop(Tag.MESSAGE_PAYLOAD, None),
                "udh_concat": concat_info(pdu.esm_class, pdu.short_message, {}) if udhi else None,
                "tlvs": tlvs}  # fmt: skip
    return view


def aio_decode(frame: bytes) -> Any:
    """aiosmpplib's reading of one frame, the way its ESME reads (esme.py: _get_pdu parses
    the header, then MESSAGE_TYPE_MAP[command].from_pdu with the default alphabet)."""
    header = aio.SmppMessage.parse_header(frame)
    assert header.pdu_length == len(frame)
    return aio.MESSAGE_TYPE_MAP[header.smpp_command].from_pdu(frame, header, "gsm0338")


def _aio_codec(encoding: str | None) -> CodecInfo:
    """The codec aiosmpplib decoded user data with (protocol.py, SubmitSm.from_pdu)."""
    codec: CodecInfo
    try:
        codec = find_codec_info(encoding or "gsm0338")
    except LookupError:  # octet_unspecified_I/II: no codec there, so aiosmpplib reads ASCII
        codec = find_codec_info("ascii")
    return codec


def _aio_short_message_view(message: Any) -> View:
    codec = _aio_codec(message.encoding)
    params = list(message.optional_params)
    concat = None
    if message.esm_class & ESM_UDHI:  # the UDH became the first three params, as SAR TLVs
        udh = {param.tag: param.value for param in params[:3]}
        params = params[3:]
        reference = udh[aio_state.SAR_MSG_REF_NUM]
        if reference > 0xFF:
            # aiosmpplib: reads a 16-bit reference (IEI 0x08) with "!I", so as the four octets
            # reference, total and seqnum. total > 0 makes that more than 0xFF.
            reference >>= 16
        concat = Concat(reference, udh[aio_state.SAR_TOTAL_SEGMENTS],
                        udh[aio_state.SAR_SEGMENT_SEQNUM])
    return {
        "service_type": message.service_type,
        "source": (int(message.source.ton), int(message.source.npi), message.source.number),
        "destination": (int(message.destination.ton), int(message.destination.npi),
                        message.destination.number),
        "esm_class": message.esm_class, "protocol_id": message.protocol_id,
        "priority_flag": message.priority_flag,
        # The time aiosmpplib read, in the form it would write it (see ORACLE_TIMES).
        "schedule_delivery_time": aio.SubmitSm.datetime_to_smpp_time(
            message.schedule_delivery_time),
        "validity_period": aio.SubmitSm.datetime_to_smpp_time(message.validity_period),
        "registered_delivery": message.registered_delivery,
        "replace_if_present_flag": message.replace_if_present_flag,
        "data_coding": aio_state.SmppDataCoding[message.encoding].value if message.encoding
        else 0,
        "sm_default_msg_id": message.sm_default_msg_id,
        "user_data": codec.encode(message.short_message)[0],
        "payload": codec.encode(message.message_payload)[0] if message.message_payload else None,
        "udh_concat": concat,
        "tlvs": {param.tag: param.tlv[4:] for param in params},  # aiosmpplib's own TLV encoder
    }  # fmt: skip


def aio_view(message: Any) -> View:
    """The view of a message aiosmpplib decoded."""
    view = _header(message.smpp_command, message.command_status, message.sequence_num)
    if isinstance(message, aio.BindTransceiver):  # bind_transmitter, bind_receiver too
        return view | {
            "system_id": message.system_id, "password": message.password,
            "system_type": message.system_type, "interface_version": message.interface_version,
            "addr_ton": int(message.addr_ton), "addr_npi": int(message.addr_npi),
            "address_range": message.address_range}  # fmt: skip
    if isinstance(message, aio.BindTransceiverResp):  # and the other two bind responses
        return view | {"system_id": message.system_id,
                       "sc_interface_version": message.sc_interface_version, "tlvs": {}}
    if isinstance(message, aio.SubmitSmResp):  # and deliver_sm_resp
        return view | {"message_id": message.message_id}
    if isinstance(message, aio.SubmitSm):  # and deliver_sm
        return view | _aio_short_message_view(message)
    return view


# -- aiosmpplib's PDUs, each with the view Herald should read ------------------------------

AIO_BINDS = {CommandId.BIND_TRANSMITTER: aio.BindTransmitter,
             CommandId.BIND_RECEIVER: aio.BindReceiver,
             CommandId.BIND_TRANSCEIVER: aio.BindTransceiver}
AIO_BIND_RESPS = {CommandId.BIND_TRANSMITTER_RESP: aio.BindTransmitterResp,
                  CommandId.BIND_RECEIVER_RESP: aio.BindReceiverResp,
                  CommandId.BIND_TRANSCEIVER_RESP: aio.BindTransceiverResp}
AIO_HEADER_ONLY = {CommandId.GENERIC_NACK: aio.GenericNack, CommandId.ENQUIRE_LINK: aio.EnquireLink,
                   CommandId.ENQUIRE_LINK_RESP: aio.EnquireLinkResp, CommandId.UNBIND: aio.Unbind,
                   CommandId.UNBIND_RESP: aio.UnbindResp}
AIO_MESSAGE_ID_RESPS = {CommandId.SUBMIT_SM_RESP: aio.SubmitSmResp,
                        CommandId.DELIVER_SM_RESP: aio.DeliverSmResp}
AIO_STATUSES = st.sampled_from(sorted(CommandStatus)).map(aio_state.SmppCommandStatus)


@st.composite
def aio_binds(draw: st.DrawFn) -> AioCase:
    command_id = draw(st.sampled_from(sorted(AIO_BINDS)))
    sequence = draw(U32)
    ton, npi = draw(st.sampled_from(TON_CODES)), draw(st.sampled_from(NPI_CODES))
    fields: View = {
        "system_id": draw(_cstrings(ORACLE, 15)), "password": draw(_cstrings(ORACLE, 8)),
        "system_type": draw(_cstrings(ORACLE, 12)), "interface_version": draw(U8),
        "address_range": draw(_cstrings(ORACLE, 40))}  # fmt: skip
    message = AIO_BINDS[command_id](sequence_num=sequence, addr_ton=aio_state.TON(ton),
                                    addr_npi=aio_state.NPI(npi), **fields)
    return message, _header(command_id, 0, sequence) | fields | {"addr_ton": ton, "addr_npi": npi}


@st.composite
def aio_bind_resps(draw: st.DrawFn) -> AioCase:
    command_id = draw(st.sampled_from(sorted(AIO_BIND_RESPS)))
    sequence, status = draw(U32), draw(AIO_STATUSES)
    system_id, version = draw(_cstrings(ORACLE, 15)), draw(st.none() | U8)
    message = AIO_BIND_RESPS[command_id](sequence_num=sequence, command_status=status,
                                         system_id=system_id, sc_interface_version=version)
    return message, _header(command_id, status, sequence) | {
        "system_id": system_id, "sc_interface_version": version, "tlvs": {}}


@st.composite
def aio_header_only(draw: st.DrawFn) -> AioCase:
    command_id = draw(st.sampled_from(sorted(AIO_HEADER_ONLY)))
    sequence, status = draw(U32), draw(AIO_STATUSES)
    message = AIO_HEADER_ONLY[command_id](sequence_num=sequence, command_status=status)
    return message, _header(command_id, status, sequence)


@st.composite
def aio_message_id_resps(draw: st.DrawFn) -> AioCase:
    command_id = draw(st.sampled_from(sorted(AIO_MESSAGE_ID_RESPS)))
    sequence, status = draw(U32), draw(AIO_STATUSES)
    message_id = draw(_cstrings(ORACLE, 64))  # aiosmpplib writes it even in an error response
    message = AIO_MESSAGE_ID_RESPS[command_id](sequence_num=sequence, command_status=status,
                                               message_id=message_id)
    return message, _header(command_id, status, sequence) | {"message_id": message_id}


# aiosmpplib: writes a negative UTC offset as the seconds of offset.seconds (24 h less the
# offset), so only offsets ahead of UTC are drawn.
AIO_MOMENTS = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31),
    timezones=st.integers(0, 48).map(lambda quarters: timezone(timedelta(minutes=15 * quarters))))


@st.composite
def aio_times(draw: st.DrawFn) -> tuple[datetime | timedelta | None, str]:
    """A schedule_delivery_time or validity_period for aiosmpplib and its SMPP form."""
    kind = draw(st.sampled_from(["none", "absolute", "relative"]))
    if kind == "none":
        return None, ""
    if kind == "absolute":
        moment = draw(AIO_MOMENTS)
        return moment, _smpp_absolute(moment)
    return draw(relative_periods())


AIO_TEXT_CODINGS: dict[str | None, tuple[int, st.SearchStrategy[str], Callable[[str], bytes]]] = {
    None: (0, GSM7, sms_text.encode_gsm7_unpacked),  # aiosmpplib's default: GSM 03.38
    "ascii": (1, ASCII, _encode_ascii),
    "latin_1": (3, LATIN1, _encode_latin1),
    "ucs2": (8, st.characters(), sms_text.encode_ucs2),
}
"""aiosmpplib's encoding name to data_coding, the characters and Herald's own encoder."""


def _int_param(tag: int, values: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[Any, bytes]]:
    return values.map(lambda value: (value, int_tlv(tag, value)))


def _aio_tlvs(receipt: bool, sar: bool) -> st.SearchStrategy[list[tuple[Any, bytes]]]:
    """aiosmpplib OptionalParams and the value octets Herald should read for each."""
    ints: dict[int, st.SearchStrategy[int]] = {
        Tag.USER_MESSAGE_REFERENCE: U16, Tag.SOURCE_PORT: U16, Tag.DESTINATION_PORT: U16,
        Tag.MORE_MESSAGES_TO_SEND: st.integers(0, 1)}  # fmt: skip
    strings: dict[int, st.SearchStrategy[tuple[Any, bytes]]] = {}
    if receipt:
        ints[Tag.MESSAGE_STATE] = st.sampled_from(sorted(MessageState)).map(int)
        strings[Tag.RECEIPTED_MESSAGE_ID] = _cstrings(ORACLE, 64).map(
            lambda text: (text, cstr_tlv(text)))
        # aiosmpplib: network_error_code is an ASCII string to it, so three ASCII octets.
        strings[Tag.NETWORK_ERROR_CODE] = st.text(ASCII, min_size=3, max_size=3).map(
            lambda text: (text, _encode_ascii(text)))
    if sar:
        ints |= {Tag.SAR_MSG_REF_NUM: U16, Tag.SAR_TOTAL_SEGMENTS: st.integers(1, 255),
                 Tag.SAR_SEGMENT_SEQNUM: st.integers(1, 255)}
    pool = strings | {tag: _int_param(tag, values) for tag, values in ints.items()}

    @st.composite
    def params(draw: st.DrawFn) -> list[tuple[Any, bytes]]:
        tags = draw(st.lists(st.sampled_from(sorted(pool)), unique=True))
        if draw(st.booleans()):
            tags.append(draw(VENDOR_TAGS))
        chosen = []
        for tag in tags:
            value: Any
            if tag in pool:
                value, octets = draw(pool[tag])
            else:  # aiosmpplib: a vendor specific TLV is an ASCII string to it
                value = draw(st.text(ASCII, max_size=16))
                octets = _encode_ascii(value)
            chosen.append((aio_state.OptionalParam(tag, value), octets))
        return chosen

    return params()


@st.composite
def aio_short_messages(draw: st.DrawFn, command_id: CommandId) -> AioCase:
    """submit_sm or deliver_sm as aiosmpplib writes them: text in any of its encodings (moved
    to message_payload past 254 octets), message_payload, a part of a concatenated message
    (UDH, 8- or 16-bit reference), binary data."""
    cls = aio.SubmitSm if command_id == CommandId.SUBMIT_SM else aio.DeliverSm
    kind = draw(st.sampled_from(["text", "payload", "udh", "binary"]))
    esm_class = draw(U8) & ~ESM_UDHI
    concat = None
    encoded: bytes | None = None  # pre-encoded user data, as aiosmpplib's ESME sets it
    if kind in ("text", "payload"):
        encoding = draw(st.sampled_from(list(AIO_TEXT_CODINGS)))
        data_coding, chars, encode = AIO_TEXT_CODINGS[encoding]
        text = draw(st.text(chars, min_size=1, max_size=300))
        data = encode(text)
        if kind == "payload" or len(data) > MAX_SM:
            text_fields = {"message_payload" if kind == "payload" else "short_message": text}
            user_data, payload = b"", data
        else:
            text_fields, user_data, payload = {"short_message": text}, data, None
    elif kind == "udh":
        # aiosmpplib: splits GSM text every 153 characters, not septets, so a part with
        # extension characters could overflow: basic characters only.
        encoding = draw(st.sampled_from(["gsm0338", "ucs2"]))
        data_coding = 0 if encoding == "gsm0338" else 8
        text = draw(st.text(GSM7_BASIC, min_size=161, max_size=400) if data_coding == 0
                    else st.text(st.characters(), min_size=71, max_size=200))
        reference = draw(U16)  # aiosmpplib: a 16-bit reference (IEI 0x08) past 0xFF
        parts = split_sms_udh(text, encoding, reference)
        seqnum = draw(st.integers(1, len(parts)))
        encoded = parts[seqnum - 1]
        esm_class |= ESM_UDHI
        concat = Concat(reference, len(parts), seqnum)
        text_fields, user_data, payload = {"short_message": text}, encoded[encoded[0] + 1:], None
    else:
        # aiosmpplib: has no codec for binary data codings; its ESME sends pre-encoded octets
        # (set_encoded_message), which is how binary goes out with it.
        encoding = draw(st.sampled_from(["octet_unspecified_I", "octet_unspecified_II"]))
        data_coding = aio_state.SmppDataCoding[encoding].value
        encoded = draw(st.binary(min_size=1, max_size=MAX_SM))
        text_fields = {"short_message": encoded.decode("latin-1")}  # a stand-in, not sent
        user_data, payload = encoded, None
    params = draw(_aio_tlvs(receipt=command_id == CommandId.DELIVER_SM, sar=concat is None))
    schedule, schedule_text = draw(aio_times())
    validity, validity_text = draw(aio_times())
    sequence = draw(U32)
    source = (draw(st.sampled_from(TON_CODES)), draw(st.sampled_from(NPI_CODES)),
              draw(_cstrings(ORACLE, 20)))
    destination = (draw(st.sampled_from(TON_CODES)), draw(st.sampled_from(NPI_CODES)),
                   draw(_cstrings(ORACLE, 20)))
    flags: View = {
        "service_type": draw(_cstrings(ORACLE, 5)), "esm_class": esm_class,
        "protocol_id": draw(U8), "priority_flag": draw(U8),
        "registered_delivery": draw(U8), "replace_if_present_flag": draw(U8),
        "sm_default_msg_id": draw(U8)}  # fmt: skip
    message = cls(
        sequence_num=sequence,
        source=aio_state.PhoneNumber(source[2], aio_state.TON(source[0]),
                                     aio_state.NPI(source[1])),
        destination=aio_state.PhoneNumber(destination[2], aio_state.TON(destination[0]),
                                          aio_state.NPI(destination[1])),
        schedule_delivery_time=schedule, validity_period=validity, encoding=encoding,
        optional_params=[param for param, _ in params], **text_fields, **flags)
    if encoded is not None:
        message.set_encoded_message(encoded)
    return message, _header(command_id, 0, sequence) | flags | {
        "source": source, "destination": destination,
        "schedule_delivery_time": schedule_text, "validity_period": validity_text,
        "data_coding": data_coding, "user_data": user_data, "payload": payload,
        "udh_concat": concat, "tlvs": {param.tag: octets for param, octets in params}}


@st.composite
def aio_receipts(draw: st.DrawFn) -> tuple[Any, View, dict[str, Any]]:
    """A delivery receipt deliver_sm, its text from aiosmpplib's DeliverSm.encode_receipt;
    also the receipt's fields."""
    state = draw(st.sampled_from(sorted(MessageState)))
    fields: dict[str, Any] = {
        "id": draw(st.text(ALNUM, min_size=1, max_size=20)),
        "sub": 1, "dlvrd": int(state == MessageState.DELIVERED),
        "submit date": draw(RECEIPT_DATES), "done date": draw(RECEIPT_DATES),
        "stat": RECEIPT_STAT[state], "err": draw(st.integers(0, 999)),
        "text": draw(RECEIPT_EXCERPTS)}  # fmt: skip
    text = aio.DeliverSm.encode_receipt(fields)
    with_tlvs = draw(st.booleans())
    params = ([aio_state.OptionalParam(aio_state.RECEIPTED_MESSAGE_ID, fields["id"]),
               aio_state.OptionalParam(aio_state.MESSAGE_STATE, int(state))] if with_tlvs else [])
    sequence = draw(U32)
    message = aio.DeliverSm(sequence_num=sequence, short_message=text,
                            source=aio_state.PhoneNumber("8613800000000", aio_state.TON(1),
                                                         aio_state.NPI(1)),
                            esm_class=ESM_DELIVERY_RECEIPT, registered_delivery=0,
                            optional_params=params)
    expected = _header(CommandId.DELIVER_SM, 0, sequence) | {
        "service_type": "", "source": (1, 1, "8613800000000"), "destination": (0, 0, ""),
        "esm_class": ESM_DELIVERY_RECEIPT, "protocol_id": 0, "priority_flag": 0,
        "schedule_delivery_time": "", "validity_period": "", "registered_delivery": 0,
        "replace_if_present_flag": 0, "data_coding": 0, "sm_default_msg_id": 0,
        "user_data": sms_text.encode_gsm7_unpacked(text), "payload": None, "udh_concat": None,
        "tlvs": {Tag.RECEIPTED_MESSAGE_ID: cstr_tlv(fields["id"]),
                 Tag.MESSAGE_STATE: int_tlv(Tag.MESSAGE_STATE, state)} if with_tlvs else {}}
    return message, expected, fields


AIO_FAMILIES: dict[str, st.SearchStrategy[AioCase]] = {
    "bind": aio_binds(),
    "bind_resp": aio_bind_resps(),
    "enquire_link-unbind-generic_nack": aio_header_only(),
    "submit_sm_resp-deliver_sm_resp": aio_message_id_resps(),
    "submit_sm": aio_short_messages(CommandId.SUBMIT_SM),
    "deliver_sm": aio_short_messages(CommandId.DELIVER_SM),
    "deliver_sm-receipt": aio_receipts().map(lambda case: case[:2]),
}


# -- The properties -----------------------------------------------------------------------

@pytest.mark.parametrize("family", HERALD_FAMILIES)
@PROPERTY
@given(data=st.data())
def test_herald_pdu_decodes_the_same_in_aiosmpplib(family: str, data: st.DataObject) -> None:
    pdu = data.draw(HERALD_FAMILIES[family](ORACLE), label="pdu")
    assert aio_view(aio_decode(pdu.encode())) == herald_view(pdu)


@pytest.mark.parametrize("family", AIO_FAMILIES)
@PROPERTY
@given(data=st.data())
def test_aiosmpplib_pdu_decodes_the_same_in_herald(family: str, data: st.DataObject) -> None:
    message, expected = data.draw(AIO_FAMILIES[family], label="message")
    frame = message.pdu()
    pdu = decode(frame)
    assert herald_view(pdu) == expected
    if not (isinstance(pdu, SubmitSmResp) and pdu.command_status):
        # Herald sends a failed submit_sm_resp without a body (SMPP 3.4 4.4.2); aiosmpplib
        # with a message_id. Anything else Herald writes back byte for byte.
        assert pdu.encode() == frame


@pytest.mark.parametrize("family", HERALD_FAMILIES)
@PROPERTY
@given(data=st.data())
def test_herald_round_trip(family: str, data: st.DataObject) -> None:
    """Over WIDE: Latin-1 strings, any TON, NPI, data_coding and command_status, binary
    TLV values; it holds ORACLE too."""
    pdu = data.draw(HERALD_FAMILIES[family](WIDE), label="pdu")
    assert decode(pdu.encode()) == pdu


@PROPERTY
@given(aio_receipts())
def test_aiosmpplib_receipt_text_parses_in_herald(case: tuple[Any, View, dict[str, Any]]) -> None:
    """Herald's receipt parser (as the receiver calls it) reads aiosmpplib's receipt text."""
    message, _, fields = case
    pdu = decode(message.pdu())
    assert isinstance(pdu, DeliverSm)
    receipt = parse_receipt(pdu.short_message.decode("latin-1"), None, None)
    assert receipt == Receipt(smsc_id=fields["id"], state=STAT_TEXT[fields["stat"]],
                              error=f"{fields['err']:03d}")


def _built(body: str, coding: Gsm7Coding = Gsm7Coding.SMSC_DEFAULT) -> tuple[str, list[SubmitSm]]:
    """A message's text and its submit_sm as Herald's sender builds them."""
    builder = MessageBuilder({"": TemplateSpec(category=Category.NOTIFICATION, body=body)},
                             SourceAddress(address="Herald"), gsm7_coding=coding)
    return builder.text({}), list(builder.build("+8613800000000", {}))


MESSAGE_BODIES = st.one_of(  # no braces: {name} is a template variable
    st.text(GSM7.filter(lambda char: char not in "{}"), min_size=1, max_size=400),
    st.text(st.characters(exclude_characters="{}"), min_size=1, max_size=400))


@PROPERTY
@given(MESSAGE_BODIES)
def test_herald_messages_read_in_aiosmpplib_as_their_text(body: str) -> None:
    """The submit_sm of one message (GSM-7 or UCS-2, split with a UDH when long) read in
    aiosmpplib give back its text, part by part, and the concatenation numbers."""
    text, pdus = _built(body)
    messages = [aio_decode(pdu.encode()) for pdu in pdus]
    assert "".join(message.short_message for message in messages) == text
    if len(pdus) > 1:
        first = concat_info(pdus[0].esm_class, pdus[0].short_message, {})
        assert first is not None
        assert [aio_view(message)["udh_concat"] for message in messages] == [
            Concat(first.reference, len(pdus), seqnum) for seqnum in range(1, len(pdus) + 1)]


# Each row: a channel coding, a text, the data_coding sent. Text a coding lacks goes UCS-2.
CODINGS = [
    pytest.param(Gsm7Coding.SMSC_DEFAULT, "5$ @shop, café_é", 0x00, id="gsm7"),
    pytest.param(Gsm7Coding.SMSC_DEFAULT, "Preis: 5€ [heute]", 0x00, id="gsm7-extension"),
    pytest.param(Gsm7Coding.IA5, "5$ @shop_now [50%] ~ok `tick`", 0x01, id="ia5"),
    pytest.param(Gsm7Coding.IA5, "5$ @shop, café_é", 0x08, id="ia5-lacks-e-acute"),
    pytest.param(Gsm7Coding.LATIN1, "5$ @shop, café_é ÿ ©", 0x03, id="latin1"),
    pytest.param(Gsm7Coding.LATIN1, "Preis: 5€", 0x08, id="latin1-lacks-euro"),
    pytest.param(Gsm7Coding.LATIN1, "Δ ok", 0x08, id="latin1-lacks-greek-gsm7-has"),
    pytest.param(Gsm7Coding.SMSC_DEFAULT, "验证码 1234", 0x08, id="ucs2"),
]


@pytest.mark.parametrize("coding, text, data_coding", CODINGS)
def test_each_coding_sends_octets_that_read_back_as_written(
    coding: Gsm7Coding, text: str, data_coding: int,
) -> None:
    """Each Channel spec.smpp.gsm7Coding sends octets a third-party codec decodes to the
    text written, labelled with the data_coding that says how: aiosmpplib and
    python-smpplib read each submit_sm."""
    built, [pdu] = _built(text, coding)
    assert built == text and pdu.data_coding == data_coding
    assert aio_decode(pdu.encode()).short_message == text
    assert smpplib_text(pdu.encode()) == text


class _SmpplibClient:
    """What smpplib's PDU asks of its client while it parses."""

    sequence = 0

    def next_sequence(self) -> int:
        return 1


def smpplib_text(frame: bytes) -> str:
    """python-smpplib's reading of a submit_sm, its text decoded by its data_coding as
    smpplib's consts name the codings (smpplib.consts.SMPP_ENCODING_*)."""
    parsed = smpplib.smpp.parse_pdu(frame, client=_SmpplibClient())
    coding = parsed.data_coding
    if coding & 0xF0 == 0x10:  # GSM 03.38 with a message class: the alphabet in bits 3-2
        coding = {0: smpplib.consts.SMPP_ENCODING_DEFAULT,
                  2: smpplib.consts.SMPP_ENCODING_ISO10646}[(coding >> 2) & 3]
    codec = {smpplib.consts.SMPP_ENCODING_DEFAULT: "gsm0338",
             smpplib.consts.SMPP_ENCODING_IA5: "ascii",
             smpplib.consts.SMPP_ENCODING_ISO88591: "latin-1",
             smpplib.consts.SMPP_ENCODING_ISO10646: "utf-16-be"}[coding]
    return str(find_codec_info(codec).decode(parsed.short_message)[0])


@pytest.mark.parametrize("coding, text, data_coding, subunit", [
    pytest.param(Gsm7Coding.SMSC_DEFAULT, "Your flight leaves at 9", 0x10, None, id="gsm7"),
    pytest.param(Gsm7Coding.SMSC_DEFAULT, "航班九点起飞", 0x18, None, id="ucs2"),
    pytest.param(Gsm7Coding.IA5, "Your flight leaves at 9", 0x01, b"\x01", id="ia5"),
    pytest.param(Gsm7Coding.LATIN1, "Départ à 9h", 0x03, b"\x01", id="latin1"),
])
def test_a_flash_template_sends_class_0(
    coding: Gsm7Coding, text: str, data_coding: int, subunit: bytes | None,
) -> None:
    """Class 0 in data_coding (GSM 03.38: 0x10 GSM-7, 0x18 UCS-2), else dest_addr_subunit 1
    (the phone's display) for SMPP's own IA5 and Latin-1 codings, which have no class bits."""
    builder = MessageBuilder(
        {"": TemplateSpec(category=Category.NOTIFICATION, body=text, flash=True)},
        SourceAddress(address="Herald"), gsm7_coding=coding)
    [pdu] = builder.build("+8613800000000", {})
    assert pdu.data_coding == data_coding
    assert pdu.tlvs.get(Tag.DEST_ADDR_SUBUNIT) == subunit
    assert smpplib_text(pdu.encode()) == text  # aiosmpplib knows no class bits


# -- The numbers both codecs hold ---------------------------------------------------------

@pytest.mark.parametrize("herald, oracle", [
    pytest.param({c.name: int(c) for c in CommandId},
                 {c.name: int(c) for c in aio_state.SmppCommand}, id="command_id"),
    pytest.param({s.name: int(s) for s in CommandStatus},
                 {s.name: int(s) for s in aio_state.SmppCommandStatus}, id="command_status"),
    pytest.param({t.name: int(t) for t in Tag},
                 {t.name: getattr(aio_state, t.name) for t in Tag}, id="tlv-tags"),
    pytest.param(dict(INT_TLV_SIZES),
                 {tag: aio_state.OptionalParam(tag, 0).length for tag in INT_TLV_SIZES},
                 id="integer-tlv-sizes"),
    pytest.param(TON_CODES, [int(t) for t in aio_state.TON], id="ton"),
    pytest.param(NPI_CODES, [int(n) for n in aio_state.NPI], id="npi"),
])  # fmt: skip
def test_codes_agree_with_aiosmpplib(herald: object, oracle: object) -> None:
    assert herald == oracle
