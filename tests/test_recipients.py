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
