"""Opt-outs that hold: a reply's source read as the E.164 number the campaign sent to
(whatever TON and format the SMSC writes it in), opting back in where the Channel allows
it, every change logged, and senders that honour a campaign's respectOptOuts."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from herald.local.kube.client import wait_for
from sender.receive.receiver import ChannelReceiver
from sender.simulator.server import Simulator
from sender.sms.replies import ReplyKind, ReplyRules, mo_number, read_reply
from sender.store.channel_activity import read_activity
from sender.store.keys import OPT_OUT_SET
from sender.store.opt_outs import opt_out_record
from sender.store.transitions import read_counters
from tests.test_channel_receiver import receiver_bind, running, slow_receipts  # noqa: F401
from tests.test_shard_sender import CAMPAIGN, CHANNEL, enqueue, number, send, simulator  # noqa: F401

INTERNATIONAL, NATIONAL, UNKNOWN = 1, 2, 0


# Each row: source_addr as the SMSC writes it, its TON, the channel's region, the number.
@pytest.mark.parametrize("source, ton, region, expected", [
    pytest.param("8613800138000", INTERNATIONAL, "", "+8613800138000", id="international"),
    pytest.param("+8613800138000", UNKNOWN, "", "+8613800138000", id="plus"),
    pytest.param("008613800138000", UNKNOWN, "CN", "+8613800138000", id="double-zero"),
    pytest.param("13800138000", NATIONAL, "CN", "+8613800138000", id="national-cn"),
    pytest.param("13800138000", UNKNOWN, "CN", "+8613800138000", id="unknown-ton-national"),
    pytest.param("8613800138000", UNKNOWN, "CN", "+8613800138000", id="unknown-ton-cc"),
    pytest.param("07700900123", NATIONAL, "GB", "+447700900123", id="national-gb-trunk-0"),
    pytest.param("138 0013 8000", NATIONAL, "CN", "+8613800138000", id="spaces"),
    pytest.param("4155550100", UNKNOWN, "US", "+14155550100", id="national-us"),
    pytest.param("13800138000", NATIONAL, "", None, id="national-without-region"),
    pytest.param("8613800138000", UNKNOWN, "", "+8613800138000", id="unknown-without-region"),
    pytest.param("HERALD", 5, "CN", None, id="alphanumeric"),
    pytest.param("", UNKNOWN, "CN", None, id="empty"),
])
def test_a_reply_source_reads_as_e164(source: str, ton: int, region: str,
                                      expected: str | None) -> None:
    assert mo_number(source, ton, region) == expected


CN_START = ReplyRules.of("CN", ["START", "订阅"])


@pytest.mark.parametrize("text, rules, kind", [
    pytest.param("退订", ReplyRules(), ReplyKind.OPT_OUT, id="td-chinese"),
    pytest.param(" ＳＴＯＰ！", ReplyRules(), ReplyKind.OPT_OUT, id="stop-full-width"),
    pytest.param("start", CN_START, ReplyKind.OPT_IN, id="start-allowed"),
    pytest.param("订阅", CN_START, ReplyKind.OPT_IN, id="chinese-opt-in"),
    pytest.param("START", ReplyRules(), ReplyKind.OTHER, id="start-not-allowed"),
    pytest.param("thanks, stop by later", CN_START, ReplyKind.OTHER, id="not-a-keyword"),
])
def test_replies_are_classified(text: str, rules: ReplyRules, kind: ReplyKind) -> None:
    assert read_reply("8613800138000", INTERNATIONAL, text, rules).kind == kind


async def test_national_stop_and_start_reach_the_number_sent_to(
    redis: aioredis.Redis, slow_receipts: Simulator,  # noqa: F811
) -> None:
    """The receiver, with the channel's defaultRegion and opt-in keywords."""
    receiver = ChannelReceiver(redis, CHANNEL, receiver_bind(slow_receipts), replies=CN_START)
    async with running(receiver):
        await wait_for(lambda: read_activity(redis, CHANNEL, time.time()), timeout=10,
                       until=lambda a: a.receiver_bound == 1, message="receiver never bound")
        slow_receipts.inject_mo("13800000005", "Herald", "退订", source_ton=NATIONAL)
        slow_receipts.inject_mo("13800000006", "Herald", "STOP", source_ton=NATIONAL)
        await wait_for(lambda: redis.smembers(OPT_OUT_SET), timeout=10,
                       until=lambda s: s == {number(5), number(6)},
                       message="national-format opt-outs never matched the E.164 numbers")
        slow_receipts.inject_mo("8613800000006", "Herald", "start")
        await wait_for(lambda: redis.smembers(OPT_OUT_SET), timeout=10,
                       until=lambda s: s == {number(5)}, message="START never opted back in")
    out, log = await opt_out_record(redis, number(5))
    assert out and log is not None
    word, at, channel, keyword = log.split(" ")
    assert (word, channel, keyword) == ("out", CHANNEL.ref, "退订")
    assert abs(float(at) - time.time()) < 60
    back, log6 = await opt_out_record(redis, number(6))
    assert not back and log6 is not None and log6.startswith("in ")
    assert receiver.stats.opt_outs == 2 and receiver.stats.opt_ins == 1


async def test_start_without_opt_in_keywords_changes_nothing(
    redis: aioredis.Redis, slow_receipts: Simulator,  # noqa: F811
) -> None:
    await redis.sadd(OPT_OUT_SET, number(7))
    receiver = ChannelReceiver(redis, CHANNEL, receiver_bind(slow_receipts))
    async with running(receiver):
        slow_receipts.inject_mo("8613800000007", "Herald", "START")
        await wait_for(lambda: read_activity(redis, CHANNEL, time.time()), timeout=10,
                       until=lambda a: a.totals.get("replies") == 1, message="no reply seen")
    assert await redis.sismember(OPT_OUT_SET, number(7))


@pytest.mark.parametrize("respect, sent", [
    pytest.param(True, 9, id="respected"),
    pytest.param(False, 10, id="verification-ignores-them"),
])
async def test_senders_honour_respect_opt_outs(
    redis: aioredis.Redis, simulator: Simulator, respect: bool, sent: int,  # noqa: F811
) -> None:
    """A number opted out after the import: skipped at send time, unless the campaign
    (a Verification one) does not respect opt-outs."""
    await enqueue(redis, 10)
    await redis.sadd(OPT_OUT_SET, number(3))
    await send(redis, simulator, respect_opt_outs=respect)
    assert len(simulator.accepted) == sent
    counters = await read_counters(redis, CAMPAIGN)
    assert counters.opted_out == 10 - sent
    # status.channels[] too: else the channel's queued (total less the rest) never empties
    by_channel = await redis.hget(CAMPAIGN.counters, "channel:carrier-a:optedOut")
    assert int(by_channel or 0) == 10 - sent
