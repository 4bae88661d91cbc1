"""Delivery receipts, read from deliver_sm (replies: sender.sms.replies).

Receipts carry the SMSC's message id in the receipted_message_id TLV, in the text
(`id:... stat:DELIVRD err:000 ...`), or both; carriers disagree on whether it is the
hex or decimal form of the id their submit_sm_resp gave, so matching tries both.
Pure functions; the receiver does the I/O.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from sender.sms.states import State

# SMPP 3.4 section 5.2.28, message_state TLV values.
MESSAGE_STATE_TLV = {
    1: None,  # ENROUTE: not final
    2: State.DELIVERED,
    3: State.EXPIRED,
    4: State.FAILED,  # DELETED
    5: State.FAILED,  # UNDELIVERABLE
    6: None,  # ACCEPTED: not final
    7: None,  # UNKNOWN
    8: State.FAILED,  # REJECTED
}
# The stat: field of the receipt text (SMPP 3.4 appendix B).
STAT_TEXT = {
    "DELIVRD": State.DELIVERED,
    "EXPIRED": State.EXPIRED,
    "DELETED": State.FAILED,
    "UNDELIV": State.FAILED,
    "REJECTD": State.FAILED,
    "ACCEPTD": None,
    "ENROUTE": None,
    "UNKNOWN": None,
}
_FIELD = re.compile(r"(\w+(?: \w+)?):(\S*)")
_HEX = re.compile(r"[0-9a-fA-F]+")



class Receipt(NamedTuple):
    """What a receipt says about one message (a named tuple: one is read for every
    message sent, and a frozen dataclass took 0.63 us to build, this 0.39)."""

    smsc_id: str
    state: State | None
    """DELIVERED, EXPIRED or FAILED; None for an intermediate receipt (ENROUTE...)."""
    error: str
    """The err: field, e.g. "000", or "" when absent."""


def parse_receipt(text: str, receipted_id: str | None, message_state: int | None) -> Receipt | None:
    """The receipt in a deliver_sm (esm_class says it is one), or None if it names no id."""
    if receipted_id and message_state in MESSAGE_STATE_TLV:
        state = MESSAGE_STATE_TLV[message_state]
        if state is not State.FAILED and state is not State.EXPIRED:
            # The TLVs say all a delivered (or intermediate) receipt needs: skip the text.
            return Receipt(receipted_id.strip(), state, "")  # positional: 0.1 us less
    fields = {key.lower(): value for key, value in _FIELD.findall(text)}
    smsc_id = (receipted_id or fields.get("id", "")).strip()
    if not smsc_id:
        return None
    if message_state is not None and message_state in MESSAGE_STATE_TLV:
        state = MESSAGE_STATE_TLV[message_state]
    else:
        state = STAT_TEXT.get(fields.get("stat", "").upper())
    return Receipt(smsc_id=smsc_id, state=state, error=fields.get("err", ""))


_TLV_ONLY: Final = {code: state for code, state in MESSAGE_STATE_TLV.items()
                    if state is not State.FAILED and state is not State.EXPIRED}
"""message_state values whose receipt the TLVs say all of (no error code to read)."""
_RECEIPTED_MESSAGE_ID: Final = 0x001E  # Tag's values, as plain ints: an enum's cost
_MESSAGE_STATE: Final = 0x0427  # to look up is 0.05 us a time
_HEX_DIGITS: Final = "0123456789abcdef"


def read_receipt(short_message: bytes, tlvs: dict[int, bytes]) -> Receipt | None:
    """parse_receipt of a receipt's short_message and TLVs (receipted_message_id,
    message_state), as a sender reads one for every message: when the TLVs say all
    (a delivered or intermediate one) the text is not decoded. The same Receipt, or
    None, as parse_receipt given the text in latin-1 and those TLVs read as
    sender.smpp.pdu.tlv_str and tlv_int read them (tests/test_receipts.py)."""
    raw_id, raw_state = tlvs.get(_RECEIPTED_MESSAGE_ID), tlvs.get(_MESSAGE_STATE)
    receipted_id = None if raw_id is None else raw_id.rstrip(b"\0").decode("latin-1")
    message_state = None if raw_state is None else int.from_bytes(raw_state, "big")
    if receipted_id and message_state in _TLV_ONLY:
        return Receipt(receipted_id.strip(), _TLV_ONLY[message_state], "")
    return parse_receipt(short_message.decode("latin-1"), receipted_id, message_state)


def canonical_id(smsc_id: str) -> str:
    """The form under which an id is recorded and looked up: lower case, and for ids
    made of hex digits (decimal ids are too) no leading zeros."""
    text = smsc_id.strip().lower()
    # All hex digits: nothing left once they are stripped (0.1 us, the regex's 0.25).
    if text and not text.strip(_HEX_DIGITS):
        return text.lstrip("0") or "0"
    return text


def id_forms(smsc_id: str) -> list[str]:
    """Canonical forms a receipt's id may have been recorded under, most likely first.

    A receipt may give the decimal form of an id the submit_sm_resp gave in hex, or
    the other way round.
    """
    raw = smsc_id.strip()
    forms = [canonical_id(raw)]
    if raw.isdigit():
        forms.append(canonical_id(format(int(raw), "x")))
    if _HEX.fullmatch(raw):
        forms.append(canonical_id(str(int(raw, 16))))
    return list(dict.fromkeys(forms))
