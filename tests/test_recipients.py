"""Numbers to E.164 with reasons, masking for logs, stable shards."""

from __future__ import annotations

import pytest

from sender.sms.numbers import DropReason, mask_number, normalize_number, shard_of


@pytest.mark.parametrize("raw, region, result", [
    pytest.param("+8613800138000", "", "+8613800138000", id="e164-mobile-cn"),
    pytest.param("13900139000", "CN", "+8613900139000", id="national-with-region"),
    pytest.param(" +86 139-0013-9000 ", "", "+8613900139000", id="spaces-and-dashes"),
    pytest.param("+14155550123", "", "+14155550123", id="us-fixed-or-mobile"),
    pytest.param("", "CN", DropReason.MISSING_NUMBER, id="empty"),
    pytest.param("call me", "CN", DropReason.UNPARSABLE_NUMBER, id="text"),
    pytest.param("13900139000", "", DropReason.UNPARSABLE_NUMBER, id="national-without-region"),
    pytest.param("12345", "CN", DropReason.INVALID_NUMBER, id="too-short"),
    pytest.param("+861065529988", "", DropReason.NOT_MOBILE, id="beijing-landline"),
    pytest.param("+442071838750", "", DropReason.NOT_MOBILE, id="london-landline"),
    # What people's files hold.
    pytest.param("１３８００１３８０００", "CN", "+8613800138000", id="full-width-digits"),
    pytest.param("＋８６ １３８-００１３-８０００", "", "+8613800138000", id="full-width-plus"),
    pytest.param("１３８\u00a0００１３\u3000８０００", "CN", "+8613800138000",
                 id="no-break-and-ideographic-spaces"),
    pytest.param("0086 138 0013 8000", "CN", "+8613800138000", id="0086"),
    pytest.param("0086-13800138000", "CN", "+8613800138000", id="0086-dash"),
    pytest.param("86 13800138000", "CN", "+8613800138000", id="86-without-plus"),
    pytest.param("8613800138000", "CN", "+8613800138000", id="86-run-together"),
    pytest.param("+86 (138) 0013.8000", "", "+8613800138000", id="brackets-and-dots"),
    pytest.param("\ufeff13800138000\r", "CN", "+8613800138000", id="bom-and-cr"),
    pytest.param("13800138000.0", "CN", "+8613800138000", id="excel-float-as-text"),
    pytest.param("8613800138000.00", "CN", "+8613800138000", id="excel-float-86"),
    pytest.param("1.38E+10", "CN", DropReason.SCIENTIFIC_NOTATION, id="excel-scientific"),
    pytest.param("8.6138E12", "CN", DropReason.SCIENTIFIC_NOTATION, id="scientific-no-plus"),
    pytest.param("13800138000.5", "CN", DropReason.INVALID_NUMBER, id="a-real-fraction"),
    pytest.param("010-65529988", "CN", DropReason.NOT_MOBILE, id="beijing-landline-national"),
    pytest.param("(021) 6234 5678", "CN", DropReason.NOT_MOBILE, id="shanghai-landline"),
    pytest.param("400-810-8888", "CN", DropReason.NOT_MOBILE, id="400-hotline"),
    pytest.param("13800138000/13900139000", "CN", DropReason.UNPARSABLE_NUMBER,
                 id="two-numbers-in-a-cell"),
])
def test_normalize_number(raw: str, region: str, result: str | DropReason) -> None:
    assert normalize_number(raw, region) == result


@pytest.mark.parametrize("number, masked", [
    pytest.param("+8613800138000", "+86*******8000", id="cn"),
    pytest.param("+14155550123", "+14*****0123", id="us"),
    pytest.param("10086", "*****", id="short-code-hidden"),
])
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


def test_shards_are_stable_and_spread() -> None:
    numbers = [f"+86138{i:08d}" for i in range(4000)]
    shards = [shard_of(n, 4) for n in numbers]
    assert shards == [shard_of(n, 4) for n in numbers]
    # Known values pin the hash: a change would move every queued number.
    assert shards[:6] == [0, 0, 0, 2, 0, 1]
    counts = [shards.count(i) for i in range(4)]
    assert min(counts) > 800, counts
