"""Receipts and replies: ids in TLV or text, hex or decimal, final states, opt-out words."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from sender.smpp.codes import Tag
from sender.smpp.pdu import tlv_int, tlv_str
from sender.sms.receipts import (
    _MESSAGE_STATE,
    _RECEIPTED_MESSAGE_ID,
    canonical_id,
    id_forms,
    parse_receipt,
    read_receipt,
)
from sender.sms.replies import is_opt_out
from sender.sms.states import State

TEXT = ("id:{id} sub:001 dlvrd:001 submit date:2611231200 done date:2611231201"
        " stat:{stat} err:{err} text:Hello")


@pytest.mark.parametrize("text, tlv_id, tlv_state, smsc_id, state, error", [
    pytest.param(TEXT.format(id="5f3a9c0e", stat="DELIVRD", err="000"), None, None,
                 "5f3a9c0e", State.DELIVERED, "000", id="text-only-delivered"),
    pytest.param(TEXT.format(id="1597676558", stat="UNDELIV", err="001"), None, None,
                 "1597676558", State.FAILED, "001", id="text-only-undeliverable"),
    pytest.param(TEXT.format(id="x", stat="DELIVRD", err="000"), "5F3A9C0E", 3,
                 "5F3A9C0E", State.EXPIRED, "000", id="tlv-wins-over-text"),
    pytest.param(TEXT.format(id="77", stat="ENROUTE", err="000"), None, None,
                 "77", None, "000", id="intermediate"),
    pytest.param("stat:REJECTD err:069", "a1", None, "a1", State.FAILED, "069",
                 id="rejected-tlv-id"),
])
def test_parse_receipt(text: str, tlv_id: str | None, tlv_state: int | None, smsc_id: str,
                       state: State | None, error: str) -> None:
    receipt = parse_receipt(text, tlv_id, tlv_state)
    assert receipt is not None
    assert (receipt.smsc_id, receipt.state, receipt.error) == (smsc_id, state, error)


def test_receipt_without_any_id_is_none() -> None:
    assert parse_receipt("stat:DELIVRD", None, None) is None


@pytest.mark.parametrize("recorded, reported", [
    pytest.param("5f3a9c0e", "1597676558", id="hex-recorded-decimal-reported"),
    pytest.param("1597676558", "5F3A9C0E", id="decimal-recorded-hex-reported"),
    pytest.param("00ab12", "AB12", id="leading-zeros-and-case"),
    pytest.param("abc-123", "ABC-123", id="opaque-id-case"),
])
def test_receipt_id_forms_find_the_recorded_id(recorded: str, reported: str) -> None:
    assert canonical_id(recorded) in id_forms(reported)


@pytest.mark.parametrize("text, opt_out", [
    ("TD", True), ("td", True), ("Ｔ Ｄ".replace(" ", ""), True), ("T", True), ("退订", True),
    ("退订。", True), (" STOP ", True), ("Stop!", True), ("UNSUBSCRIBE", True),
    ("cancel", True), ("END", True), ("quit", True),
    ("stop sending me ads", False), ("Thanks", False), ("TDX", False), ("", False),
])
def test_opt_out_keywords(text: str, opt_out: bool) -> None:
    assert is_opt_out(text) is opt_out


def _fuzzed_id(chance: random.Random) -> str:
    alphabet = "0123456789abcdefABCDEF-xX _\t\nİK\u212aﬀ~"
    return "".join(chance.choice(alphabet) for _ in range(chance.randint(0, 10)))


def test_canonical_id_is_the_regex_form() -> None:
    """canonical_id finds hex ids by stripping hex digits (a regex before): the same form
    for every id, whatever its case, whitespace, dashes or non-ASCII letters."""
    hex_id = re.compile(r"[0-9a-fA-F]+")

    def by_regex(smsc_id: str) -> str:
        text = smsc_id.strip().lower()
        return (text.lstrip("0") or "0") if hex_id.fullmatch(text) else text

    chance = random.Random(7)
    ids = ["", " ", "0", "000", "0000abcd", "ABCDEF", " 1a2b ", "abc-123", "12 34", "\u212a",
           "İ0", "00g", *(_fuzzed_id(chance) for _ in range(5000))]
    for smsc_id in ids:
        assert canonical_id(smsc_id) == by_regex(smsc_id), repr(smsc_id)


def test_a_receipt_read_from_its_tlvs_is_the_parsed_one() -> None:
    """read_receipt (the TLVs' fast path) against parse_receipt given the text and the
    TLVs as tlv_str and tlv_int read them: the same Receipt or None, for every pairing of
    ids (padded, blank, absent), message_state values (every one, absent, two octets)
    and texts (with and without an id, a stat, an err)."""
    assert (_RECEIPTED_MESSAGE_ID, _MESSAGE_STATE) == (Tag.RECEIPTED_MESSAGE_ID,
                                                       Tag.MESSAGE_STATE)
    ids = [None, b"", b"\x00", b"1a2b\x00", b"1a2b", b" 1a2b \x00", b"  \x00", b"00ff\x00\x00",
           b"\xe9t\xe9\x00"]
    states = [None, b"", *(bytes((value,)) for value in range(10)), b"\x00\x02", b"\x01\x02"]
    texts = [b"", TEXT.format(id="5f3a9c0e", stat="DELIVRD", err="000").encode(),
             TEXT.format(id="77", stat="UNDELIV", err="012").encode(), b"stat:EXPIRED",
             b"id: stat:REJECTD err:069", b"\xe9 id:\xe9 stat:DELIVRD"]
    seen = set()
    for raw_id, raw_state, text in itertools.product(ids, states, texts):
        tlvs = {tag: value for tag, value in ((Tag.RECEIPTED_MESSAGE_ID, raw_id),
                                              (Tag.MESSAGE_STATE, raw_state), (0x0423, b"\x03"))
                if value is not None}
        expected = parse_receipt(text.decode("latin-1"), tlv_str(tlvs, Tag.RECEIPTED_MESSAGE_ID),
                                 tlv_int(tlvs, Tag.MESSAGE_STATE))
        assert read_receipt(text, tlvs) == expected, (raw_id, raw_state, text)
        seen.add(None if expected is None else expected.state)
    assert seen == {None, State.DELIVERED, State.EXPIRED, State.FAILED}
