"""A recurring Campaign's decisions without I/O: cron ticks in a time zone (DST edges
included), missed ticks against startingDeadlineSeconds, concurrency policies, history
limits, pause and cancel, and the status it shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controllers.decisions import reasons
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.campaign_recurrence import (
    CampaignRunSeen,
    RecurrencePlan,
    RecurrenceWorld,
    build_campaign_run,
    history_to_delete,
    plan_recurrence,
    run_name,
)
from controllers.decisions.campaign_world import AudienceSeen
from controllers.decisions.cron_ticks import latest_tick, next_tick
from controllers.decisions.unimplemented import IGNORED_FIELDS, with_ignored
from crds.base import find_condition
from crds.campaign import Campaign, CampaignPhase, CampaignStatus, Counters
from crds.campaign_run import CAMPAIGN_LABEL, CampaignRun
from sender.sms.audience_filter import compile_filter
from tests.test_campaign_plan import SETTINGS, example, world

NY, SHANGHAI = "America/New_York", "Asia/Shanghai"


def local(text: str, zone: str) -> datetime:
    """A wall-clock time in a zone; `+1` after it picks the second of a repeated time."""
    wall, _, fold = text.partition("+")
    placed = datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone), fold=int(fold or 0))
    return placed.astimezone(UTC)  # a repeated time compares equal to nothing in UTC


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- ticks -----------------------------------------------------------------------------

@pytest.mark.parametrize("cron, zone, after, expected", [
    pytest.param("0 10 * * *", SHANGHAI, utc("2026-12-02T01:00"), utc("2026-12-02T02:00"),
                 id="daily-in-shanghai"),
    pytest.param("0 10 * * *", SHANGHAI, utc("2026-12-02T02:00"), utc("2026-12-03T02:00"),
                 id="strictly-after"),
    pytest.param("@daily", SHANGHAI, utc("2026-12-02T17:00"), utc("2026-12-03T16:00"),
                 id="macro-at-local-midnight"),
    pytest.param("0 10 * * 1", "UTC", utc("2026-12-02T00:00"), utc("2026-12-07T10:00"),
                 id="weekly-monday"),
    # 2026-03-08: New York skips 02:00-03:00. 02:30 lands at 03:30 the new time.
    pytest.param("30 2 * * *", NY, local("2026-03-07T12:00", NY),
                 local("2026-03-08T03:30", NY), id="skipped-time-runs-after-the-gap"),
    pytest.param("30 2 * * *", NY, local("2026-03-08T03:10", NY),
                 local("2026-03-08T03:30", NY), id="skipped-time-seen-from-after-the-change"),
    pytest.param("30 2 * * *", NY, local("2026-03-08T03:30", NY),
                 local("2026-03-09T02:30", NY), id="skipped-time-once"),
    pytest.param("30 * * * *", NY, local("2026-03-08T01:30", NY),
                 local("2026-03-08T03:30", NY), id="hourly-across-the-gap"),
    pytest.param("30 * * * *", NY, local("2026-03-08T03:30", NY),
                 local("2026-03-08T04:30", NY), id="hourly-gap-tick-not-twice"),
    # 2026-11-01: New York has 01:00-02:00 twice. A daily 01:30 runs once, the first.
    pytest.param("30 1 * * *", NY, local("2026-10-31T12:00", NY),
                 local("2026-11-01T01:30", NY), id="repeated-time-first-occurrence"),
    pytest.param("30 1 * * *", NY, local("2026-11-01T01:30", NY),
                 local("2026-11-02T01:30", NY), id="repeated-time-not-twice"),
    pytest.param("50 1 * * *", NY, local("2026-11-01T01:45+1", NY),
                 local("2026-11-02T01:50", NY), id="from-inside-the-repeated-hour"),
    pytest.param("0 * * * *", NY, local("2026-11-01T01:00", NY),
                 local("2026-11-01T02:00", NY), id="hourly-skips-the-repeated-hour"),
    pytest.param("30 2 * * 0", "Europe/Berlin", local("2026-03-28T12:00", "Europe/Berlin"),
                 local("2026-03-29T03:30", "Europe/Berlin"), id="berlin-spring-forward"),
])
def test_next_tick(cron: str, zone: str, after: datetime, expected: datetime) -> None:
    assert next_tick(cron, zone, after) == expected


@pytest.mark.parametrize("cron, zone, at, expected", [
    pytest.param("0 10 * * *", SHANGHAI, utc("2026-12-02T02:00"), utc("2026-12-02T02:00"),
                 id="at-the-tick"),
    pytest.param("0 10 * * *", SHANGHAI, utc("2026-12-05T01:00"), utc("2026-12-04T02:00"),
                 id="after-an-outage-the-latest-only"),
    pytest.param("30 2 * * *", NY, local("2026-03-08T03:10", NY),
                 local("2026-03-07T02:30", NY), id="skipped-time-not-yet"),
    pytest.param("30 2 * * *", NY, local("2026-03-08T03:40", NY),
                 local("2026-03-08T03:30", NY), id="skipped-time-came"),
    pytest.param("50 1 * * *", NY, local("2026-11-01T01:15+1", NY),
                 local("2026-11-01T01:50", NY), id="repeated-hour-its-first-pass"),
])
def test_latest_tick(cron: str, zone: str, at: datetime, expected: datetime) -> None:
    assert latest_tick(cron, zone, at) == expected


# -- the plan ----------------------------------------------------------------------------

TICK = utc("2026-12-02T02:00")  # 10:00 in Shanghai, the birthday example's tick
CREATED = utc("2026-12-01T12:00")  # after the day before's tick


def recurring(status: CampaignStatus | None = None, **schedule: Any) -> Campaign:
    body = example("campaign-birthday.yaml")
    body["metadata"] |= {"namespace": "default", "uid": "uid-1", "generation": 1}
    body["spec"]["schedule"] |= schedule
    found = Campaign.model_validate(body)
    return found.model_copy(update={"status": status or CampaignStatus()})


def taken(tick: datetime) -> CampaignStatus:
    return CampaignStatus(last_schedule_time=tick)


def run(tick: datetime, finished: CampaignPhase | None = None, **fields: Any
        ) -> CampaignRunSeen:
    return CampaignRunSeen(name=run_name("birthday-greetings", tick), scheduled_time=tick,
                           finished=finished, **fields)


def plan(campaign: Campaign, now: datetime, *runs: CampaignRunSeen,
         created: datetime | None = CREATED) -> RecurrencePlan:
    return plan_recurrence(campaign, RecurrenceWorld(now=now, runs=runs, created=created))


def created_ticks(p: RecurrencePlan) -> list[str]:
    return [c["spec"]["scheduledTime"] for c in p.create]


def event_reasons(p: RecurrencePlan) -> list[str]:
    return [e.reason for e in p.events]


def ready(p: RecurrencePlan) -> tuple[str, str]:
    condition = find_condition(p.status.conditions, "Ready")
    assert condition is not None
    return str(p.status.phase), condition.reason


@pytest.mark.parametrize("cron, zone, why", [
    pytest.param("61 * * * *", SHANGHAI, "out of range", id="minute-out-of-range"),
    pytest.param("0 10 * * mon-xyz", SHANGHAI, "not acceptable", id="bad-day-name"),
    pytest.param("0 0 31 2 *", SHANGHAI, "never fires", id="february-31"),
    pytest.param("0 10 * * *", "Asia/Atlantis", "not an IANA time zone", id="bad-zone"),
])
def test_a_bad_schedule_is_a_condition_and_starts_nothing(cron: str, zone: str, why: str
                                                          ) -> None:
    p = plan(recurring(recurrence=cron, timeZone=zone), TICK + timedelta(seconds=1))
    assert ready(p) == ("Pending", reasons.INVALID_SCHEDULE)
    condition = find_condition(p.status.conditions, "Ready")
    assert condition is not None and why in condition.message
    stalled = find_condition(p.status.conditions, "Stalled")
    assert stalled is not None and stalled.status == "True"
    assert p.create == () and p.status.next_run_time is None
    assert [(e.type, e.reason) for e in p.events] == [("Warning", reasons.INVALID_SCHEDULE)]


TICK_EVENTS = {reasons.RUN_STARTED, reasons.RUN_SKIPPED, reasons.MISSED_SCHEDULE,
               reasons.RUN_REPLACED}


def iso(tick: datetime) -> str:
    return tick.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("campaign, now, created, started, event", [
    pytest.param(recurring(), TICK - timedelta(seconds=1), CREATED, [], None,
                 id="before-the-tick"),
    pytest.param(recurring(), TICK + timedelta(seconds=1), CREATED, [iso(TICK)],
                 reasons.RUN_STARTED, id="on-time"),
    pytest.param(recurring(startingDeadlineSeconds=60), TICK + timedelta(seconds=59), CREATED,
                 [iso(TICK)], reasons.RUN_STARTED, id="late-within-the-deadline"),
    pytest.param(recurring(startingDeadlineSeconds=60), TICK + timedelta(seconds=61), CREATED,
                 [], reasons.MISSED_SCHEDULE, id="past-the-deadline"),
    pytest.param(recurring(startingDeadlineSeconds=None), TICK + timedelta(days=3, hours=1),
                 CREATED, [iso(TICK + timedelta(days=3))], reasons.RUN_STARTED,
                 id="long-outage-no-deadline-only-the-latest"),
    pytest.param(recurring(startingDeadlineSeconds=3600, status=taken(TICK)),
                 TICK + timedelta(days=3, hours=2), CREATED, [], reasons.MISSED_SCHEDULE,
                 id="long-outage-latest-past-the-deadline"),
    pytest.param(recurring(status=taken(TICK)), TICK + timedelta(hours=1), CREATED, [], None,
                 id="tick-already-taken"),
    pytest.param(recurring(), TICK + timedelta(seconds=5), TICK + timedelta(seconds=2), [],
                 None, id="tick-before-the-campaign-existed"),
    pytest.param(recurring(startTime="2026-12-03T02:00:00Z"), TICK + timedelta(seconds=5),
                 CREATED, [], None, id="before-start-time"),
    pytest.param(recurring(startTime="2026-12-03T02:00:00Z", status=taken(
                     TICK - timedelta(days=1))), TICK + timedelta(seconds=5), CREATED, [], None,
                 id="start-time-moved-later-holds-the-ticks"),
    pytest.param(recurring(startTime="2026-12-03T02:00:00Z"),
                 TICK + timedelta(days=1, seconds=5), CREATED,
                 [iso(TICK + timedelta(days=1))], reasons.RUN_STARTED,
                 id="start-time-on-a-tick-runs-it"),
])
def test_a_missed_tick(campaign: Campaign, now: datetime, created: datetime,
                       started: list[str], event: str | None) -> None:
    p = plan(campaign, now, created=created)
    assert created_ticks(p) == started
    assert [r for r in event_reasons(p) if r in TICK_EVENTS] == ([event] if event else [])
    if event == reasons.MISSED_SCHEDULE:
        assert p.status.last_schedule_time is not None
        assert [e.type for e in p.events if e.reason == event] == ["Warning"]


ACTIVE = run(TICK - timedelta(days=1))
DONE = run(TICK - timedelta(days=1), CampaignPhase.COMPLETED)
NOW = TICK + timedelta(seconds=1)


@pytest.mark.parametrize("policy, runs, started, patched, event", [
    pytest.param("Forbid", [], [iso(TICK)], [], reasons.RUN_STARTED, id="forbid-none-active"),
    pytest.param("Forbid", [DONE], [iso(TICK)], [], reasons.RUN_STARTED,
                 id="forbid-previous-finished"),
    pytest.param("Forbid", [ACTIVE], [], [], reasons.RUN_SKIPPED, id="forbid-skips"),
    pytest.param("Replace", [ACTIVE], [iso(TICK)], [(ACTIVE.name, {"cancel": True})],
                 reasons.RUN_REPLACED, id="replace-cancels-the-active"),
    pytest.param("Allow", [ACTIVE], [iso(TICK)], [], reasons.RUN_STARTED, id="allow-overlaps"),
    pytest.param("Forbid", [ACTIVE, run(TICK)], [], [], None,
                 id="run-of-this-tick-exists-already"),
])
def test_a_tick_while_a_run_is_active(policy: str, runs: list[CampaignRunSeen],
                                      started: list[str], patched: list[Any],
                                      event: str | None) -> None:
    p = plan(recurring(concurrencyPolicy=policy), NOW, *runs)
    assert created_ticks(p) == started
    assert list(p.patch) == patched
    assert p.status.last_schedule_time == TICK  # taken, whatever it led to
    assert (event in event_reasons(p)) if event else not (
        {reasons.RUN_STARTED, reasons.RUN_SKIPPED} & set(event_reasons(p)))


def day(n: int, finished: CampaignPhase | None) -> CampaignRunSeen:
    return run(TICK - timedelta(days=n), finished)


OK, BAD, GONE = CampaignPhase.COMPLETED, CampaignPhase.FAILED, CampaignPhase.CANCELLED


@pytest.mark.parametrize("runs, successful, failed, deleted", [
    pytest.param([day(1, OK), day(2, OK), day(3, OK), day(4, OK)], 3, 1, [4],
                 id="oldest-completed-goes"),
    pytest.param([day(1, BAD), day(2, GONE), day(3, OK)], 3, 1, [2],
                 id="cancelled-counts-as-failed"),
    pytest.param([day(1, None), day(2, OK), day(3, OK)], 1, 1, [3],
                 id="active-runs-never-go"),
    pytest.param([day(1, OK), day(2, BAD)], 0, 0, [1, 2], id="limits-zero"),
    pytest.param([day(1, OK), day(2, BAD)], 3, 1, [], id="within-limits"),
])
def test_history_limits(runs: list[CampaignRunSeen], successful: int, failed: int,
                        deleted: list[int]) -> None:
    names = [day(n, None).name for n in deleted]
    assert list(history_to_delete(runs, successful, failed)) == sorted(names)
    p = plan(recurring(successfulRunsHistoryLimit=successful,
                       failedRunsHistoryLimit=failed), TICK - timedelta(seconds=1), *runs)
    assert list(p.delete) == sorted(names)


def test_pause_holds_ticks_and_pauses_the_active_run() -> None:
    paused = recurring().model_copy(deep=True)
    paused.spec.paused = True
    p = plan(paused, NOW, ACTIVE)
    assert p.create == () and p.status.last_schedule_time is None
    assert list(p.patch) == [(ACTIVE.name, {"paused": True})]
    assert ready(p) == ("Paused", reasons.PAUSED) and p.status.next_run_time is None
    # Resumed within the deadline: the held tick runs late (Allow: the run overlaps).
    resumed = recurring(concurrencyPolicy="Allow", startingDeadlineSeconds=600)
    later = plan(resumed, TICK + timedelta(seconds=300),
                 run(ACTIVE.scheduled_time, paused=True))
    assert created_ticks(later) == [iso(TICK)]
    assert (ACTIVE.name, {"paused": False}) in later.patch


def test_cancel_cancels_the_active_runs_then_ends() -> None:
    cancelled = recurring().model_copy(deep=True)
    cancelled.spec.cancel = True
    p = plan(cancelled, NOW, ACTIVE, DONE)
    assert p.create == () and list(p.patch) == [(ACTIVE.name, {"cancel": True})]
    assert ready(p) == ("Cancelled", reasons.CANCELLING)
    gone = run(ACTIVE.scheduled_time, GONE, cancel=True)
    done = plan(cancelled.model_copy(update={"status": p.status}), NOW, gone)
    assert ready(done) == ("Cancelled", reasons.CANCELLED)
    assert done.patch == () and done.status.completion_time == NOW


def test_status_shows_the_last_run_and_the_next_tick() -> None:
    counters = Counters(total=3, delivered=2, sent=2, suppressed=1)
    last = run(TICK - timedelta(days=1), CampaignPhase.COMPLETED, status=CampaignStatus(
        phase=CampaignPhase.COMPLETED, counters=counters, delivery_ratio="100.0%",
        completion_time=TICK - timedelta(hours=23)))
    p = plan(recurring(status=taken(TICK - timedelta(days=1))), TICK - timedelta(hours=1),
             last)
    assert ready(p) == ("Scheduled", reasons.SCHEDULED)
    assert p.status.next_run_time == TICK
    assert p.status.last_run is not None and p.status.last_run.name == last.name
    assert p.status.last_run.phase == CampaignPhase.COMPLETED
    assert p.status.counters == counters and p.status.active_runs == []
    assert p.requeue_after_seconds == 30.0  # at most, between runs
    # At the tick: the new run is the last one, active; the campaign Running with it.
    started = plan(recurring(status=p.status), NOW, last)
    assert started.status.last_run is not None
    assert started.status.last_run.name == run_name("birthday-greetings", TICK)
    assert [r.name for r in started.status.active_runs] == [started.status.last_run.name]
    assert started.status.next_run_time == TICK + timedelta(days=1)
    assert started.status.phase == CampaignPhase.PENDING  # until the run says more
    assert started.requeue_after_seconds == 1.0
    running = run(TICK, status=CampaignStatus(phase=CampaignPhase.RUNNING, message="sending"))
    shown = plan(recurring(status=started.status), NOW + timedelta(seconds=5), last, running)
    assert ready(shown) == ("Running", reasons.RUN_ACTIVE)
    assert "sending" in (shown.status.message or "")
    failed = run(TICK, CampaignPhase.FAILED, status=CampaignStatus(message="no recipients"))
    degraded = plan(recurring(status=shown.status), NOW + timedelta(minutes=5), last, failed)
    condition = find_condition(degraded.status.conditions, "Degraded")
    assert condition is not None and condition.reason == reasons.LAST_RUN_FAILED


def test_a_run_is_the_campaign_at_its_tick() -> None:
    campaign = recurring(startTime="2026-12-01T00:00:00Z")
    body = build_campaign_run(campaign, TICK)
    parsed = CampaignRun.model_validate(body)
    assert parsed.metadata.name == "birthday-greetings-" + str(int(TICK.timestamp()) // 60)
    assert parsed.metadata.labels[CAMPAIGN_LABEL] == "birthday-greetings"
    assert body["metadata"]["ownerReferences"] == [{
        "apiVersion": "sms.herald.dev/v1alpha1", "kind": "Campaign",
        "name": "birthday-greetings", "uid": "uid-1", "controller": True,
        "blockOwnerDeletion": True}]
    assert parsed.spec.scheduled_time == TICK
    assert parsed.spec.schedule.recurrence == "" and parsed.spec.schedule.start_time is None
    assert parsed.spec.audience == campaign.spec.audience
    assert parsed.spec.template_ref == campaign.spec.template_ref
    # The one-shot plan runs it: its Jobs are owned by the run and named after it.
    as_campaign = Campaign.model_validate(body | {"metadata": body["metadata"] | {
        "uid": "run-uid", "generation": 1}})
    templates = {"birthday-greeting": world().templates["double-eleven"]}
    audience = {"customers.csv"}
    planned = plan_campaign(as_campaign, world(
        now=TICK + timedelta(seconds=1), templates=templates,
        audience=AudienceSeen(keys=frozenset(audience))), SETTINGS)
    (job,) = planned.actions.create
    assert job["metadata"]["name"] == f"{parsed.metadata.name}-import"
    assert job["metadata"]["ownerReferences"][0] | {"uid": ""} == {
        "apiVersion": "sms.herald.dev/v1alpha1", "kind": "CampaignRun",
        "name": parsed.metadata.name, "uid": "", "controller": True, "blockOwnerDeletion": True}
    assert planned.actions.write_run is not None
    assert planned.actions.write_run.campaign.name == parsed.metadata.name


def test_run_names_fit_a_label_whatever_the_campaign_name() -> None:
    name = run_name("a" * 253, TICK)
    assert len(name) <= 63 and name.endswith(str(int(TICK.timestamp()) // 60))
    assert run_name("a" * 253, TICK + timedelta(minutes=1)) != name


def test_the_ignored_recurrence_an_older_operator_named_goes() -> None:
    old, _ = with_ignored([], ["spec.schedule.recurrence"], 1, NOW)
    p = plan(recurring(status=CampaignStatus(conditions=old)), NOW - timedelta(hours=1))
    assert find_condition(p.status.conditions, IGNORED_FIELDS) is None
    assert reasons.NOT_YET_IMPLEMENTED not in event_reasons(p)


@pytest.mark.parametrize("born, greeted", [
    pytest.param("1990-12-02", True, id="born-today"),
    pytest.param("20001202", True, id="born-today-compact"),
    pytest.param("1990-12-03", False, id="tomorrow"),
    pytest.param("1990-12-01", False, id="yesterday"),
])
def test_the_birthday_example_greets_on_the_day(born: str, greeted: bool) -> None:
    """examples/campaign-birthday.yaml: a run at its 10:00 Shanghai tick keeps the rows
    whose `born` has its anniversary that day."""
    audience = recurring().spec.audience
    assert audience is not None
    types = {v.name: v.type for v in audience.columns.variables}
    predicate = compile_filter(audience.filter, types, recurring().spec.schedule.time_zone,
                               lambda: TICK)
    assert predicate is not None
    assert predicate({"name": "n", "born": born}) is greeted
