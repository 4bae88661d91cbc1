"""A recurring Campaign's decisions: which run to start, cancel, skip or delete. Pure.

A recurring Campaign (spec.schedule.recurrence set) never imports or sends: at each tick
of its cron it creates a CampaignRun (crds.campaign_run), a snapshot of its spec, and
the operator runs that through the one-shot plan (campaign_plan) like any Campaign.
Like a CronJob with its Jobs, `plan_recurrence` looks at the runs it owns and the clock:

    schedule invalid      -> Ready False, InvalidSchedule; no run
    cancel                -> cancel the active runs; Cancelled once none is active
    paused                -> pause the active runs; ticks wait (missed, see below)
    a tick is due         -> the latest tick since the last one taken, only:
        later than startingDeadlineSeconds -> skipped, MissedSchedule
        a run is active, Forbid            -> skipped, RunSkipped
        a run is active, Replace           -> the active runs cancelled, a new one
        otherwise                          -> a new run, RunStarted
    always                -> finished runs past the history limits deleted

Level-based like the rest: the tick taken is in status.lastScheduleTime, and a run that
exists for the due tick counts as started (the operator stopped between creating it
and writing status).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controllers.decisions import reasons
from controllers.decisions.campaign_jobs import child_name, label_value
from controllers.decisions.campaign_world import FOLD_SECONDS
from controllers.decisions.cron_ticks import InvalidCron, cron_error, latest_tick, next_tick
from controllers.decisions.events import Event
from controllers.decisions.unimplemented import campaign_ignored, with_ignored
from crds.base import API_VERSION, Condition, ConditionStatus, find_condition, set_condition
from crds.campaign import (
    Campaign,
    CampaignPhase,
    CampaignStatus,
    ConcurrencyPolicy,
    RunReference,
)
from crds.campaign_run import CAMPAIGN_LABEL, CampaignRun

WAITING_SECONDS = 30.0
"""At most this long between reconciles of a recurring campaign between runs (it wakes
at its next tick, and a spec change wakes it at once)."""
CANCELLED_SECONDS = 60.0
EPSILON = timedelta(microseconds=1)
LIVE_PHASES = (CampaignPhase.PENDING, CampaignPhase.SCHEDULED, CampaignPhase.IMPORTING,
               CampaignPhase.RUNNING, CampaignPhase.PAUSED, CampaignPhase.PLANNED)


@dataclass(frozen=True)
class CampaignRunSeen:
    """One CampaignRun the Campaign owns, as kopf's index holds it."""

    name: str
    scheduled_time: datetime
    finished: CampaignPhase | None = None
    """Completed, Failed or Cancelled once it ended (from its Ready reason); None while
    it runs."""
    paused: bool = False
    cancel: bool = False
    status: CampaignStatus = field(default_factory=CampaignStatus)


@dataclass(frozen=True)
class RecurrenceWorld:
    now: datetime
    runs: Sequence[CampaignRunSeen] = ()
    created: datetime | None = None
    """The Campaign's creationTimestamp: ticks before it are not missed ones."""


@dataclass(frozen=True)
class RecurrencePlan:
    status: CampaignStatus
    events: tuple[Event, ...] = ()
    create: tuple[dict[str, Any], ...] = ()
    """CampaignRuns to create (if absent)."""
    patch: tuple[tuple[str, dict[str, Any]], ...] = ()
    """(CampaignRun name, merge patch of its spec): paused and cancel."""
    delete: tuple[str, ...] = ()
    """Finished CampaignRuns past the history limits."""
    requeue_after_seconds: float = WAITING_SECONDS


@dataclass
class _Tick:
    """What the due tick led to."""

    taken: datetime | None = None
    create: dict[str, Any] | None = None
    replace: tuple[str, ...] = ()
    events: list[Event] = field(default_factory=list)


def run_name(campaign: str, scheduled: datetime) -> str:
    """`<campaign>-<tick in unix minutes>`, as a CronJob names its Jobs; at most 63
    characters (its Jobs and labels derive from it)."""
    return child_name(campaign, str(int(scheduled.timestamp()) // 60))


def build_campaign_run(campaign: Campaign, scheduled: datetime) -> dict[str, Any]:
    """The CampaignRun for a tick: the Campaign's spec now, without recurrence or
    startTime, owned by the Campaign."""
    meta = campaign.metadata
    spec = campaign.spec.to_api()
    schedule = dict(spec.get("schedule", {}))
    schedule.pop("startTime", None)
    schedule["recurrence"] = ""
    spec |= {"schedule": schedule, "paused": False, "cancel": False,
             "scheduledTime": scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {
        "apiVersion": API_VERSION,
        "kind": CampaignRun.KIND,
        "metadata": {
            "name": run_name(meta.name, scheduled),
            "namespace": meta.namespace,
            "labels": {"app.kubernetes.io/name": "herald",
                       "app.kubernetes.io/managed-by": "herald-operator",
                       CAMPAIGN_LABEL: label_value(meta.name)},
            "ownerReferences": [{
                "apiVersion": API_VERSION, "kind": "Campaign", "name": meta.name,
                "uid": meta.uid or "", "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": spec,
    }


def history_to_delete(runs: Sequence[CampaignRunSeen], successful: int, failed: int
                      ) -> tuple[str, ...]:
    """Finished runs beyond the newest `successful` Completed ones and the newest
    `failed` Failed or Cancelled ones."""
    done = sorted((r for r in runs if r.finished is not None),
                  key=lambda r: r.scheduled_time, reverse=True)
    kept_ok = [r for r in done if r.finished == CampaignPhase.COMPLETED][:successful]
    kept_bad = [r for r in done if r.finished != CampaignPhase.COMPLETED][:failed]
    kept = {r.name for r in (*kept_ok, *kept_bad)}
    return tuple(sorted(r.name for r in done if r.name not in kept))


def first_considered(campaign: Campaign, world: RecurrenceWorld) -> datetime:
    """Ticks after this instant count: after the last one taken, else after the
    Campaign's creation (and at or after schedule.startTime)."""
    since = campaign.status.last_schedule_time or world.created or world.now
    start = campaign.spec.schedule.start_time
    if start is not None and start - EPSILON > since:
        since = start - EPSILON
    return since


def due_tick(campaign: Campaign, world: RecurrenceWorld) -> datetime | None:
    """The latest tick not yet taken, if one came; earlier missed ones are dropped."""
    schedule = campaign.spec.schedule
    try:
        tick = latest_tick(schedule.recurrence, schedule.time_zone, world.now)
    except InvalidCron:  # no tick in the past: none is due
        return None
    return tick if tick > first_considered(campaign, world) else None


def decide_tick(campaign: Campaign, world: RecurrenceWorld, tick: datetime) -> _Tick:
    """What the due tick does: missed, skipped, or a new run (replacing the active)."""
    schedule = campaign.spec.schedule
    when = tick.isoformat()
    late = (world.now - tick).total_seconds()
    deadline = schedule.starting_deadline_seconds
    if deadline is not None and late > deadline:
        return _Tick(taken=tick, events=[Event("Warning", reasons.MISSED_SCHEDULE, (
            f"the run for {when} was not started: {late:.0f}s late, past"
            f" startingDeadlineSeconds ({deadline})"))])
    name = run_name(campaign.metadata.name, tick)
    if any(r.name == name for r in world.runs):  # created before the status write
        return _Tick(taken=tick)
    active = sorted(r.name for r in world.runs if r.finished is None)
    policy = schedule.concurrency_policy
    if active and policy == ConcurrencyPolicy.FORBID:
        return _Tick(taken=tick, events=[Event("Normal", reasons.RUN_SKIPPED, (
            f"the run for {when} was skipped: {', '.join(active)} is still active"
            " (concurrencyPolicy Forbid)"))])
    events = [Event("Normal", reasons.RUN_STARTED, f"started run {name} for {when}")]
    replace: tuple[str, ...] = ()
    if active and policy == ConcurrencyPolicy.REPLACE:
        replace = tuple(active)
        events.append(Event("Normal", reasons.RUN_REPLACED, (
            f"cancelling {', '.join(active)} for {name} (concurrencyPolicy Replace)")))
    return _Tick(taken=tick, create=build_campaign_run(campaign, tick), replace=replace,
                 events=events)


def plan_recurrence(campaign: Campaign, world: RecurrenceWorld) -> RecurrencePlan:
    spec, old = campaign.spec, campaign.status
    schedule = spec.schedule
    error = cron_error(schedule.recurrence, schedule.time_zone, world.now)
    tick = _Tick()
    if error is None and not spec.cancel and not spec.paused:
        due = due_tick(campaign, world)
        if due is not None:
            tick = decide_tick(campaign, world, due)
    patches = []
    for run in world.runs:
        if run.finished is not None or run.cancel:
            continue
        if spec.cancel or run.name in tick.replace:
            patches.append((run.name, {"cancel": True}))
        elif run.paused != spec.paused:
            patches.append((run.name, {"paused": spec.paused}))
    limits = (schedule.successful_runs_history_limit, schedule.failed_runs_history_limit)
    status = _status(campaign, world, tick, error)
    # What an older operator said it ignored (recurrence itself, once) goes.
    status.conditions, ignored = with_ignored(status.conditions, campaign_ignored(spec),
                                              campaign.metadata.generation, world.now)
    events = [*_ready_events(old, status), *tick.events, *ignored]
    active = bool(status.active_runs)
    if active:
        requeue = FOLD_SECONDS
    elif spec.cancel:
        requeue = CANCELLED_SECONDS
    elif status.next_run_time is not None:
        requeue = min(WAITING_SECONDS,
                      max(FOLD_SECONDS, (status.next_run_time - world.now).total_seconds()))
    else:
        requeue = WAITING_SECONDS
    return RecurrencePlan(
        status=status, events=tuple(events),
        create=(tick.create,) if tick.create is not None else (),
        patch=tuple(patches), delete=history_to_delete(world.runs, *limits),
        requeue_after_seconds=requeue)


def _reference(run: CampaignRunSeen) -> RunReference:
    return RunReference(name=run.name, phase=run.status.phase or CampaignPhase.PENDING,
                        scheduled_time=run.scheduled_time,
                        completion_time=run.status.completion_time)


def _status(campaign: Campaign, world: RecurrenceWorld, tick: _Tick, error: str | None
            ) -> CampaignStatus:
    spec, old = campaign.spec, campaign.status
    runs = list(world.runs)
    if tick.create is not None and not any(r.name == tick.create["metadata"]["name"]
                                           for r in runs):
        assert tick.taken is not None
        runs.append(CampaignRunSeen(name=tick.create["metadata"]["name"],
                                    scheduled_time=tick.taken))
    runs.sort(key=lambda r: r.scheduled_time)
    active = [r for r in runs if r.finished is None]
    last = runs[-1] if runs else None
    new = old.model_copy(deep=True)
    new.observed_generation = campaign.metadata.generation
    new.last_schedule_time = tick.taken or old.last_schedule_time
    new.last_run = _reference(last) if last is not None else None
    new.active_runs = [_reference(r) for r in active]
    if last is not None:
        new.counters = last.status.counters
        new.progress_percent = last.status.progress_percent
        new.delivery_ratio = last.status.delivery_ratio
        new.submit_rate_per_second = last.status.submit_rate_per_second
    new.next_run_time = None
    if error is None and not spec.cancel and not spec.paused:
        try:
            after = max(world.now, new.last_schedule_time or world.now,
                        first_considered(campaign, world))
            new.next_run_time = next_tick(spec.schedule.recurrence, spec.schedule.time_zone,
                                          after)
        except InvalidCron:  # cron_error checked it from now on: not reached
            new.next_run_time = None
    running = active[-1] if active else None
    stalled_by = find_condition(running.status.conditions, "Stalled") if running else None
    stalled = stalled_by is not None and stalled_by.status == ConditionStatus.TRUE
    if error is not None:
        phase, ready, reason, message = (CampaignPhase.PENDING, False, reasons.INVALID_SCHEDULE,
                                         error)
    elif spec.cancel:
        phase, ready = CampaignPhase.CANCELLED, False
        reason = reasons.CANCELLING if active else reasons.CANCELLED
        message = (f"cancelling {', '.join(r.name for r in active)}" if active
                   else "cancelled: no more runs")
        if not active:
            new.completion_time = new.completion_time or world.now
    elif spec.paused:
        phase, ready, reason = CampaignPhase.PAUSED, False, reasons.PAUSED
        message = "paused: no new runs, active ones paused; set spec.paused to false to resume"
    elif running is not None:
        phase = running.status.phase or CampaignPhase.PENDING
        if phase not in LIVE_PHASES:  # a replaced run, cancelling
            phase = CampaignPhase.RUNNING
        ready, reason = True, reasons.RUN_ACTIVE
        message = f"run {running.name} is {phase.value}"
        if running.status.message:
            message += f": {running.status.message}"
    else:
        phase, ready, reason = CampaignPhase.SCHEDULED, True, reasons.SCHEDULED
        message = "waiting for the next tick"
    if new.next_run_time is not None:
        message += f"; next run at {new.next_run_time.isoformat()}"
    new.phase, new.message = phase, message
    finished = [r for r in runs if r.finished is not None]
    failed = bool(finished) and finished[-1].finished == CampaignPhase.FAILED

    def condition(type_: str, holds: bool, why: str, text: str) -> Condition:
        return Condition(type=type_, status=ConditionStatus.TRUE if holds
                         else ConditionStatus.FALSE,
                         observed_generation=campaign.metadata.generation,
                         last_transition_time=world.now, reason=why, message=text)

    conditions = old.conditions
    for item in (
        condition("Ready", ready, reason, message),
        condition("Progressing", bool(active), reasons.RUN_ACTIVE if active else reason,
                  message),
        condition("Stalled", error is not None or stalled,
                  reason if error is not None else (
                      stalled_by.reason if stalled and stalled_by else reasons.NOT_STALLED),
                  message if error is not None else (
                      f"run {running.name}: {stalled_by.message}"
                      if stalled and running and stalled_by else "")),
        condition("Degraded", failed,
                  reasons.LAST_RUN_FAILED if failed else reasons.LAST_RUN_SUCCEEDED,
                  f"run {finished[-1].name} failed: {finished[-1].status.message or ''}"
                  if failed else ""),
    ):
        conditions = set_condition(conditions, item)
    new.conditions = conditions
    return new


def _ready_events(old: CampaignStatus, new: CampaignStatus) -> list[Event]:
    was = find_condition(old.conditions, "Ready")
    ready = find_condition(new.conditions, "Ready")
    if ready is None or (was is not None and was.reason == ready.reason):
        return []
    warning = ready.reason == reasons.INVALID_SCHEDULE
    return [Event("Warning" if warning else "Normal", ready.reason,
                  ready.message or ready.reason)]
