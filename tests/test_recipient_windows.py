"""Messages held for their recipient's hours, through a real sender, Redis and simulator.

The simulator's record is the judge of what was sent and when: with a clock the test
controls, nothing of a zone in its quiet hours reaches the SMSC until the clock passes
their end; held messages survive a graceful stop, a SIGKILL and a restart, and an edit
of the rules reaches a running sender.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from crds.base import API_VERSION
from crds.campaign import QuietHours
from crds.channel import SourceAddress
from crds.template import TemplateSpec
from herald.local.kube.client import wait_for
from herald.local.redis import RedisServer
from herald.local.stack import running_stack
from sender.send.messages import MessageBuilder
from sender.send.outgoing import ShardSettings
from sender.send.shard_sender import ShardSender
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.smpp.bind import BindSettings
from sender.sms.send_times import SendRules, SendTimes, Span
from sender.store.keys import SENDERS_GROUP, CampaignKeys, ChannelKeys
from sender.store.rate_limit import RateLimiter, channel_bucket
from sender.store.run_store import write_run
from sender.store.transitions import read_counters
from tests.run_configs import run_config, start_send
from tests.test_campaign_operator import CAMPAIGN as EXAMPLE_CAMPAIGN
from tests.test_campaign_operator import NS, TIMEOUT, apply_examples, campaign_body

CAMPAIGN = CampaignKeys("shop", "night-owls")
CHANNEL = ChannelKeys("shop", "carrier-a")
TEMPLATE = TemplateSpec.model_validate(
    {"category": "Marketing", "body": "Sale {code}", "signature": "【Shop】",
     "optOutText": "回T退订", "variables": [{"name": "code"}]})
QUIET = Span.parse("21:00", "08:00")
SHANGHAI, NEW_YORK = "Asia/Shanghai", "America/New_York"


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=5, window=0, seed=5)) as sim:
        yield sim


async def until(check: Callable[[], Any], timeout: float, what: str) -> None:
    """Wait until check() (a value or an awaitable) is true, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.02)


async def enqueue(redis: aioredis.Redis, zones: list[str]) -> None:
    """Shard 0 with a recipient per zone: +86138000000NN, NN its index."""
    stream = CAMPAIGN.shard(0)
    await redis.xgroup_create(stream, SENDERS_GROUP, id="0", mkstream=True)
    pipe = redis.pipeline(transaction=False)
    for i, zone in enumerate(zones):
        pipe.xadd(stream, {"n": f"+86138{i:08d}", "v": "", "x": json.dumps({"code": str(i)}),
                           **({"z": zone} if zone else {})})
    pipe.hset(CAMPAIGN.counters, "total", len(zones))
    await pipe.execute()


def sender(redis: aioredis.Redis, sim: Simulator, times: SendTimes) -> ShardSender:
    builder = MessageBuilder({"": TEMPLATE}, SourceAddress(address="Shop"))
    bind = BindSettings(host="127.0.0.1", port=sim.port, system_id="herald",
                        password="herald", window=20, response_timeout=5.0)
    limiter = RateLimiter(redis, channel_bucket("shop", "carrier-a", 100_000))
    settings = ShardSettings(CAMPAIGN, 0, CHANNEL, "carrier-a", send_times=times,
                             window_poll_seconds=0.02)
    return ShardSender(redis, settings, builder, [bind], limiter)


def sent_to(sim: Simulator) -> Counter[int]:
    """How often each recipient's index reached the SMSC."""
    return Counter(int(m.destination[-8:]) for m in sim.accepted)


ZONES = [SHANGHAI if i % 2 == 0 else NEW_YORK for i in range(100)]
SHANGHAI_ONES = {i for i, z in enumerate(ZONES) if z == SHANGHAI}
NEW_YORK_ONES = set(range(100)) - SHANGHAI_ONES


async def test_quiet_hours_hold_each_recipient_on_their_own_clock(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    # 04:00 UTC: noon in Shanghai, 23:00 in New York (quiet until 08:00 EST, 13:00 UTC).
    clock = Clock(at("2026-12-02T04:00:00"))
    times = SendTimes(SendRules(default_zone=SHANGHAI, quiet=QUIET), clock=clock)
    await enqueue(redis, ZONES)
    async with sender(redis, simulator, times) as running:
        task = asyncio.create_task(running.run())
        await until(lambda: len(simulator.accepted) == 50, 20, "Shanghai's half sent")

        async def held() -> bool:
            return (await read_counters(redis, CAMPAIGN)).waiting == 50
        await until(held, 10, "New York's half waiting")
        assert set(sent_to(simulator)) == SHANGHAI_ONES
        assert await redis.hget(CAMPAIGN.counters, "channel:carrier-a:waiting") == "50"
        held_until: Any = await redis.zrange(CAMPAIGN.waiting(0), 0, -1, withscores=True)
        assert {score for _, score in held_until} == {at("2026-12-02T13:00:00")}
        assert not task.done(), "the shard is not done while messages wait"

        clock.now = at("2026-12-02T12:59:59")  # a second before: still nothing
        await asyncio.sleep(0.2)  # several polls of the release loop (every 0.02 s)
        assert len(simulator.accepted) == 50

        clock.now = at("2026-12-02T13:00:00")  # 08:00 New York, 21:00 Shanghai
        stats = await asyncio.wait_for(task, 30)
        await running.wait_for_receipts(10)
    assert sent_to(simulator) == Counter(range(100)), "each recipient exactly once"
    assert {int(m.destination[-8:]) for m in simulator.accepted[50:]} == NEW_YORK_ONES
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.waiting, counters.queued, counters.delivered) == (0, 0, 100)
    assert await redis.hget(CAMPAIGN.counters, "channel:carrier-a:waiting") == "0"
    assert stats.held == 50
    assert await redis.zcard(CAMPAIGN.waiting(0)) == 0


async def test_a_message_whose_hours_end_while_it_waits_to_go_is_held_then(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    """The last look is right before its submit: read in the open, due after the
    quiet hours began, a message goes only when they end."""
    clock = Clock(at("2026-12-02T12:59:59"))  # 20:59:59 in Shanghai
    times = SendTimes(SendRules(default_zone=SHANGHAI, quiet=QUIET), clock=clock)
    await enqueue(redis, [SHANGHAI] * 10)
    running = sender(redis, simulator, times)
    # Read in the open; then time moves on before they go.
    await running.reader.accept(await running.stream.read())
    assert len(running.reader.ready) == 10
    clock.now = at("2026-12-02T13:00:00")
    async with running:
        task = asyncio.create_task(running.run())

        async def held() -> bool:
            return (await read_counters(redis, CAMPAIGN)).waiting == 10
        await until(held, 10, "all ten held")
        assert simulator.accepted == []
        clock.now = at("2026-12-03T00:00:00")  # 08:00 in Shanghai
        await asyncio.wait_for(task, 30)
    assert sent_to(simulator) == Counter(range(10))


async def test_a_window_that_never_opens_fails_the_message_rather_than_hold_it(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    clock = Clock(at("2026-12-02T04:00:00"))
    rules = SendRules(default_zone=SHANGHAI, window=Span.parse("22:00", "23:00"), quiet=QUIET)
    await enqueue(redis, [SHANGHAI] * 5)
    async with sender(redis, simulator, SendTimes(rules, clock=clock)) as running:
        await asyncio.wait_for(running.run(), 30)
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.failed, counters.waiting, len(simulator.accepted)) == (5, 0, 0)
    assert (await redis.hgetall(CAMPAIGN.counters))["error:NoSendTime"] == "5"


async def test_held_messages_survive_a_stop_and_a_restart(
    redis: aioredis.Redis, simulator: Simulator
) -> None:
    clock = Clock(at("2026-12-02T04:00:00"))
    rules = SendRules(default_zone=SHANGHAI, quiet=QUIET)
    await enqueue(redis, ZONES)
    async with sender(redis, simulator, SendTimes(rules, clock=clock)) as first:
        task = asyncio.create_task(first.run())
        await until(lambda: len(simulator.accepted) == 50, 20, "Shanghai's half sent")

        async def held() -> bool:
            return (await read_counters(redis, CAMPAIGN)).waiting == 50
        await until(held, 10, "New York's half waiting")
        first.stop_reading()
        await asyncio.wait_for(task, 10)

    # A new process, still in New York's night: recovery finds the held ones pending
    # and holds them again; nothing is sent.
    async with sender(redis, simulator, SendTimes(rules, clock=clock)) as second:
        task = asyncio.create_task(second.run())
        await until(lambda: second.stats.recovered >= 50, 10, "recovered")
        await asyncio.sleep(0.2)
        assert len(simulator.accepted) == 50
        assert await redis.zcard(CAMPAIGN.waiting(0)) == 50
        clock.now = at("2026-12-02T13:00:00")
        await asyncio.wait_for(task, 30)
    assert sent_to(simulator) == Counter(range(100))


def local_hour_zone(hour: int) -> str:
    """A fixed-offset zone whose clock now shows `hour` (give or take the minutes)."""
    offset = (hour - datetime.now(UTC).hour + 36) % 24 - 12  # -12..11
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-8 is UTC+8


async def test_sigkill_keeps_held_messages_and_an_edit_reaches_the_running_sender(
    redis: aioredis.Redis, redis_server: RedisServer, simulator: Simulator
) -> None:
    """`herald send` as a pod runs it, on the real clock: a window per recipient
    (00:00-12:00 in their zone) holds back the half whose clock shows 18:00; a SIGKILL
    and a restart keep them held and send nobody twice; removing the window from the
    run (as the operator does when the spec is edited) lets them go."""
    morning, evening = local_hour_zone(6), local_hour_zone(18)
    window = {"start": "00:00", "end": "12:00", "timeZoneSource": "Recipient"}
    config = run_config(CAMPAIGN.namespace, CAMPAIGN.name, port=simulator.port,
                        receipt_wait_seconds=1, send_times={"window": window})
    await write_run(redis, config)
    zones = [morning if i % 2 == 0 else evening for i in range(40)]
    await enqueue(redis, zones)

    async def held() -> bool:
        return (await read_counters(redis, CAMPAIGN)).waiting == 20

    first = start_send(redis_server.url, CAMPAIGN)
    await until(lambda: len(simulator.accepted) == 20, 30, "the morning half sent")
    await until(held, 10, "the evening half waiting")
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    second = start_send(redis_server.url, CAMPAIGN)
    await asyncio.sleep(1.0)  # the restart recovers; nothing of the evening half goes
    assert len(simulator.accepted) == 20 and await held()
    await write_run(redis, config.model_copy(update={"send_times": config.send_times.model_copy(
        update={"window": None})}))
    _, err = await asyncio.to_thread(second.communicate, timeout=60)
    assert second.returncode == 0, err
    assert sent_to(simulator) == Counter(range(40))
    counters = await read_counters(redis, CAMPAIGN)
    assert (counters.waiting, counters.queued) == (0, 0)


async def test_the_operator_holds_marketing_to_the_default_quiet_hours_until_edited() -> None:
    """Through the operator on the local stack, with the install's default quiet hours
    for marketing (21:00-08:00): recipients whose zone column puts them at noon are sent,
    those at 23:00 wait (counted, with the next opening in status) and never reach the
    SMSC; an edit that turns quiet hours off lets them go, and the campaign completes."""
    noon, night = local_hour_zone(12), local_hour_zone(23)
    rows = [{"phone": f"1380000{i:04d}", "variables": [
        {"name": "name", "value": f"n{i}"}, {"name": "code", "value": f"C{i}"},
        {"name": "tz", "value": noon if i % 2 == 0 else night}]} for i in range(20)]
    day_ones = {f"861380000{i:04d}" for i in range(0, 20, 2)}
    body = campaign_body(audience={"defaultRegion": "CN", "inline": rows,
                                   "columns": {"timeZone": "tz"}})
    async with running_stack(config={"marketing_quiet_hours": QuietHours()}) as stack:
        await apply_examples(stack)
        await stack.kube.create(body)

        def held(c: dict[str, Any]) -> bool:
            counters: dict[str, int] = c.get("status", {}).get("counters", {})
            return counters.get("waiting") == 10 and counters.get("delivered") == 10
        waiting = await wait_for(lambda: stack.campaign(NS, EXAMPLE_CAMPAIGN), timeout=TIMEOUT,
                                 until=held, message="the night half never waited")
        status = waiting["status"]
        assert {m.destination for m in stack.simulator.accepted} == day_ones
        assert status["phase"] == "Running"
        assert "10 messages wait for their recipients' hours" in status["message"]
        # The night zone's next 08:00, as an instant.
        tz = ZoneInfo(night)
        local = datetime.now(UTC).astimezone(tz)
        opening = local.replace(hour=8, minute=0, second=0, microsecond=0)
        if opening <= local:
            opening += timedelta(days=1)
        assert datetime.fromisoformat(status["nextWindowTime"]) == opening
        assert status["timeZoneSources"] == [{"reason": "ZoneFromColumn", "count": 20}]

        await stack.kube.patch(API_VERSION, "Campaign", NS, EXAMPLE_CAMPAIGN, {
            "spec": {"schedule": {"quietHours": {"start": "00:00", "end": "00:00"}}}})
        done = await stack.wait_for_phase(NS, EXAMPLE_CAMPAIGN, ("Completed", "Failed"), timeout=90)
    assert done["status"]["phase"] == "Completed", done["status"]
    assert done["status"]["counters"]["delivered"] == 20
    assert len(stack.simulator.accepted) == 20 == len(
        {m.destination for m in stack.simulator.accepted})
