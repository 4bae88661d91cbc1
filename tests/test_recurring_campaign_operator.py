"""A recurring Campaign through the operator on the local stack: each tick a CampaignRun
of its own (own Jobs, Redis keys, counters and phase), the audience read afresh at each
run, the simulator receiving both runs' messages; a bad cron as a condition.

The operator's clock is the test's (Stack.clock): real time plus an offset the test
moves to just before each tick, so a daily cron ticks twice in seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crds.base import API_VERSION
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from sender.store.keys import CampaignKeys
from tests.test_campaign_operator import (
    NS,
    TIMEOUT,
    apply_examples,
    counters_add_up,
    events_include,
    example,
)

pytestmark = pytest.mark.timeout(180)

NAME = "daily-offer"
ZONE = "Asia/Shanghai"
LEAD = timedelta(seconds=3)
"""How long before a tick the test sets the operator's clock."""


@dataclass
class Clock:
    """Real time moved by `offset`: it runs, so timers and rates behave."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set_to(self, instant: datetime) -> None:
        self.offset = instant - datetime.now(UTC)


def move_clock(stack: Stack, clock: Clock, instant: datetime) -> None:
    """Set the operator's clock to `instant`. Between runs the campaign asks for a
    reconcile every 30 s at most (real time); the clock jumped, so the test asks for one
    now instead of waiting for it."""
    clock.set_to(instant)
    assert stack.operator is not None
    stack.operator.memo.context.campaign_due.pop((NS, NAME), None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def stack(clock: Clock) -> AsyncIterator[Stack]:
    async with running_stack(clock=clock) as running:
        await apply_examples(running)
        yield running


def customers(numbers: list[str]) -> str:
    return "phone,name,code\n" + "".join(f"{n},n{i},C{i}\n" for i, n in enumerate(numbers))


def recurring(recurrence: str) -> dict[str, Any]:
    body = example("campaign-birthday.yaml")
    body["metadata"]["name"] = NAME
    spec = body["spec"]
    spec["templateRef"] = {"name": "double-eleven"}
    spec["audience"] = {"defaultRegion": "CN",
                        "configMapRef": {"name": "customers", "key": "customers.csv"}}
    spec["schedule"] = {"timeZone": ZONE, "recurrence": recurrence,
                        "concurrencyPolicy": "Forbid"}
    del spec["compliance"]
    return body


async def run_done(stack: Stack, name: str) -> dict[str, Any]:
    """The CampaignRun once it Completed and every message it sent has its receipt."""
    async def probe() -> dict[str, Any]:
        return await stack.kube.find(API_VERSION, "CampaignRun", NS, name) or {}

    body: dict[str, Any] = await wait_for(
        probe, timeout=TIMEOUT, message=f"CampaignRun {name} did not complete",
        until=lambda r: r.get("status", {}).get("phase") == "Completed"
        and (c := r["status"].get("counters", {})).get("delivered", 0) == c.get("sent", -1))
    return body


async def test_each_tick_is_a_run_of_its_own(stack: Stack, clock: Clock) -> None:
    kube = stack.kube
    first = [f"1380000{i:04d}" for i in range(5)]
    second = [f"1390000{i:04d}" for i in range(3)] + first[:1]  # one number in both
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "customers"},
                       "data": {"customers.csv": customers(first + first[:1])}})  # a duplicate
    # A daily tick two hours from now (Shanghai wall clock); the clock goes there.
    tick = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    wall = tick.astimezone(ZoneInfo(ZONE))
    await kube.create(recurring(f"{wall.minute} {wall.hour} * * *"))
    scheduled = await wait_for(
        lambda: stack.campaign(NS, NAME), timeout=TIMEOUT, message="not Scheduled",
        until=lambda c: c.get("status", {}).get("phase") == "Scheduled")
    assert scheduled["status"]["nextRunTime"] == tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert not await kube.list(API_VERSION, "CampaignRun", NS)

    move_clock(stack, clock, tick - LEAD)
    run1 = await run_done(stack, f"{NAME}-{int(tick.timestamp()) // 60}")
    counters_add_up(run1["status"])
    assert run1["status"]["counters"]["total"] == 6
    assert run1["status"]["counters"]["suppressed"] == 1  # dedupe, within the run
    assert run1["status"]["counters"]["delivered"] == 5
    owner = run1["metadata"]["ownerReferences"][0]
    campaign = await stack.campaign(NS, NAME)
    assert (owner["kind"], owner["uid"]) == ("Campaign", campaign["metadata"]["uid"])
    assert run1["spec"]["scheduledTime"] == tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    jobs = {j["metadata"]["name"]: j for j in await kube.list("batch/v1", "Job", NS)}
    sender = jobs[f"{run1['metadata']['name']}-send"]
    assert sender["metadata"]["ownerReferences"][0]["kind"] == "CampaignRun"
    assert sender["metadata"]["ownerReferences"][0]["uid"] == run1["metadata"]["uid"]

    # The list changes; the next run reads it again.
    await kube.patch("v1", "ConfigMap", NS, "customers",
                     {"data": {"customers.csv": customers(second)}})
    after_first = await wait_for(
        lambda: stack.campaign(NS, NAME), timeout=TIMEOUT, message="last run not shown",
        until=lambda c: (c.get("status", {}).get("lastRun") or {}).get("phase") == "Completed"
        and c["status"].get("phase") == "Scheduled")
    assert after_first["status"]["lastRun"]["name"] == run1["metadata"]["name"]
    assert after_first["status"]["counters"]["delivered"] == 5
    next_tick = tick + timedelta(days=1)
    assert after_first["status"]["nextRunTime"] == next_tick.strftime("%Y-%m-%dT%H:%M:%SZ")

    move_clock(stack, clock, next_tick - LEAD)
    run2 = await run_done(stack, f"{NAME}-{int(next_tick.timestamp()) // 60}")
    counters_add_up(run2["status"])
    assert run2["status"]["counters"]["total"] == 4
    assert run2["status"]["counters"]["delivered"] == 4

    # The simulator got both runs: each number of each run once, the shared one twice.
    sent = [m.destination for m in stack.simulator.accepted]
    wanted = sorted(f"86{n}" for n in first + second)
    assert sorted(d.lstrip("+") for d in sent) == wanted

    shown = await wait_for(
        lambda: stack.campaign(NS, NAME), timeout=TIMEOUT, message="second run not shown",
        until=lambda c: (c.get("status", {}).get("lastRun") or {}).get("name")
        == run2["metadata"]["name"] and c["status"]["lastRun"].get("phase") == "Completed")
    assert shown["status"]["counters"]["total"] == 4
    assert not shown["status"].get("activeRuns")
    assert shown["status"]["lastScheduleTime"] == next_tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    runs = await kube.list(API_VERSION, "CampaignRun", NS)
    assert sorted(r["metadata"]["name"] for r in runs) == sorted(
        [run1["metadata"]["name"], run2["metadata"]["name"]])
    await events_include(stack, shown, "RunStarted")

    # Deleting the Campaign deletes its runs, and their runs in Redis.
    await kube.delete(API_VERSION, "Campaign", NS, NAME)
    await wait_for(lambda: kube.list(API_VERSION, "CampaignRun", NS), timeout=TIMEOUT,
                   message="runs outlived their Campaign", until=lambda rs: rs == [])
    assert stack.operator is not None
    redis = stack.operator.memo.context.redis
    keys = [CampaignKeys(NS, body["metadata"]["name"]).run for body in (run1, run2)]

    async def runs_in_redis() -> int:
        return int(await redis.exists(*keys))

    await wait_for(runs_in_redis, timeout=TIMEOUT, message="a run's Redis keys stayed",
                   until=lambda n: n == 0)


async def test_a_bad_cron_is_a_condition_and_runs_nothing(stack: Stack) -> None:
    await stack.kube.create(recurring("0 25 * * *"))
    pending = await wait_for(
        lambda: stack.campaign(NS, NAME), timeout=TIMEOUT, message="no InvalidSchedule",
        until=lambda c: any(k["type"] == "Ready" and k["reason"] == "InvalidSchedule"
                            for k in c.get("status", {}).get("conditions", [])))
    ready = next(k for k in pending["status"]["conditions"] if k["type"] == "Ready")
    assert ready["status"] == "False" and "out of range" in ready["message"]
    assert "nextRunTime" not in pending["status"]
    await events_include(stack, pending, "InvalidSchedule")
    events = await stack.kube.events_for(pending)
    assert ("Warning", "InvalidSchedule") in {(e["type"], e["reason"]) for e in events}
    assert await stack.kube.list(API_VERSION, "CampaignRun", NS) == []


async def test_pause_and_cancel_pass_to_the_active_run(stack: Stack, clock: Clock) -> None:
    kube = stack.kube
    body = recurring("*/5 * * * *")
    body["spec"]["templateRef"] = {"name": "not-yet"}  # the run waits, Pending, for it
    await kube.create(body)
    tick = await wait_for(lambda: stack.campaign(NS, NAME), timeout=TIMEOUT,
                          message="no next run", until=lambda c: c.get("status", {}).get(
                              "nextRunTime"))
    at = datetime.fromisoformat(tick["status"]["nextRunTime"].replace("Z", "+00:00"))
    move_clock(stack, clock, at - LEAD)
    run = f"{NAME}-{int(at.timestamp()) // 60}"
    stalled = await wait_for(
        lambda: stack.campaign(NS, NAME), timeout=TIMEOUT, message="run not mirrored",
        until=lambda c: any(k["type"] == "Stalled" and k["status"] == "True"
                            and k["reason"] == "TemplateNotFound"
                            for k in c.get("status", {}).get("conditions", [])))
    assert stalled["status"]["phase"] == "Pending"
    assert [r["name"] for r in stalled["status"]["activeRuns"]] == [run]

    await kube.patch(API_VERSION, "Campaign", NS, NAME, {"spec": {"paused": True}})
    await wait_for(lambda: kube.get(API_VERSION, "CampaignRun", NS, run), timeout=TIMEOUT,
                   message="run not paused", until=lambda r: r["spec"]["paused"] is True)
    paused = await stack.wait_for_phase(NS, NAME, "Paused", timeout=TIMEOUT)
    assert "nextRunTime" not in paused["status"]

    await kube.patch(API_VERSION, "Campaign", NS, NAME, {"spec": {"cancel": True}})
    cancelled = await wait_for(
        lambda: kube.get(API_VERSION, "CampaignRun", NS, run), timeout=TIMEOUT,
        message="run not cancelled", until=lambda r: r["spec"]["cancel"] is True
        and r.get("status", {}).get("phase") == "Cancelled")
    assert cancelled["status"]["message"] == "cancelled before it started"
    done = await wait_for(
        lambda: stack.campaign(NS, NAME), timeout=TIMEOUT, message="campaign not cancelled",
        until=lambda c: any(k["type"] == "Ready" and k["reason"] == "Cancelled"
                            for k in c.get("status", {}).get("conditions", [])))
    assert done["status"]["phase"] == "Cancelled" and not done["status"].get("activeRuns")
