"""SMPP 3.4 numbers: command ids, command statuses, TLV tags, message states, flags.

Names are the specification's (ESME_RTHROTTLED, ...), so logs and configs read like the spec.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final

HEADER: Final = struct.Struct("!IIII")
HEADER_LENGTH: Final = 16
MAX_PDU_LENGTH: Final = 70_000
"""Longest frame accepted: message_payload may carry up to 64 KiB."""
INTERFACE_VERSION: Final = 0x34
NUL: Final = b"\x00"

ESM_DELIVERY_RECEIPT: Final = 0x04
"""esm_class message type of an SMSC delivery receipt (deliver_sm)."""
ESM_UDHI: Final = 0x40
"""esm_class flag: short_message starts with a user data header."""
REGISTERED_DELIVERY_MASK: Final = 0x03
"""registered_delivery bits that ask for an SMSC receipt: 1 always, 2 on failure only."""


class CommandId(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


RESPONSE_BIT: Final = 0x80000000
"""Set in the command_id of every response."""


class CommandStatus(IntEnum):
    """command_status values of SMPP 3.4 section 5.1.3."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


class Tag(IntEnum):
    """Optional parameter (TLV) tags of SMPP 3.4 section 5.3.2 that Herald uses."""

    DEST_ADDR_SUBUNIT = 0x0005  # 1 octet: 1 is the phone's display (a flash message)
    RECEIPTED_MESSAGE_ID = 0x001E  # C-octet string
    USER_MESSAGE_REFERENCE = 0x0204  # 2 octets
    SOURCE_PORT = 0x020A  # 2 octets
    DESTINATION_PORT = 0x020B  # 2 octets
    SAR_MSG_REF_NUM = 0x020C  # 2 octets
    SAR_TOTAL_SEGMENTS = 0x020E  # 1 octet
    SAR_SEGMENT_SEQNUM = 0x020F  # 1 octet
    SC_INTERFACE_VERSION = 0x0210  # 1 octet
    NETWORK_ERROR_CODE = 0x0423  # 3 octets: network type, error code (2)
    MESSAGE_PAYLOAD = 0x0424  # octets
    MORE_MESSAGES_TO_SEND = 0x0426  # 1 octet
    MESSAGE_STATE = 0x0427  # 1 octet


INT_TLV_SIZES: Final[dict[int, int]] = {
    Tag.DEST_ADDR_SUBUNIT: 1, Tag.USER_MESSAGE_REFERENCE: 2, Tag.SOURCE_PORT: 2,
    Tag.DESTINATION_PORT: 2, Tag.SAR_MSG_REF_NUM: 2, Tag.SAR_TOTAL_SEGMENTS: 1,
    Tag.SAR_SEGMENT_SEQNUM: 1,
    Tag.SC_INTERFACE_VERSION: 1, Tag.MORE_MESSAGES_TO_SEND: 1, Tag.MESSAGE_STATE: 1,
}  # fmt: skip
"""Byte size of the integer-valued tags above."""


class MessageState(IntEnum):
    """message_state TLV values (section 5.2.28) and the stat: word of a receipt's text."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


RECEIPT_STAT: Final[dict[MessageState, str]] = {
    MessageState.ENROUTE: "ENROUTE", MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED", MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV", MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN", MessageState.REJECTED: "REJECTD",
}  # fmt: skip


class PduError(ValueError):
    """A frame that cannot be decoded; `status` is what to answer it with (generic_nack)."""

    def __init__(self, message: str, status: CommandStatus, sequence_number: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.sequence_number = sequence_number
