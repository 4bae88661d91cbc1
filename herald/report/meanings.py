"""What an error code in status.topErrors means, in words for the report's readers.

A code is one of: an SMPP command_status the SMSC answered a submit_sm with, in hex
(0x0000000B, sender.smpp.errors.status_code); the err: field of a delivery receipt that
said undeliverable or rejected (three digits, carrier-specific, though most SMSCs pass
the GSM MAP error on: 001 is an unknown subscriber); or one of Herald's own details for
a message that never reached the SMSC.
"""

from __future__ import annotations

from sender.smpp.codes import CommandStatus
from sender.sms.states import NO_SEND_TIME, RENDER_FAILED

S = CommandStatus
SMPP_MEANINGS: dict[int, str] = {
    S.ESME_RINVMSGLEN: "message length invalid: the SMSC refused its length",
    S.ESME_RINVCMDLEN: "command length invalid: a malformed PDU",
    S.ESME_RINVCMDID: "command not supported by the SMSC",
    S.ESME_RINVBNDSTS: "wrong bind state for the command (retried as temporary)",
    S.ESME_RALYBND: "the ESME is already bound",
    S.ESME_RINVREGDLVFLG: "invalid registered_delivery flag",
    S.ESME_RSYSERR: "the SMSC had a system error (retried as temporary)",
    S.ESME_RINVSRCADR: "invalid source address: the sender ID is malformed or not allowed"
                       " on this account",
    S.ESME_RINVDSTADR: "invalid destination address: the number is malformed or the SMSC"
                       " does not serve it",
    S.ESME_RINVMSGID: "invalid message id",
    S.ESME_RBINDFAIL: "the bind failed",
    S.ESME_RINVPASWD: "invalid password",
    S.ESME_RINVSYSID: "invalid system_id",
    S.ESME_RMSGQFUL: "the SMSC's queue is full: throttled, slowed down and resent",
    S.ESME_RINVSERTYP: "invalid service_type",
    S.ESME_RINVESMCLASS: "invalid esm_class (message mode or type)",
    S.ESME_RSUBMITFAIL: "submit_sm failed at the SMSC (retried as temporary)",
    S.ESME_RINVSRCTON: "invalid type of number of the source address",
    S.ESME_RINVSRCNPI: "invalid numbering plan of the source address",
    S.ESME_RINVDSTTON: "invalid type of number of the destination",
    S.ESME_RINVDSTNPI: "invalid numbering plan of the destination",
    S.ESME_RINVSYSTYP: "invalid system_type",
    S.ESME_RTHROTTLED: "throttled: over the carrier's rate, slowed down and resent",
    S.ESME_RINVSCHED: "invalid scheduled delivery time",
    S.ESME_RINVEXPIRY: "invalid validity period (expiry time)",
    S.ESME_RX_T_APPN: "the SMSC's application refused it for now (retried as temporary)",
    S.ESME_RX_P_APPN: "the SMSC's application refused it for good: often a barred number"
                      " or content the carrier blocks",
    S.ESME_RX_R_APPN: "the SMSC's application rejected it",
    S.ESME_RINVOPTPARSTREAM: "malformed optional parameters (TLVs)",
    S.ESME_ROPTPARNOTALLWD: "an optional parameter the SMSC does not allow",
    S.ESME_RINVPARLEN: "an optional parameter of invalid length",
    S.ESME_RMISSINGOPTPARAM: "a required optional parameter is missing",
    S.ESME_RINVOPTPARAMVAL: "an optional parameter of invalid value",
    S.ESME_RDELIVERYFAILURE: "delivery failure",
    S.ESME_RUNKNOWNERR: "unknown error at the SMSC",
}

GSM_MAP_MEANINGS: dict[int, str] = {
    0: "no error given",
    1: "unknown subscriber: the number does not exist",
    5: "unidentified subscriber",
    6: "absent subscriber: the phone is off or out of coverage",
    9: "illegal subscriber",
    11: "teleservice not provisioned: the subscription takes no SMS",
    12: "illegal equipment",
    13: "call barred: the subscriber or operator bars the message",
    21: "facility not supported",
    27: "absent subscriber: the phone is off or out of coverage",
    31: "subscriber busy for incoming SMS",
    32: "SM delivery failure: e.g. the phone's memory is full",
    33: "message waiting list full",
    34: "system failure in the network",
    35: "data missing",
    36: "unexpected data value",
}

HERALD_MEANINGS = {
    "receipt": "a receipt said undeliverable or rejected, with no error code",
    RENDER_FAILED: "never sent: the template could not be rendered for the recipient",
    NO_SEND_TIME: "never sent: the recipient's send window never opens",
}


def error_meaning(code: str) -> str:
    """The meaning of a topErrors code in words; "" when it is not one Herald knows."""
    if code in HERALD_MEANINGS:
        return HERALD_MEANINGS[code]
    if code.lower().startswith("0x"):
        try:
            status = int(code, 16)
        except ValueError:
            return ""
        if status in SMPP_MEANINGS:
            return SMPP_MEANINGS[status]
        if 0x400 <= status <= 0x4FF:
            return "vendor-specific: the carrier's documentation says what it means"
        return "reserved SMPP code: the carrier's documentation says what it means"
    if code.isdigit():
        known = GSM_MAP_MEANINGS.get(int(code))
        if known is None:
            return "the carrier's own receipt error code"
        return f"receipt error; as a GSM MAP error (most carriers pass it on): {known}"
    return ""
