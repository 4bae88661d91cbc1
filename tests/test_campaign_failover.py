"""Which channels a run passes over as their readiness changes (controllers.decisions.
campaign_failover), and the plan writing it to the run with its Events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controllers.decisions import reasons
from controllers.decisions.campaign_failover import channel_availability
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.campaign_world import ChannelSeen, RunSeen
from crds.campaign import Counters
from crds.channel import ChannelSpec
from tests.test_campaign_plan import CHANNEL_SPEC, SETTINGS, campaign, run_of, world

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
AFTER = CHANNEL_SPEC.retry.failover_after_seconds


def seen(ready: bool, down_for: int = 0, spec: ChannelSpec = CHANNEL_SPEC) -> ChannelSeen:
    return ChannelSeen(spec, ready=ready, reason="" if ready else "BindFailed",
                       not_ready_since=None if ready else NOW - timedelta(seconds=down_for))


NEVER = CHANNEL_SPEC.model_copy(update={"retry": CHANNEL_SPEC.retry.model_copy(
    update={"failover_after_seconds": 0})})


@pytest.mark.parametrize("channels, before, after, events, wake", [
    pytest.param({"a": seen(True), "b": seen(True)}, [], [], [], None, id="all-ready"),
    pytest.param({"a": seen(False, AFTER - 10), "b": seen(True)}, [], [], [],
                 NOW + timedelta(seconds=10), id="not-ready-not-yet-long-enough"),
    pytest.param({"a": seen(False, AFTER), "b": seen(True)}, [], ["a"],
                 [reasons.CHANNEL_FAILED_OVER], None, id="fails-over"),
    pytest.param({"a": seen(False, AFTER * 9), "b": seen(True)}, ["a"], ["a"], [], None,
                 id="stays-failed-over-quietly"),
    pytest.param({"a": seen(True), "b": seen(True)}, ["a"], [],
                 [reasons.CHANNEL_RECOVERED], None, id="recovers"),
    pytest.param({"b": seen(True)}, [], ["a"], [reasons.CHANNEL_FAILED_OVER], None,
                 id="deleted"),
    pytest.param({"a": seen(False, AFTER * 9, NEVER), "b": seen(True)}, [], [], [], None,
                 id="failover-after-zero-never"),
])
def test_channel_availability(channels: dict[str, ChannelSeen], before: list[str],
                              after: list[str], events: list[str],
                              wake: datetime | None) -> None:
    two = campaign(channels=[{"name": "a"}, {"name": "b"}])
    config = run_of(two).config
    config = config.model_copy(update={"channels": [
        config.channels[0].model_copy(update={"name": name}) for name in ("a", "b")],
        "unavailable": before})
    found = channel_availability(config, channels, NOW)
    assert (found.unavailable, [e.reason for e in found.events], found.wake_at) == (
        after, events, wake)


def test_the_plan_writes_a_failed_over_channel_to_the_run_once() -> None:
    two = campaign(channels=[{"name": "a"}, {"name": "b"}])
    run = run_of(two, Counters(total=10, queued=10), import_done=True)
    config = run.config.model_copy(update={"channels": [
        run.config.channels[0].model_copy(update={"name": name}) for name in ("a", "b")]})
    down = {"a": seen(False, AFTER + 1), "b": seen(True)}

    plan = plan_campaign(two, world(channels=down, run=RunSeen(
        config=config, counters=run.counters, import_done=True), now=NOW), SETTINGS)
    assert plan.actions.write_run is not None and plan.actions.write_run.unavailable == ["a"]
    assert reasons.CHANNEL_FAILED_OVER in [e.reason for e in plan.events]

    failed_over = config.model_copy(update={"unavailable": ["a"]})
    again = plan_campaign(two, world(channels=down, run=RunSeen(
        config=failed_over, counters=run.counters, import_done=True), now=NOW), SETTINGS)
    assert again.actions.write_run is None or again.actions.write_run.unavailable == ["a"]
    assert reasons.CHANNEL_FAILED_OVER not in [e.reason for e in again.events]
