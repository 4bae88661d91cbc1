"""Keyword replies: HELP, the opt-out and opt-in confirmations, custom keywords and their
labels. The pure matching by table; the rest with a real redis-server and the SMPP
simulator over TCP: an MO injected into the simulator comes to a bind of the channel, the
channel receiver answers it, and the simulator's records of accepted submits are the
judge of what was sent, from which address, to whom."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.campaign_run import receiver_binds
from controllers.decisions.pod_spec import PodSettings
from controllers.decisions.receiver_deployment import build_receiver_deployment, reply_target
from crds.channel import ChannelSpec, CustomKeyword, Gsm7Coding, HelpReply, KeywordReplies
from crds.channel import SourceAddress as Source
from herald.local.kube.client import wait_for
from herald.local.redis_topologies import RedisCluster
from sender.receive.answers import answer_pdus
from sender.receive.process import load_settings
from sender.receive.receiver import ChannelReceiver
from sender.run_config import ReplyTarget
from sender.send.messages import MessageBuilder
from sender.send.outgoing import ShardSettings
from sender.send.shard_sender import ShardSender
from sender.simulator.config import SimulatorConfig
from sender.simulator.records import AcceptedMessage
from sender.simulator.server import Simulator
from sender.smpp.bind import BindSettings
from sender.smpp.codes import ESM_UDHI, CommandStatus
from sender.sms.replies import (
    Answer,
    KeywordAnswers,
    ReplyKind,
    ReplyRules,
    keyword_collisions,
    read_reply,
)
from sender.store.channel_activity import read_activity
from sender.store.client import connect
from sender.store.keys import OPT_OUT_CONFIRM, OPT_OUT_SET, RECEIVER_GROUP, labelled, labels
from sender.store.keyword_replies import (
    REPLY_MAX_AGE_SECONDS,
    Address,
    ReplyQueue,
    ReplyRequest,
    add_requests,
    number_labels,
)
from sender.store.rate_limit import RateLimiter, channel_bucket
from tests.crd_validation import load_example
from tests.test_shard_sender import CAMPAIGN, CHANNEL, TEMPLATE, number

SHORT_CODE = "10690001"
"""The address the subscribers write to; the answers must come from it."""
HELP_TEXT = "Acme alerts: msg&data rates may apply. Reply STOP to opt out."
STOP_TEXT = "Acme: you are unsubscribed and will get no more messages."
START_TEXT = "Acme: welcome back. Reply STOP to opt out."
JOIN_TEXT = "Welcome to Acme VIP."
REPLIES = KeywordReplies(
    help=HelpReply(keywords=["HELP", "帮助", "INFO"], reply=HELP_TEXT),
    opt_out_reply=STOP_TEXT, opt_in_reply=START_TEXT,
    custom=[CustomKeyword(keyword="JOIN", reply=JOIN_TEXT, label="vip"),
            CustomKeyword(keyword="QUOTE", reply="Today's quote: 42")])
RULES = ReplyRules.of("CN", ["START", "UNSTOP"], answered=True)
ANSWERS = KeywordAnswers.of(REPLIES)


# -- the pure part ------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, answer", [
    pytest.param("HELP", ReplyKind.OTHER, Answer(HELP_TEXT), id="help"),
    pytest.param(" help! ", ReplyKind.OTHER, Answer(HELP_TEXT), id="help-case-punctuation"),
    pytest.param("ＨＥＬＰ", ReplyKind.OTHER, Answer(HELP_TEXT), id="help-full-width"),
    pytest.param("帮助", ReplyKind.OTHER, Answer(HELP_TEXT), id="help-chinese"),
    pytest.param("帮助。", ReplyKind.OTHER, Answer(HELP_TEXT), id="help-chinese-full-stop"),
    pytest.param("info", ReplyKind.OTHER, Answer(HELP_TEXT), id="info"),
    pytest.param("Join", ReplyKind.OTHER, Answer(JOIN_TEXT, "vip"), id="custom-with-label"),
    pytest.param("quote", ReplyKind.OTHER, Answer("Today's quote: 42"), id="custom-no-label"),
    pytest.param("STOP", ReplyKind.OPT_OUT, Answer(STOP_TEXT), id="stop"),
    pytest.param("退订", ReplyKind.OPT_OUT, Answer(STOP_TEXT), id="td-chinese"),
    pytest.param("unstop", ReplyKind.OPT_IN, Answer(START_TEXT), id="unstop"),
    pytest.param("Start", ReplyKind.OPT_IN, Answer(START_TEXT), id="start"),
    pytest.param("help me please", ReplyKind.OTHER, None, id="sentence-is-no-keyword"),
    pytest.param("thanks", ReplyKind.OTHER, None, id="chatter"),
    pytest.param("x" * 40, ReplyKind.OTHER, None, id="too-long-to-be-a-keyword"),
])
def test_keyword_matching(text: str, kind: ReplyKind, answer: Answer | None) -> None:
    reply = read_reply("8613800000001", 1, text, RULES)
    assert reply.kind == kind
    assert ANSWERS.answer(reply.kind, reply.text) == answer


@pytest.mark.parametrize("replies, opt_in, answer", [
    pytest.param(None, [], None, id="none-configured"),
    pytest.param(KeywordReplies(help=HelpReply(reply="h")), [], None, id="no-stop-reply"),
])
def test_no_answer_without_its_text(replies: KeywordReplies | None, opt_in: list[str],
                                    answer: Answer | None) -> None:
    answers = KeywordAnswers.of(replies)
    assert answers.answer(ReplyKind.OPT_OUT, "stop") == answer
    assert answers.answer(ReplyKind.OPT_IN, "start") is None
    assert answers.answer(ReplyKind.OTHER, "join") is None


@pytest.mark.parametrize("replies, opt_in, problems", [
    pytest.param(REPLIES, ["START"], [], id="distinct"),
    pytest.param(KeywordReplies(help=HelpReply(keywords=["HELP", "ＨＥＬＰ"], reply="h")), [],
                 ["'ＨＥＬＰ' (keywordReplies.help.keywords) reads as 'HELP'"
                  " (keywordReplies.help.keywords)"], id="full-width-twice"),
    pytest.param(KeywordReplies(custom=[CustomKeyword(keyword="start!", reply="r")]), ["START"],
                 ["'start!' (keywordReplies.custom) reads as 'START' (optIn.keywords)"],
                 id="custom-and-opt-in"),
    pytest.param(KeywordReplies(custom=[CustomKeyword(keyword="ＳＴＯＰ", reply="r")]), [],
                 ["'ＳＴＯＰ' (keywordReplies.custom) reads as the opt-out keyword 'stop',"
                  " which always opts out"], id="full-width-opt-out"),
    pytest.param(KeywordReplies(custom=[CustomKeyword(keyword="!!", reply="r")]), [],
                 ["'!!' (keywordReplies.custom) is no keyword: nothing is left once case,"
                  " width and punctuation are folded"], id="folds-to-nothing"),
])
def test_keywords_that_fold_alike_are_found(replies: KeywordReplies, opt_in: list[str],
                                            problems: list[str]) -> None:
    assert keyword_collisions(replies, opt_in) == problems


def test_an_answer_goes_back_from_the_address_written_to() -> None:
    request = ReplyRequest("r", "+8613800000001", ReplyKind.OTHER, "帮助",
                           Address("8613800000001", 1, 1), Address(SHORT_CODE, 3, 0), 0.0)
    (pdu,) = answer_pdus(request, "帮助：回复TD退订", Gsm7Coding.SMSC_DEFAULT, 1)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == (SHORT_CODE, 3, 0)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == (
        "8613800000001", 1, 1)
    assert pdu.data_coding == 8 and pdu.registered_delivery == 0
    parts = answer_pdus(request, "x" * 200, Gsm7Coding.SMSC_DEFAULT, 7)
    assert len(parts) == 2 and all(p.esm_class & ESM_UDHI for p in parts)


# -- with Redis and the simulator -----------------------------------------------------

@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(port=0, seed=5)) as simulator:
        yield simulator


def target(**overrides: object) -> ReplyTarget:
    return ReplyTarget.model_validate({"replies": REPLIES, "rate": 50, "burst": 5} | overrides)


def transceiver(sim: Simulator) -> BindSettings:
    return BindSettings(host="127.0.0.1", port=sim.port, system_id="herald",
                        password="herald", mode="Transceiver", window=10, response_timeout=5.0)


def answering(redis: aioredis.Redis, sim: Simulator, **overrides: object) -> ChannelReceiver:
    return ChannelReceiver(redis, CHANNEL, transceiver(sim), replies=RULES,
                           answers=target(**overrides))


@contextlib.asynccontextmanager
async def running(receiver: ChannelReceiver) -> AsyncIterator[ChannelReceiver]:
    stop = asyncio.Event()
    task = asyncio.create_task(receiver.run(stop))
    try:
        await wait_for(lambda: receiver.bind.is_up, timeout=10, message="never bound")
        yield receiver
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def settled(receiver: ChannelReceiver, count: int) -> None:
    """Wait until `count` replies are decided: answered, or known to need no answer."""
    assert receiver.answering is not None
    stats = receiver.answering.stats

    def decided() -> int:
        return (stats.answered + stats.suppressed + stats.unanswerable + stats.failed
                + stats.unknown + stats.stale)

    await wait_for(decided, timeout=10, until=lambda n: n >= count,
                   message=f"not all {count} replies were decided: {stats}")


def answers_to(sim: Simulator, phone: str) -> list[AcceptedMessage]:
    return [m for m in sim.accepted if m.destination == phone]


def answered_metric() -> float:
    return REGISTRY.get_sample_value("herald_keyword_answers_total", {
        "channel": CHANNEL.ref, "kind": "Other", "outcome": "answered"}) or 0.0


async def test_help_is_answered_from_the_address_it_was_sent_to(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    before = answered_metric()
    async with running(answering(redis, sim)) as receiver:
        sim.inject_mo(source="8613800000001", destination=SHORT_CODE, text="HELP")
        sim.inject_mo(source="8613800000002", destination="10690002", text="帮助")
        got = await wait_for(lambda: sim.accepted, timeout=10, until=lambda a: len(a) == 2,
                             message="HELP never answered")
        await settled(receiver, 2)
    by_phone = {m.destination: m for m in got}
    first, second = by_phone["8613800000001"], by_phone["8613800000002"]
    assert (first.source, first.text) == (SHORT_CODE, HELP_TEXT)
    assert (second.source, second.text) == ("10690002", HELP_TEXT)
    assert first.registered_delivery == 0  # no receipt: nothing waits for one
    assert receiver.answering is not None
    assert receiver.answering.limiter.stats.used == 2  # the channel's tokens, one each
    assert receiver.answering.limiter.channel.key == CHANNEL.gcra  # every sender's bucket
    assert answered_metric() == before + 2
    assert await redis.xpending(CHANNEL.replies, RECEIVER_GROUP) == {
        "pending": 0, "min": None, "max": None, "consumers": []}  # acked once answered


async def test_stop_is_confirmed_once_however_often_it_comes(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    phone = "8613800000003"
    async with running(answering(redis, sim)) as receiver:
        sim.inject_mo(source=phone, destination=SHORT_CODE, text="STOP")
        await settled(receiver, 1)
        sim.inject_mo(source=phone, destination=SHORT_CODE, text="stop")
        sim.inject_mo(source=phone, destination=SHORT_CODE, text="退订")
        await settled(receiver, 3)
    (confirmation,) = answers_to(sim, phone)
    assert (confirmation.source, confirmation.text) == (SHORT_CODE, STOP_TEXT)
    assert await redis.sismember(OPT_OUT_SET, number(3))


async def test_start_is_confirmed_and_the_next_stop_again(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    phone = "8613800000004"
    async with running(answering(redis, sim)) as receiver:
        for done, text in enumerate(("STOP", "START", "STOP"), 1):
            sim.inject_mo(source=phone, destination=SHORT_CODE, text=text)
            await settled(receiver, done)
        await wait_for(lambda: answers_to(sim, phone), timeout=10,
                       until=lambda a: len(a) == 3, message="not every change confirmed")
    assert [m.text for m in answers_to(sim, phone)] == [STOP_TEXT, START_TEXT, STOP_TEXT]
    assert all(m.source == SHORT_CODE for m in answers_to(sim, phone))
    assert await redis.sismember(OPT_OUT_SET, number(4))


async def test_an_opted_out_number_gets_nothing_but_its_confirmation(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    phone = "8613800000005"
    async with running(answering(redis, sim)) as receiver:
        for done, text in enumerate(("TD", "HELP", "JOIN", "QUOTE"), 1):
            sim.inject_mo(source=phone, destination=SHORT_CODE, text=text)
            await settled(receiver, done)
    assert [m.text for m in answers_to(sim, phone)] == [STOP_TEXT]
    assert receiver.answering is not None and receiver.answering.stats.suppressed == 3
    labels = await number_labels(redis, CHANNEL.namespace, number(5))
    assert list(labels) == ["vip"]  # a label is a fact about the number, opted out or not


async def test_a_custom_keyword_is_answered_and_records_its_label(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    phone = "8613800000006"
    async with running(answering(redis, sim)) as receiver:
        sim.inject_mo(source=phone, destination=SHORT_CODE, text="join")
        sim.inject_mo(source="8613800000007", destination=SHORT_CODE, text="thanks!")
        await settled(receiver, 2)
    assert [(m.source, m.text) for m in answers_to(sim, phone)] == [(SHORT_CODE, JOIN_TEXT)]
    assert len(sim.accepted) == 1  # chatter gets nothing
    labels = await number_labels(redis, CHANNEL.namespace, number(6))
    when, channel, keyword = labels["vip"].split(" ")
    assert (channel, keyword) == (CHANNEL.ref, "join") and abs(float(when) - time.time()) < 60
    assert await redis.smembers(labelled(CHANNEL.namespace, "vip")) == {number(6)}


async def test_a_reply_to_a_senders_bind_is_answered_by_the_receiver(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    """No receiver bound: the MO comes to a sender's transceiver, which only passes it on
    (and opts the number out); the receiver, once up, answers from the stream."""
    builder = MessageBuilder({"": TEMPLATE}, Source(address="Herald", ton="Alphanumeric"))
    limiter = RateLimiter(redis, channel_bucket(CHANNEL.namespace, CHANNEL.name, 100))
    sender = ShardSender(redis, ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a",
                                              replies=RULES), builder, [transceiver(sim)],
                         limiter)
    async with sender:
        await wait_for(lambda: sender.binds[0].is_up, timeout=10, message="never bound")
        sim.inject_mo(source="8613800000008", destination=SHORT_CODE, text="Stop")
        sim.inject_mo(source="8613800000009", destination=SHORT_CODE, text="Info")
        await wait_for(lambda: sender.stats.replies, timeout=10, until=lambda n: n == 2,
                       message="the sender never took the replies")
        await sender.writer.flush()
    assert await redis.xlen(CHANNEL.replies) == 2
    assert sim.accepted == []
    async with running(answering(redis, sim)) as receiver:
        await settled(receiver, 2)
    assert [m.text for m in answers_to(sim, "8613800000008")] == [STOP_TEXT]
    assert [m.text for m in answers_to(sim, "8613800000009")] == [HELP_TEXT]


async def test_with_a_receiver_and_transmitter_pair_answers_go_on_the_transmitter(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    """bindMode TransmitterAndReceiver: the carrier takes no transceiver, so the receiver
    opens a transmitter beside its receiver bind for the answers."""
    receive = dataclasses.replace(transceiver(sim), mode="Receiver", window=1)
    transmit = dataclasses.replace(transceiver(sim), mode="Transmitter")
    receiver = ChannelReceiver(redis, CHANNEL, receive, replies=RULES, answers=target(),
                               transmitter=transmit, max_binds=4)
    async with running(receiver):
        await wait_for(lambda: receiver.binds[1].is_up, timeout=10, message="no transmitter")
        sim.inject_mo(source="8613800000016", destination=SHORT_CODE, text="help")
        await settled(receiver, 1)
        assert sorted(sim.bind_counts.elements()) == ["herald", "herald"]
        assert (await read_activity(redis, CHANNEL, time.time())).receiver_bound == 2
    assert [(m.source, m.text) for m in answers_to(sim, "8613800000016")] == [
        (SHORT_CODE, HELP_TEXT)]
    assert (await read_activity(redis, CHANNEL, time.time())).bound == 0  # both released


async def test_a_throttled_answer_goes_again_later(redis: aioredis.Redis, sim: Simulator
                                                   ) -> None:
    """Throttling slows an answer down; it never fails it."""
    sim.throttle_next(2, CommandStatus.ESME_RTHROTTLED)
    async with running(answering(redis, sim, initialBackoffSeconds=0)) as receiver:
        sim.inject_mo(source="8613800000017", destination=SHORT_CODE, text="help")
        await settled(receiver, 1)
    assert receiver.answering is not None
    assert receiver.answering.stats.retried == 2 and receiver.answering.stats.failed == 0
    assert [m.text for m in answers_to(sim, "8613800000017")] == [HELP_TEXT]


async def test_a_redis_error_mid_answer_loses_neither_the_reply_nor_window_slots(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    """Redis fails while an answer waits for its token: the slots it held go back, and the
    reply, read but not yet in hand, is read again from the pending list and answered."""
    receiver = answering(redis, sim)
    assert receiver.answering is not None
    limiter = receiver.answering.limiter
    acquire, failures = limiter.acquire, list[int]()

    async def failing_once(count: int) -> int:
        if not failures:
            failures.append(count)
            raise RedisConnectionError("Redis went away")
        return await acquire(count)

    limiter.acquire = failing_once  # type: ignore[method-assign, assignment]
    async with running(receiver):
        sim.inject_mo(source="8613800000019", destination=SHORT_CODE, text="HELP")
        got = await wait_for(lambda: answers_to(sim, "8613800000019"), timeout=15,
                             message="the reply was never answered after the error")
        await settled(receiver, 1)
    assert failures and [m.text for m in got] == [HELP_TEXT]
    assert receiver.bind.free_slots == receiver.bind.settings.window  # none leaked


async def test_answers_on_redis_cluster(redis_cluster: RedisCluster, sim: Simulator) -> None:
    """The same code on Redis Cluster: the stream, its marks and the channel's bucket
    share the channel's tag; the opt-out set, its confirmation hash and the labels are
    plain keys written by plain commands, never a script across slots."""
    redis = connect(redis_cluster.url)
    try:
        phone = "8613800000018"
        async with running(answering(redis, sim)) as receiver:
            for done, text in enumerate(("STOP", "STOP", "START", "JOIN", "HELP"), 1):
                sim.inject_mo(source=phone, destination=SHORT_CODE, text=text)
                await settled(receiver, done)
        assert [m.text for m in answers_to(sim, phone)] == [
            STOP_TEXT, START_TEXT, JOIN_TEXT, HELP_TEXT]
        assert "vip" in await number_labels(redis, CHANNEL.namespace, number(18))
        assert (await redis.xpending(CHANNEL.replies, RECEIVER_GROUP))["pending"] == 0
    finally:
        await redis.delete(CHANNEL.replies, CHANNEL.replies_sending, OPT_OUT_SET,
                           OPT_OUT_CONFIRM, labels(CHANNEL.namespace, number(18)),
                           labelled(CHANNEL.namespace, "vip"))
        await redis.aclose()


def request(phone: int, text: str, *, age: float = 0.0) -> ReplyRequest:
    return ReplyRequest(f"ref{phone}", number(phone), ReplyKind.OTHER, text,
                        Address(number(phone).removeprefix("+"), 1, 1), Address(SHORT_CODE),
                        time.time() - age)


async def test_a_restart_does_not_send_again_what_may_have_gone(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    """A receiver killed with one answer on the wire (marked sending) and one read but
    not yet sent: after the restart the first is unknown, not resent; the second goes."""
    queue = ReplyQueue(redis, CHANNEL)
    await queue.ensure_group()
    await add_requests(redis, CHANNEL, [request(10, "help"), request(11, "help")])
    read = await queue.read(count=10, block_ms=0)
    assert len(read) == 2
    await queue.sending(read[0].entry)  # the crash came after this submit went out

    async with running(answering(redis, sim)) as receiver:
        await settled(receiver, 2)
    assert receiver.answering is not None and receiver.answering.stats.unknown == 1
    assert [m.destination for m in sim.accepted] == [number(11).removeprefix("+")]
    assert (await redis.xpending(CHANNEL.replies, RECEIVER_GROUP))["pending"] == 0
    assert await redis.hlen(CHANNEL.replies_sending) == 0


async def test_recovery_reads_every_pending_request(redis: aioredis.Redis) -> None:
    queue = ReplyQueue(redis, CHANNEL)
    await queue.ensure_group()
    await add_requests(redis, CHANNEL, [request(i, "help") for i in range(20, 27)])
    assert len(await queue.read(count=10, block_ms=0)) == 7
    assert len(await queue.recover(count=3)) == 7  # three pages


async def test_resend_unknown_sends_an_answer_again_after_a_restart(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    queue = ReplyQueue(redis, CHANNEL)
    await queue.ensure_group()
    await add_requests(redis, CHANNEL, [request(12, "help")])
    (read,) = await queue.read(count=10, block_ms=0)
    await queue.sending(read.entry)
    async with running(answering(redis, sim, resend_unknown=True)) as receiver:
        await settled(receiver, 1)
    assert [m.text for m in sim.accepted] == [HELP_TEXT]


def test_the_receivers_reply_target_carries_the_pools_address_rates() -> None:
    body = load_example("channel.yaml")["spec"]
    del body["smpp"]["sourceAddr"]
    body["smpp"]["sourceAddresses"] = [{"address": "+14155550001", "messagesPerSecond": 1},
                                       {"address": SHORT_CODE}]
    body["keywordReplies"] = {"help": {"keywords": ["HELP"], "reply": HELP_TEXT}}
    found = reply_target(ChannelSpec.model_validate(body))
    assert found is not None and found.source_rates == {"+14155550001": 1}


async def test_answers_from_a_rate_limited_pool_address_keep_its_rate(
        redis: aioredis.Redis, sim: Simulator) -> None:
    """Four HELPs to a short code of the pool limited to 2 msg/s: the answers go at its
    rate (the k-th at least k / 2 s after the first, less the limiter's lateness),
    though the channel's own bucket would let them all go at once."""
    rate = 2
    await add_requests(redis, CHANNEL, [request(i, "help") for i in range(30, 34)])
    async with running(answering(redis, sim, source_rates={f"+{SHORT_CODE}": rate})
                       ) as receiver:
        await settled(receiver, 4)
    times = sorted(m.timestamp for m in sim.accepted)
    assert len(times) == 4
    for k, at in enumerate(times):
        assert at - times[0] >= k / rate - 0.02, (k, at - times[0])


async def test_an_old_reply_is_not_answered(redis: aioredis.Redis, sim: Simulator) -> None:
    """A HELP that waited longer than REPLY_MAX_AGE_SECONDS (no receiver was up) is noise."""
    await add_requests(redis, CHANNEL, [request(13, "help", age=REPLY_MAX_AGE_SECONDS + 5),
                                        request(14, "help")])
    async with running(answering(redis, sim)) as receiver:
        await settled(receiver, 2)
    assert receiver.answering is not None and receiver.answering.stats.stale == 1
    assert [m.destination for m in sim.accepted] == [number(14).removeprefix("+")]


async def test_a_receiver_without_keyword_replies_leaves_the_stream_alone(
    redis: aioredis.Redis, sim: Simulator
) -> None:
    receiver = ChannelReceiver(redis, CHANNEL, BindSettings(
        host="127.0.0.1", port=sim.port, system_id="herald", password="herald",
        mode="Receiver", window=1, response_timeout=5.0),
        replies=ReplyRules.of("CN", ["START", "UNSTOP"]))
    async with running(receiver):
        sim.inject_mo(source="8613800000015", destination=SHORT_CODE, text="STOP")
        await wait_for(lambda: receiver.stats.opt_outs, timeout=10,
                       until=lambda n: n == 1, message="the opt-out was not applied")
    # The opt-out is kept; the number and its text are not queued for a reader
    # that does not exist.
    assert await redis.xlen(CHANNEL.replies) == 0
    assert sim.accepted == []


@pytest.mark.parametrize("mode, binds, modes", [
    pytest.param("Transceiver", 2, ("Transceiver",), id="transceiver"),
    pytest.param("TransmitterAndReceiver", 4, ("Receiver", "Transmitter"), id="pair"),
])
def test_keyword_replies_reach_the_receiver_pod(
    monkeypatch: pytest.MonkeyPatch, mode: str, binds: int, modes: tuple[str, ...]
) -> None:
    """The receiver Deployment carries spec.keywordReplies and the channel's rate limit
    and retry policy; its pod binds to submit answers as the channel's bindMode allows."""
    body = load_example("channel.yaml")["spec"]
    body["smpp"]["bindMode"], body["maxBinds"] = mode, binds
    body["retry"] = {"resendUnknown": True}
    spec = ChannelSpec.model_validate(body | {"keywordReplies": REPLIES.to_api()})
    deployment = build_receiver_deployment(Owner("shop", "carrier-a", "uid-c"), spec,
                                           PodSettings(image="herald:test",
                                                       redis_url="redis://redis:6379/0"))
    (pod_container,) = deployment["spec"]["template"]["spec"]["containers"]
    for env in pod_container["env"]:  # the password (valueFrom its Secret) as the example's
        monkeypatch.setenv(env["name"], env.get("value", "s3cr3t"))
    settings = load_settings()
    assert settings.answers is not None and settings.answers.replies == REPLIES
    assert (settings.answers.rate, settings.answers.burst) == (2000, 100)
    assert settings.answers.resend_unknown
    found = (settings.bind.mode,) + ((settings.transmitter.mode,) if settings.transmitter
                                     else ())
    assert found == modes
    assert receiver_binds(spec, True) == len(modes)

    monkeypatch.delenv("HERALD_CHANNEL_REPLIES")  # a Channel without keywordReplies
    plain = load_settings()
    assert plain.answers is None and plain.bind.mode == "Receiver" and plain.transmitter is None
