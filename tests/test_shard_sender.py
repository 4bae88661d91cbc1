"""The sender end to end: a real redis-server, the SMPP simulator over TCP, one shard."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from crds.channel import ErrorClass, SourceAddress
from crds.template import TemplateSpec
from sender.send.messages import MessageBuilder
from sender.send.outgoing import Outgoing, ShardSettings, ShardStats, after_failure
from sender.send.shard_reader import parse_variables, sort_recovered
from sender.send.shard_sender import ShardSender, mark_ahead
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.smpp.bind import BindSettings
from sender.sms.states import State
from sender.store.keys import OPT_OUT_SET, SENDERS_GROUP, CampaignKeys, ChannelKeys
from sender.store.rate_limit import RateLimiter, channel_bucket
from sender.store.transitions import read_counters

CAMPAIGN = CampaignKeys("shop", "spring-sale")
CHANNEL = ChannelKeys("shop", "carrier-a")
TEMPLATE = TemplateSpec.model_validate(
    {"category": "Notification", "body": "Hi {name}, your code is {code}.",
     "variables": [{"name": "name"}, {"name": "code"}]}
)
LONG = TemplateSpec.model_validate(
    {"category": "Notification", "body": "您好{name}，" + "这是一条很长的通知消息。" * 8,
     "variables": [{"name": "name"}]}
)
WINDOW = 50


def number(i: int) -> str:
    return f"+86138{i:08d}"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(port=0, receipt_delay_ms=5, window=0, seed=3)
    async with Simulator(config) as sim:
        yield sim


async def enqueue(redis: aioredis.Redis, count: int, *, variant: str = "") -> None:
    stream = CAMPAIGN.shard(0)
    await redis.xgroup_create(stream, SENDERS_GROUP, id="0", mkstream=True)
    pipe = redis.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(stream, {"n": number(i), "v": variant,
                           "x": json.dumps({"name": f"n{i}", "code": f"{i:06d}"})})
    pipe.hset(CAMPAIGN.counters, "total", count)
    await pipe.execute()


async def send(
    redis: aioredis.Redis, sim: Simulator, *, template: TemplateSpec = TEMPLATE,
    rate: int = 100_000, receipts_within: float = 10.0, **settings: Any,
) -> ShardStats:
    builder = MessageBuilder({"": template}, SourceAddress(address="Herald", ton="Alphanumeric"))
    bind = BindSettings(host="127.0.0.1", port=sim.port, system_id="herald", password="herald",
                        window=WINDOW, response_timeout=5.0)
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", rate))
    shard = ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a", **settings)
    async with ShardSender(redis, shard, builder, [bind], limiter) as sender:
        stats = await asyncio.wait_for(sender.run(), 60)
        await sender.wait_for_receipts(receipts_within)
    return stats


def accepted_per_number(sim: Simulator) -> Counter[str]:
    return Counter(m.destination for m in sim.accepted)


async def test_every_message_submitted_once_and_delivered(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    await enqueue(redis, 2000)
    stats = await send(redis, simulator)

    per_number = accepted_per_number(simulator)
    assert len(per_number) == 2000 and max(per_number.values()) == 1
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.delivered, counters.queued, counters.unknown) == (2000, 0, 0)
    assert stats.receipts == 2000
    first = next(m for m in simulator.accepted if m.destination == "8613800000007")
    assert first.text == "Hi n7, your code is 000007."


async def test_throttling_costs_time_not_messages(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    simulator.configure({"throttle": {"every": 7, "burst": 3}})
    await enqueue(redis, 1500)
    stats = await send(redis, simulator)

    assert stats.throttled > 100
    per_number = accepted_per_number(simulator)
    assert len(per_number) == 1500 and max(per_number.values()) == 1
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.delivered, counters.failed, counters.queued) == (1500, 0, 0)


async def test_dropped_binds_cost_at_most_a_window_each(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    simulator.configure({"drop_every_submits": 400})
    await enqueue(redis, 2000)
    await send(redis, simulator)

    per_number = accepted_per_number(simulator)
    assert max(per_number.values()) == 1, "a message went out twice"
    counters = await read_counters(redis, CAMPAIGN)
    drops = simulator.counters.drops
    assert drops >= 3
    assert counters.unknown <= drops * WINDOW
    # Every number is accounted for: delivered, or unknown (on the wire at a drop).
    assert counters.delivered + counters.unknown == 2000
    assert counters.queued == 0
    assert counters.delivered >= len(per_number) - counters.unknown


async def test_resend_unknown_sends_again_what_a_dropped_bind_left_unanswered(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    """At-least-once: nothing unknown is left, and some numbers get two (those the SMSC
    had accepted when the drop cut their answer off)."""
    simulator.configure({"drop_every_submits": 400})
    await enqueue(redis, 2000)
    stats = await send(redis, simulator, resend_unknown=True, max_attempts=5)

    counters = await read_counters(redis, CAMPAIGN)
    assert simulator.counters.drops >= 3 and stats.resent_unknown > 0
    assert (counters.unknown, counters.queued) == (0, 0)
    assert counters.delivered == 2000
    per_number = accepted_per_number(simulator)
    assert len(per_number) == 2000  # every number reached the SMSC, some twice
    assert sum(per_number.values()) - 2000 <= stats.resent_unknown


async def test_opted_out_numbers_are_never_sent(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    await redis.sadd(OPT_OUT_SET, number(3), number(30), number(300))
    await enqueue(redis, 500)
    await send(redis, simulator)

    per_number = accepted_per_number(simulator)
    assert {"8613800000003", "8613800000030", "8613800000300"}.isdisjoint(per_number)
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.opted_out, counters.delivered) == (3, 497)


async def test_long_messages_go_as_udh_parts_and_count_once(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    await enqueue(redis, 50)
    await send(redis, simulator, template=LONG)

    messages = simulator.reassembled()
    assert len(messages) == 50
    assert all(m.complete and m.total > 1 and len(m.parts) == m.total for m in messages)
    assert all(m.text.startswith(f"您好n{int(m.destination[-8:])}，") for m in messages)
    counters = await read_counters(redis, CAMPAIGN)
    assert counters.delivered == 50


async def test_permanent_errors_fail_with_their_code(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    simulator.configure({"rules": [{"prefix": "861380000001", "outcome": "error",
                                    "status": "ESME_RINVDSTADR"}]})
    await enqueue(redis, 200)
    await send(redis, simulator)

    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.failed, counters.delivered) == (10, 190)
    fields = await redis.hgetall(CAMPAIGN.counters)
    assert fields["error:0x0000000B"] == "10"
    assert fields["country:CN:error:0x0000000B"] == "10"  # +86: CN, for errorsByCountry


async def test_temporary_errors_retry_then_fail(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    simulator.configure({"rules": [{"prefix": "861380000002", "outcome": "error",
                                    "status": "ESME_RSYSERR"}]})
    await enqueue(redis, 40)
    stats = await send(redis, simulator, max_attempts=3, initial_backoff=0.01)

    # Each of the ten numbers was tried three times, then failed with the code.
    assert simulator.counters.submit_errors == 30
    assert stats.retried == 20
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.failed, counters.delivered, counters.queued) == (10, 30, 0)
    fields = await redis.hgetall(CAMPAIGN.counters)
    assert fields["error:0x00000008"] == "10"


async def test_reply_td_opts_the_number_out(redis: aioredis.Redis, simulator: Simulator) -> None:
    simulator.inject_mo(source="8613800000005", destination="Herald", text="ＴＤ")
    simulator.inject_mo(source="8613800000006", destination="Herald", text="thanks!")
    await enqueue(redis, 20)
    stats = await send(redis, simulator)

    assert stats.replies == 2
    assert await redis.smembers(OPT_OUT_SET) == {number(5)}


RETRIES = ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a", max_attempts=5, initial_backoff=1.0,
                        max_backoff=3.0, overrides={0x45: ErrorClass.PERMANENT})


@pytest.mark.parametrize("status, attempts, expected", [
    pytest.param(0x58, 0, (ErrorClass.THROTTLED, 0.0), id="throttled-at-once"),
    pytest.param(0x58, 9, (ErrorClass.THROTTLED, 0.0), id="throttled-never-runs-out"),
    pytest.param(0x14, 0, (ErrorClass.THROTTLED, 0.0), id="queue-full-is-throttling"),
    pytest.param(0x08, 0, (ErrorClass.TEMPORARY, 1.0), id="system-error-first-retry"),
    pytest.param(0x08, 1, (ErrorClass.TEMPORARY, 2.0), id="system-error-backs-off"),
    pytest.param(0x08, 3, (ErrorClass.TEMPORARY, 3.0), id="backoff-capped"),
    pytest.param(0x08, 4, (ErrorClass.PERMANENT, 0.0), id="attempts-used-up"),
    pytest.param(0x0B, 0, (ErrorClass.PERMANENT, 0.0), id="bad-destination"),
    pytest.param(0x45, 0, (ErrorClass.PERMANENT, 0.0), id="override"),
])
def test_what_a_failed_submit_means(status: int, attempts: int,
                                    expected: tuple[ErrorClass, float]) -> None:
    assert after_failure(status, attempts, RETRIES) == expected


def test_recovery_sorts_what_a_killed_sender_left() -> None:
    entries = [(f"1-{i}", {"n": f"+86138{i:08d}", "v": ""}) for i in range(5)]
    states = [None, "Q", "S", "s:ab12", "D"]  # unmarked, queued, submitting, submitted, done
    resend, unknown, settled = sort_recovered(entries, states, resend_unknown=False)
    assert [e[0] for e in resend] == ["1-0", "1-1"]
    assert [e[0] for e in unknown] == ["1-2"]  # on the wire: counted, not resent
    assert settled == ["1-3", "1-4"]  # finished; only their ack was lost
    resend, unknown, _ = sort_recovered(entries, states, resend_unknown=True)
    assert [e[0] for e in resend] == ["1-0", "1-1", "1-2"] and len(unknown) == 1


@pytest.mark.parametrize("raw", [
    '{"name": "Ana", "code": "1234"}', "{}", ' {"name": "Ana"} ', '{"name": "Ana"}\n',
    '{"name": "\\u00e9", "n": 1.5, "z": null}', '["a"]', b'{"name": "Ana"}'])
def test_variables_parse_as_json_loads_does(raw: str) -> None:
    """The scanner's shortcut gives json.loads's value for anything it reads, whitespace
    around the object and bytes included."""
    assert parse_variables(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", ["", "nope", '{"name": ', '{"name": "Ana"} x', '{"a": 1}{'])
def test_variables_not_json_raise_what_json_loads_raises(raw: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(raw)
    with pytest.raises(json.JSONDecodeError) as got:
        parse_variables(raw)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


async def test_a_stop_returns_the_messages_marked_ahead_to_queued(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    """Messages marked `submitting` ahead of the window but never written go back to
    `queued` when the sender stops: only those on the wire may end unknown, and the next
    run sends the rest, each once."""
    simulator.configure({"latency_ms": 300})  # the window stays full, the marks wait
    await enqueue(redis, 300)
    builder = MessageBuilder({"": TEMPLATE}, SourceAddress(address="Herald", ton="Alphanumeric"))
    bind = BindSettings(host="127.0.0.1", port=simulator.port, system_id="herald",
                        password="herald", window=WINDOW, response_timeout=5.0)
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 100_000))
    shard = ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a")
    async with ShardSender(redis, shard, builder, [bind], limiter) as first:
        assert first.ahead == mark_ahead(WINDOW)
        task = asyncio.create_task(first.run())
        deadline = asyncio.get_running_loop().time() + 20
        while not (simulator.unanswered == WINDOW and first.marked == first.ahead):
            assert asyncio.get_running_loop().time() < deadline, "window and marks not full"
            await asyncio.sleep(0.005)
        first.stop_reading()
        await asyncio.wait_for(task, 20)

    assert len(simulator.accepted) == WINDOW  # the window on the wire, and nothing else
    states: dict[str, str] = await redis.hgetall(CAMPAIGN.state)  # type: ignore[assignment]
    assert not [v for v in states.values() if v[0] in (State.SUBMITTING, State.UNKNOWN)]
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.unknown, counters.queued) == (0, 300 - WINDOW)

    simulator.configure({"latency_ms": 0})
    await send(redis, simulator)
    per_number = accepted_per_number(simulator)
    assert len(per_number) == 300 and max(per_number.values()) == 1
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.delivered, counters.queued, counters.unknown) == (300, 0, 0)


async def test_an_opt_out_drops_a_message_marked_ahead_before_it_goes(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    """A stop reply for a number whose message is marked `submitting` ahead of the window
    but not written: it never goes, and ends opted out (through queued, as
    transitions.lua allows), its window slot given back."""
    simulator.configure({"latency_ms": 300})  # the window stays full, the marks wait
    await enqueue(redis, 200)
    builder = MessageBuilder({"": TEMPLATE}, SourceAddress(address="Herald", ton="Alphanumeric"))
    bind = BindSettings(host="127.0.0.1", port=simulator.port, system_id="herald",
                        password="herald", window=WINDOW, response_timeout=5.0)
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 100_000))
    shard = ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a")
    async with ShardSender(redis, shard, builder, [bind], limiter) as sender:
        task = asyncio.create_task(sender.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not (simulator.unanswered == WINDOW and sender.marked == sender.ahead):
            assert loop.time() < deadline, "window and marks not full"
            await asyncio.sleep(0.005)
        marked = WINDOW + 10  # the first WINDOW are on the wire, the next ones marked
        simulator.inject_mo(source=number(marked).lstrip("+"), destination="Herald", text="TD")
        while sender.stats.opted_out == 0:
            assert loop.time() < deadline, "the opt-out not applied"
            await asyncio.sleep(0.005)
        simulator.configure({"latency_ms": 0})
        await asyncio.wait_for(task, 30)

    per_number = accepted_per_number(simulator)
    assert number(marked).lstrip("+") not in per_number
    assert len(per_number) == 199 and max(per_number.values()) == 1
    entries: list[Any] = await redis.xrange(CAMPAIGN.shard(0))  # type: ignore[assignment]
    states: dict[str, str] = await redis.hgetall(CAMPAIGN.state)  # type: ignore[assignment]
    assert states[f"0/{entries[marked][0]}"].startswith(State.OPTED_OUT)
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.opted_out, counters.queued, counters.unknown) == (1, 0, 0)


SUBMITTED = "herald_messages_submitted_total"
LATENCY = "herald_submit_latency_seconds"
OUTCOMES = "herald_message_outcomes_total"
CHANNEL_LABEL = {"channel": CHANNEL.ref}
SUBMITTED_LABELS = {"campaign": CAMPAIGN.ref, **CHANNEL_LABEL}


def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of this test's campaign and channel, as a scrape of /metrics reads it
    (generate_latest, parsed back)."""
    from prometheus_client import REGISTRY, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())
            for s in family.samples
            if s.labels.get("channel") == CHANNEL.ref and not s.name.endswith("_created")}


def outcome(name: str, error: str = "") -> tuple[str, tuple[tuple[str, str], ...]]:
    return (OUTCOMES, tuple(sorted({**SUBMITTED_LABELS, "outcome": name,
                                    "error": error}.items())))


@pytest.mark.parametrize("count, rules, template, receipts_within, submitted, outcomes", [
    pytest.param(300, [], TEMPLATE, 10.0, 300, {"delivered": 300}, id="all-delivered"),
    pytest.param(200, [{"prefix": "861380000001", "outcome": "error",
                        "status": "ESME_RINVDSTADR"}], TEMPLATE, 10.0, 190,
                 {"delivered": 190, "failed:0x0000000B": 10}, id="permanent-errors"),
    pytest.param(40, [], LONG, 10.0, 40, {"delivered": 40}, id="long-messages"),
    # No flush for receipts after the run: what the run's end exports is all there is.
    pytest.param(300, [], TEMPLATE, 0.0, 300, {}, id="run-end-exports"),
])
async def test_the_scraped_metrics_count_every_message_once(
    redis: aioredis.Redis, simulator: Simulator, count: int, rules: list[dict[str, str]],
    template: TemplateSpec, receipts_within: float, submitted: int, outcomes: dict[str, int],
) -> None:
    """The sender exports its counts a flush at a time (sender.metrics.BatchHistogram):
    once the run is over, a scrape shows each submit, response and outcome exactly once."""
    simulator.configure({"rules": rules})
    simulator.throttle_next(5)  # five responses more, each observed, none submitted
    await enqueue(redis, count)
    before = scraped()
    await send(redis, simulator, template=template, receipts_within=receipts_within)
    after = scraped()

    def grew(key: tuple[str, tuple[tuple[str, str], ...]]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    def latency(suffix: str, **labels: str) -> float:
        return grew((LATENCY + suffix, tuple(sorted({**CHANNEL_LABEL, **labels}.items()))))

    responses = simulator.counters.submits
    assert grew((SUBMITTED, tuple(sorted(SUBMITTED_LABELS.items())))) == submitted
    assert latency("_count") == latency("_bucket", le="+Inf") == responses
    assert responses >= count + 5  # a long message's parts: each its own response
    buckets = [latency("_bucket", le=le) for le in ("0.005", "0.01", "0.1", "1.0", "30.0")]
    assert buckets == sorted(buckets) and 0 < latency("_sum") < 30.0 * responses
    for name, expected in outcomes.items():
        assert grew(outcome(*name.split(":"))) == expected, name


async def test_a_reads_responses_settle_as_one_at_a_time(redis: aioredis.Redis) -> None:
    """ShardSender.submits_done (a read's responses in one loop, a message of one part
    accepted settled inline) against submit_done a response at a time: the same buffered
    writes in the same order, the same figures, window, receipts awaited and messages,
    for random runs of accepted, throttled, refused and failed parts of short and long
    messages, ids in any case and with leading zeros, and empty ones."""
    builder = MessageBuilder({"": TEMPLATE, "long": LONG},
                             SourceAddress(address="Herald", ton="Alphanumeric"))
    bind = BindSettings(host="127.0.0.1", port=1, system_id="herald", password="herald")
    chance = random.Random(5)

    def sender() -> ShardSender:
        limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 100_000))
        return ShardSender(redis, ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a"), builder,
                           [bind], limiter)

    for _ in range(60):
        batched, single = sender(), sender()
        responses: list[tuple[int, int, int, str]] = []  # message, part, status, id
        for index in range(chance.randint(1, 30)):
            parts = 1 if chance.random() < 0.8 else 2
            for part in range(parts):
                status = chance.choice([0] * 8 + [0x58, 0x45, 0x0B])
                message_id = chance.choice(["", f"{index:08X}", f"{index:x}", "Ab-1"])
                responses.append((index, part, status, message_id if status == 0 else ""))
        chance.shuffle(responses)  # parts answered in any order
        count = max(index for index, *_ in responses) + 1
        outgoing: dict[int, list[Outgoing]] = {}
        for each in (batched, single):
            outgoing[id(each)] = []
            for index in range(count):
                parts = sum(1 for i, *_ in responses if i == index)
                variant = "long" if parts > 1 else ""
                pdus = builder.bodies(number(index), {"name": "n", "code": "1"}, variant)
                assert len(pdus) == parts
                message = Outgoing(f"0/{index}-0", number(index), variant, pdus,
                                   parts_left=parts, smsc_ids=[""] * parts, sent_at=1.0)
                outgoing[id(each)].append(message)
            each._unsettled = count
        batched.submits_done([((outgoing[id(batched)][i], part), status, message_id)
                              for i, part, status, message_id in responses])
        for i, part, status, message_id in responses:
            single.submit_done((outgoing[id(single)][i], part), status, message_id)
        one, other = batched.writer._batch, single.writer._batch
        assert one.transitions == other.transitions
        assert one.receipts == other.receipts and one.forget_receipts == other.forget_receipts
        assert len(one.after) == len(other.after)
        assert batched.stats == single.stats
        assert (batched._unsettled, batched._retrying) == (single._unsettled, single._retrying)
        assert (batched.window.held, batched.window.settling_now) == (
            single.window.held, single.window.settling_now)
        assert len(batched._latencies) == len(single._latencies) == len(responses)
        assert ({k: (v[1].key, v[2]) for k, v in batched.receipts._recent.items()}
                == {k: (v[1].key, v[2]) for k, v in single.receipts._recent.items()})
        assert batched._flush_now.is_set() == single._flush_now.is_set()
        for mine, theirs in zip(outgoing[id(batched)], outgoing[id(single)], strict=True):
            assert (mine.smsc_ids, mine.parts_left, mine.failure, mine.attempts) == (
                theirs.smsc_ids, theirs.parts_left, theirs.failure, theirs.attempts)
