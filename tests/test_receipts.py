"""Receipts and replies: ids in TLV or text, hex or decimal, final states, opt-out words."""

from __future__ import annotations

import pytest

from sender.sms.receipts import canonical_id, id_forms, parse_receipt
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
