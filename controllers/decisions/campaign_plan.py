"""Campaign decisions: from (spec, status, observed world) to status, children and Events.

Pure: no kopf, kubernetes or redis. The handler in `controllers.campaign` observes the
world (templates, channels, the campaign's Jobs, its run in Redis), calls
`plan_campaign`, and applies the plan. It runs every second for a running campaign
(less often for a finished one: `requeue_after`) and on restart, so every decision is
level-based: the plan says what should exist and be
true now, never "what to do next after the last step".

The run, in the order the checks below follow:

    cancel requested      -> stop the Jobs, mark what is left `cancelled`  -> Cancelled
    no run in Redis yet   -> wait for approved templates, a Ready channel and the
                             audience's ConfigMap or Secret (Pending),
                             for schedule.startTime (Scheduled), for the send window;
                             then write the run's config and create the importer Job
    importing             -> Importing, until the importer marks the import done
                             (its Job failing for good                     -> Failed)
    nothing to send       -> Failed (NoValidRecipients)
    spec.dryRun           -> no sender Job: Planned (DryRun) with status.plan, until
                             dryRun turns false (then on as below, no new import)
    sending               -> the Indexed sender Job, suspended while paused or
                             outside the send window (Running/Paused/Scheduled)
                             (its Job failing for good                     -> Failed)
    sender Job complete   -> Completed
    ... with spec.winner  -> the test group was sent: wait decideAfterSeconds, choose
                             the winner into the run's config (Running, AwaitingWinner),
                             then the winner's sender Job sends the rest -> Completed

Once final (Completed, Failed, Cancelled) a campaign stays so; its counters keep
folding while late receipts come in, its spec.export is written (campaign_export), and
its Redis keys go after the retention (not before the export is written or failed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controllers.decisions import campaign_stats as stats
from controllers.decisions import reasons
from controllers.decisions.campaign_audience import (
    RECHECK_SECONDS,
    audience_problem,
    suppression_problem,
)
from controllers.decisions.campaign_export import plan_export
from controllers.decisions.campaign_failover import channel_availability
from controllers.decisions.campaign_guard import (
    RESUME_HINT,
    auto_pause_config,
    canary_due,
    canary_run,
    canary_waiting,
    figures_of,
    guard_conditions,
    judge_canary,
    may_resume,
)
from controllers.decisions.campaign_jobs import (
    Owner,
    build_import_job,
    build_sender_job,
)
from controllers.decisions.campaign_presend import PlanInputs, presend_plan
from controllers.decisions.campaign_run import (
    build_run_config,
    frozen_changes,
    send_times,
    template_names,
)
from controllers.decisions.campaign_trigger import (
    TOKEN_RECHECK_SECONDS,
    ingest_run,
    messages_path,
    token_problem,
)
from controllers.decisions.campaign_window import WindowCheck, check_window
from controllers.decisions.campaign_winner import arms_of, decide_winner, decision_due, waiting
from controllers.decisions.campaign_world import (
    FOLD_SECONDS,
    Actions,
    CampaignPlan,
    CampaignWorld,
    JobSeen,
    PlanSettings,
    RunSeen,
)
from controllers.decisions.events import Event
from controllers.decisions.unimplemented import campaign_ignored, with_ignored
from crds.base import Condition, ConditionStatus, find_condition, set_condition
from crds.campaign import (
    Campaign,
    CampaignPhase,
    CampaignSpec,
    CampaignStatus,
    CampaignTrigger,
    Canary,
    Counters,
    GuardResult,
    GuardStatus,
    PresendPlan,
    TimeZoneSource,
    Winner,
    WinnerMetric,
    WinnerStatus,
)
from crds.template import Category, TemplateSpec
from sender.run_config import RunConfig, SendTimesConfig
from sender.sms.audience_filter import filter_error
from sender.sms.links import GONE_SECONDS
from sender.sms.send_times import never_opens

FINAL = (CampaignPhase.COMPLETED, CampaignPhase.FAILED, CampaignPhase.CANCELLED)
FINISHED = {
    reasons.COMPLETED: CampaignPhase.COMPLETED,
    reasons.CANCELLED: CampaignPhase.CANCELLED,
    reasons.IMPORT_FAILED: CampaignPhase.FAILED,
    reasons.NO_VALID_RECIPIENTS: CampaignPhase.FAILED,
    reasons.SENDERS_FAILED: CampaignPhase.FAILED,
}
"""Ready reasons that end a campaign, and the phase each shows. Decisions read these,
never `status.phase`, which is for display (`kubectl get`)."""

SETTLING_SECONDS = 5.0
"""...a finished one while late receipts may still come in (SETTLING_FOR)..."""
SETTLING_FOR = timedelta(minutes=10)
FINISHED_SECONDS = 60.0
"""...and after: 1,000 finished campaigns then cost about 17 Redis reads a second."""
WAITING_SECONDS = 30.0
"""At most this long between reconciles of a campaign waiting for its start time or its
send window (it wakes when they come, and a spec change wakes it at once)."""
LIVE_FIELDS = "paused, cancel, senders (up to the run's shards), rateLimit (from the next" \
              " sender start), schedule.sendWindow, ingest, winner (but testPercent," \
              " until the winner is chosen), canary (but percent, until it is judged)," \
              " autoPause and dryRun (until sending starts)"


@dataclass
class _Outcome:
    """What the checks decide, before it is turned into status."""

    phase: CampaignPhase
    reason: str
    message: str
    stalled: bool = False
    progressing: bool = False
    actions: Actions = field(default_factory=Actions)
    wake_at: datetime | None = None
    """When a waiting campaign has something to do (its start time, its window)."""
    winner: WinnerStatus | None = None
    """status.winner while the A/B decision waits, or the decision just made."""
    events: tuple[Event, ...] = ()
    """Events of what the run did besides its phase (a channel failed over)."""
    canary: GuardStatus | None = None
    """status.canary while the canary waits, or the judgement just made."""


def plan_campaign(campaign: Campaign, world: CampaignWorld, settings: PlanSettings) -> CampaignPlan:
    meta = campaign.metadata
    owner = Owner(meta.namespace or "default", meta.name, meta.uid or "", meta.generation or 0,
                  kind=campaign.kind or "Campaign")  # or a recurring campaign's CampaignRun
    spec, old = campaign.spec, campaign.status
    run = world.run
    stale = run is not None and run.config.uid != owner.uid
    if stale:
        run = None
    outcome = _decide(owner, spec, old, world, run, settings)
    status = _status(campaign, world, run, outcome, settings)
    # Events expire; status keeps saying which edits the run ignores.
    status.edits_not_applied = frozen_changes(spec, run.config) if run is not None else []
    events = [*_events(old, status), *outcome.events]
    if run is not None and meta.generation != old.observed_generation:
        changed = status.edits_not_applied
        if changed:
            events.append(Event("Warning", reasons.EDIT_NOT_APPLIED, (
                f"{', '.join(changed)} changed after the run started and do not apply to"
                f" it; what applies to a running campaign: {LIVE_FIELDS}")))
    status.conditions, ignored = with_ignored(status.conditions, campaign_ignored(spec),
                                              meta.generation, world.now)
    events.extend(ignored)
    if stale:
        events.insert(0, Event("Normal", reasons.RUN_RESET,
                               "Redis held a run of an earlier campaign of this name;"
                               " it was deleted"))
    actions = outcome.actions
    export = plan_export(
        owner, spec.export, old.export, final=outcome.phase in FINAL and run is not None,
        record=run.export if run is not None else "",
        error=run.export_error if run is not None else "",
        job_failed=world.export_job is not None and world.export_job.failed,
        job_message=world.export_job.message if world.export_job is not None else "",
        job_exists=world.export_job is not None, pods=settings.pods)
    status.export = export.status
    events.extend(export.events)
    if export.create:
        actions = dataclasses.replace(actions, create=(*actions.create, *export.create))
    plan = CampaignPlan(status=status, events=tuple(events), reset_run=stale,
                        actions=actions)
    if outcome.phase in FINAL and run is not None and status.completion_time is not None \
            and not export.owed:  # the export is written before the keys go
        keep = settings.retention_seconds
        if run.config.links is not None:  # its links answer (and count) until they expire
            keep = max(keep, run.config.links.expire_after_seconds + GONE_SECONDS)
        expires = status.completion_time + timedelta(seconds=keep)
        if world.now >= expires and not any(j and j.active for j in (world.sender_job,
                                                                       world.winner_job)):
            plan = dataclasses.replace(plan, delete_run=True)
    return dataclasses.replace(
        plan, requeue_after_seconds=requeue_after(status, world.now, outcome.wake_at))


def finished(status: CampaignStatus) -> CampaignPhase | None:
    """The phase a finished campaign ended in, from its Ready condition; None while it
    runs (a campaign still Cancelling has not finished)."""
    return FINISHED.get(_ready_reason(status))


def reconcile_due(body: Mapping[str, Any], due_at: float | None, now: float) -> bool:
    """Whether a campaign's timer tick runs its reconcile: when the last plan's
    requeue_after has passed (`due_at`, None before the first), or at once when the spec
    changed since the status was written."""
    spec_changed = (body.get("metadata", {}).get("generation")
                    != (body.get("status") or {}).get("observedGeneration"))
    return spec_changed or due_at is None or now >= due_at


def requeue_after(status: CampaignStatus, now: datetime, wake_at: datetime | None = None
                  ) -> float:
    """Seconds until the campaign's next reconcile: every second while it runs; waiting
    for its start or its window (`wake_at`), when that comes, at most WAITING_SECONDS
    apart; finished, every few seconds while late receipts come in, every minute after."""
    if finished(status) is None:
        if wake_at is not None:
            return min(WAITING_SECONDS, max(FOLD_SECONDS, (wake_at - now).total_seconds()))
        return FOLD_SECONDS
    done = status.completion_time
    if done is not None and now - done < SETTLING_FOR:
        return SETTLING_SECONDS
    return FINISHED_SECONDS


# -- the checks ------------------------------------------------------------------------


def _decide(
    owner: Owner, spec: CampaignSpec, old: CampaignStatus, world: CampaignWorld,
    run: RunSeen | None, settings: PlanSettings,
) -> _Outcome:
    final = finished(old)
    if final is not None:
        return _Outcome(final, _ready_reason(old), old.message or "")
    if spec.cancel:
        return _cancel(run, world)
    window = check_window(spec.schedule, world.now)
    if run is None:
        return _before_run(owner, spec, world, window, settings)
    if spec.trigger == CampaignTrigger.API and not run.import_done:
        # The operator stopped between writing the run and opening it: open it now.
        return _Outcome(CampaignPhase.RUNNING, reasons.ACCEPTING_EVENTS,
                        "opening the campaign to events", progressing=True,
                        actions=Actions(open_trigger=True, write_ingest=ingest_run(
                            spec, run.config, world.token)))
    if not run.import_done:
        return _importing(owner, spec, run, world, settings)
    return _sending(owner, spec, run, world, window, settings)


def _cancel(run: RunSeen | None, world: CampaignWorld) -> _Outcome:
    if run is None or run.cancel_done:
        return _Outcome(CampaignPhase.CANCELLED, reasons.CANCELLED, _cancelled_message(run))
    if run.ingest is not None and not run.ingest_closed:  # no event after the count
        return _Outcome(CampaignPhase.CANCELLED, reasons.CANCELLING,
                        "taking no more events, then stopping the senders",
                        progressing=True, actions=Actions(close_ingest=True))
    # Jobs still at work; a finished Job has no pods to stop.
    def working(job: JobSeen | None) -> JobSeen | None:
        return job if job is not None and not (job.complete or job.failed) else None

    importer, sender = working(world.import_job), working(world.sender_job)
    rest = working(world.winner_job) if sender is None else None
    jobs = [j for j in (importer, sender, rest) if j is not None]
    actions = Actions()
    if importer is not None and not importer.suspended:
        actions = dataclasses.replace(actions, suspend_import=True)
    if sender is not None and not sender.suspended:
        actions = dataclasses.replace(actions, sender_suspend=True)
    if rest is not None and not rest.suspended:
        actions = dataclasses.replace(actions, sender_suspend=True, patch_winner_job=True)
    if actions == Actions() and not any(j.active for j in jobs):
        actions = dataclasses.replace(actions, cancel_remaining=True)
    return _Outcome(CampaignPhase.CANCELLED, reasons.CANCELLING,
                    "stopping the senders, then counting what is left cancelled",
                    progressing=True, actions=actions)


def _import_job(owner: Owner, spec: CampaignSpec, settings: PlanSettings) -> dict[str, Any]:
    assert spec.audience is not None  # only trigger Api campaigns have none, and no import
    return build_import_job(owner, spec.audience, settings.pods,
                            spec.compliance.suppression_lists)


def _cancelled_message(run: RunSeen | None) -> str:
    if run is None:
        return "cancelled before it started"
    return f"cancelled; {run.counters.cancelled:,} messages not sent"


def _before_run(
    owner: Owner, spec: CampaignSpec, world: CampaignWorld, window: WindowCheck,
    settings: PlanSettings,
) -> _Outcome:
    templates: dict[str, TemplateSpec] = {}
    for variant, name in template_names(spec).items():
        seen = world.templates.get(name)
        if seen is None:
            return _Outcome(CampaignPhase.PENDING, reasons.TEMPLATE_NOT_FOUND,
                            f"waiting for Template {name}: it does not exist", stalled=True)
        if not seen.approved:
            why = f" ({seen.reason})" if seen.reason else ""
            return _Outcome(CampaignPhase.PENDING, reasons.TEMPLATE_NOT_APPROVED,
                            f"waiting for Template {name} to be approved{why}", stalled=True)
        templates[variant] = seen.spec
    invalid = spec.audience and filter_error(
        spec.audience.filter, {v.name: v.type for v in spec.audience.columns.variables},
        spec.schedule.time_zone)
    if invalid:
        return _Outcome(CampaignPhase.PENDING, reasons.INVALID_FILTER, invalid, stalled=True)
    times = send_times(spec, templates, settings.marketing_quiet_hours)
    if never_opens(times.rules(), [spec.schedule.time_zone], world.now):
        return _Outcome(CampaignPhase.PENDING, reasons.INVALID_SCHEDULE, (
            "no message could ever go: the send window lies inside the quiet hours"
            f" ({_rules_text(times)})"), stalled=True)
    if not spec.compliance.respect_opt_outs:
        marketing = sorted(template_names(spec)[v] for v, t in templates.items()
                           if t.category != Category.VERIFICATION)
        if marketing:
            return _Outcome(
                CampaignPhase.PENDING, reasons.OPT_OUTS_REQUIRED,
                "compliance.respectOptOuts is false, which only Verification templates"
                f" allow; Template {', '.join(marketing)} is not one", stalled=True)
    if not any((seen_channel := world.channels.get(c.name)) and seen_channel.ready
               for c in spec.channels):
        return _no_channel(spec, world)
    if spec.audience is None:  # trigger Api (the schema's rule)
        return _open_trigger(owner, spec, templates, world, settings)
    problem = (audience_problem(spec.audience, world.audience)
               or suppression_problem(spec.compliance.suppression_lists, world.suppression))
    if problem is not None:  # before the importer Job, which would wait on its volume
        recheck = (world.now + timedelta(seconds=RECHECK_SECONDS) if problem.reason in (
            reasons.AUDIENCE_NOT_FOUND, reasons.SUPPRESSION_LIST_NOT_FOUND) else None)
        return _Outcome(CampaignPhase.PENDING, problem.reason, problem.message, stalled=True,
                        wake_at=recheck)
    if spec.schedule.start_time is not None and world.now < spec.schedule.start_time:
        return _Outcome(CampaignPhase.SCHEDULED, reasons.SCHEDULED,
                        f"starts at {spec.schedule.start_time.isoformat()}",
                        wake_at=spec.schedule.start_time)
    if window.error:
        return _Outcome(CampaignPhase.PENDING, reasons.INVALID_SCHEDULE, window.error,
                        stalled=True)
    if not window.open and not spec.dry_run:  # a dry run plans now (its ETA waits)
        return _Outcome(CampaignPhase.SCHEDULED, reasons.OUTSIDE_SEND_WINDOW, window.message,
                        wake_at=window.opens_at)
    config = _run_config(owner, spec, templates, world, settings)
    return _Outcome(
        CampaignPhase.IMPORTING, reasons.IMPORTING,
        f"importing the audience; sending through {_channels_text(config)}", progressing=True,
        actions=Actions(write_run=config, create=(_import_job(owner, spec, settings),)),
    )


def _run_config(owner: Owner, spec: CampaignSpec, templates: dict[str, TemplateSpec],
                world: CampaignWorld, settings: PlanSettings) -> RunConfig:
    """The run over every channel of the campaign that exists, in its order; routing
    passes over those not Ready now (at least one is) for numbers another serves, unless
    their retry.failoverAfterSeconds is 0 (never)."""
    channels = [(c.name, seen.spec) for c in spec.channels
                if (seen := world.channels.get(c.name)) is not None]
    return build_run_config(owner, spec, templates, channels, settings.receipt_wait_seconds,
                            unavailable=[name for name, channel in channels
                                         if not world.channels[name].ready
                                         and channel.retry.failover_after_seconds],
                            receivers=settings.channel_receivers,
                            marketing_quiet_hours=settings.marketing_quiet_hours,
                            links_base_url=settings.links_base_url)


def _channels_text(config: RunConfig) -> str:
    """The run's channels in words, e.g. "channels cmcc, unicom (unicom not Ready)"."""
    names = [c.name for c in config.channels]
    text = f"channel{'s' if len(names) > 1 else ''} {', '.join(names)}"
    if config.unavailable:
        text += (f" ({', '.join(config.unavailable)} passed over, not Ready: its"
                 " messages go to the next channel that serves them)")
    return text


def _token_text(spec: CampaignSpec) -> str:
    assert spec.ingest is not None  # trigger Api (the schema's rule)
    secret = spec.ingest.token_secret_ref
    return f"the ingest token, key {secret.key} of Secret {secret.name}"


def _open_trigger(owner: Owner, spec: CampaignSpec, templates: dict[str, TemplateSpec],
                  world: CampaignWorld, settings: PlanSettings) -> _Outcome:
    """A trigger Api campaign starts taking events once its token can be used and its
    start time has come; its send window only holds its senders (events posted outside
    it wait in Redis for it)."""
    problem = token_problem(world.token)
    if problem is not None:
        return _Outcome(CampaignPhase.PENDING, reasons.INGEST_TOKEN_NOT_FOUND,
                        f"waiting for {_token_text(spec)}: {problem}", stalled=True,
                        wake_at=world.now + timedelta(seconds=TOKEN_RECHECK_SECONDS))
    if spec.schedule.start_time is not None and world.now < spec.schedule.start_time:
        return _Outcome(CampaignPhase.SCHEDULED, reasons.SCHEDULED,
                        f"takes events from {spec.schedule.start_time.isoformat()}",
                        wake_at=spec.schedule.start_time)
    config = _run_config(owner, spec, templates, world, settings)
    return _Outcome(
        CampaignPhase.RUNNING, reasons.ACCEPTING_EVENTS,
        f"opening to events at POST {messages_path(owner.namespace, owner.name)}",
        progressing=True, actions=Actions(write_run=config, open_trigger=True,
                                          write_ingest=ingest_run(spec, config, world.token)))


def _no_channel(spec: CampaignSpec, world: CampaignWorld) -> _Outcome:
    missing = [c.name for c in spec.channels if c.name not in world.channels]
    if len(missing) == len(spec.channels):
        return _Outcome(CampaignPhase.PENDING, reasons.CHANNEL_NOT_FOUND,
                        f"waiting for Channel {', '.join(missing)}: not found", stalled=True)
    details = "; ".join(
        f"{c.name}: {seen.reason}{': ' + seen.message if seen.message else ''}"
        for c in spec.channels if (seen := world.channels.get(c.name)) is not None)
    return _Outcome(CampaignPhase.PENDING, reasons.CHANNEL_NOT_READY,
                    f"waiting for a Ready channel ({details})", stalled=True)


def _importing(
    owner: Owner, spec: CampaignSpec, run: RunSeen, world: CampaignWorld,
    settings: PlanSettings,
) -> _Outcome:
    job = world.import_job
    if job is not None and job.failed:
        detail = run.import_error or job.message or "the importer Job failed"
        return _Outcome(CampaignPhase.FAILED, reasons.IMPORT_FAILED,
                        f"the audience could not be imported: {detail}")
    actions = Actions()
    if job is None:  # deleted by hand, or the operator stopped between two writes
        actions = Actions(create=(_import_job(owner, spec, settings),))
    message = f"importing the audience: {run.counters.total:,} rows so far"
    if run.import_error:
        message += f"; last attempt failed: {run.import_error} (retrying)"
    return _Outcome(CampaignPhase.IMPORTING, reasons.IMPORTING, message, progressing=True,
                    actions=actions)


def _sending(
    owner: Owner, spec: CampaignSpec, run: RunSeen, world: CampaignWorld, window: WindowCheck,
    settings: PlanSettings,
) -> _Outcome:
    """Sending, and the channels its routing passes over (campaign_failover): the change
    goes into the run's config the senders read, and says so in Events."""
    availability = channel_availability(run.config, world.channels, world.now)
    outcome = _sending_run(owner, spec, run, world, window, settings, availability.unavailable)
    if outcome.phase in FINAL:
        return outcome
    written = outcome.actions.write_run
    moved = written is not None and written.unavailable == availability.unavailable
    wake = [t for t in (outcome.wake_at, availability.wake_at) if t is not None]
    return dataclasses.replace(outcome, events=availability.events if moved else (),
                               wake_at=min(wake) if wake else None)


def _sending_run(
    owner: Owner, spec: CampaignSpec, run: RunSeen, world: CampaignWorld, window: WindowCheck,
    settings: PlanSettings, unavailable: list[str],
) -> _Outcome:
    counters = run.counters
    trigger = spec.trigger == CampaignTrigger.API
    if not trigger and (counters.total - counters.invalid - counters.suppressed
                        - counters.opted_out - counters.holdout - counters.unroutable <= 0):
        return _Outcome(CampaignPhase.FAILED, reasons.NO_VALID_RECIPIENTS, (
            f"no recipient to send to: {counters.total:,} rows, {counters.invalid:,} invalid,"
            f" {counters.suppressed:,} suppressed, {counters.opted_out:,} opted out"
            + (f", {counters.unroutable:,} served by no channel" if counters.unroutable
               else "")))
    config = run.config
    job = world.sender_job
    if spec.dry_run and not trigger and job is None and world.winner_job is None:
        return _Outcome(CampaignPhase.PLANNED, reasons.DRY_RUN, "dry run",  # + the plan
                        wake_at=world.now + timedelta(seconds=WAITING_SECONDS))
    # A winner campaign's test group, or a canary share, sent: the decision, then the
    # rest's own Job (once decided, whatever became of the first Job).
    rest = config.lanes.rest and (
        config.rest_released or (job is not None and job.complete))
    if rest:
        if not config.rest_released:
            if not canary_run(config):
                assert job is not None
                return _awaiting_winner(spec, run, world, job)
            if config.canary is None:
                assert job is not None
                return _awaiting_canary(spec, run, world, job, owner.generation)
            return _canary_failed(spec, run, owner.generation)
        job = world.winner_job
    if job is not None and job.failed:
        return _Outcome(CampaignPhase.FAILED, reasons.SENDERS_FAILED,
                        f"the sender Job failed: {job.message or 'pods kept failing'}")
    if job is not None and job.complete:
        return _Outcome(CampaignPhase.COMPLETED, reasons.COMPLETED,
                        stats.completed_message(counters))
    guarded = auto_pause_config(spec, run, world.now, owner.generation)
    suspend = spec.paused or not window.open or guarded.self_paused
    parallelism = min(spec.senders, config.shards)
    actions = Actions()
    rate = spec.rate_limit.messages_per_second if spec.rate_limit else None
    times = send_times(spec, config.templates, settings.marketing_quiet_hours)
    if (rate != config.campaign_rate or times != config.send_times  # senders reread these
            or unavailable != config.unavailable or guarded != config):
        config = guarded.model_copy(update={"campaign_rate": rate, "send_times": times,
                                            "unavailable": unavailable})
        actions = Actions(write_run=config)
    if trigger and (ingest := ingest_run(spec, config, world.token)) != run.ingest:
        actions = dataclasses.replace(actions, write_ingest=ingest)
    if job is None:
        gone = [c.name for c in config.channels if c.name not in world.channels]
        if gone:  # its pods would have no password to bind with
            return _Outcome(CampaignPhase.PENDING, reasons.CHANNEL_NOT_FOUND,
                            f"channel {', '.join(gone)} of the run is gone; recreate it to"
                            " send", stalled=True)
        job_spec = build_sender_job(
            owner, [world.channels[c.name].spec for c in config.channels], config.shards,
            parallelism, suspend=suspend, pods=settings.pods, winner=rest)
        actions = dataclasses.replace(actions, create=(job_spec,), hand_rest=(
            config.rest_variant or "") if rest else None)
    else:
        if job.suspended != suspend:
            actions = dataclasses.replace(actions, sender_suspend=suspend)
        if job.parallelism != parallelism:
            actions = dataclasses.replace(actions, sender_parallelism=parallelism)
        actions = dataclasses.replace(actions, patch_winner_job=rest)
    if config.self_paused:
        assert config.auto_pause is not None
        return _Outcome(CampaignPhase.PAUSED, reasons.AUTO_PAUSED,
                        f"{config.auto_pause.message}; {RESUME_HINT}", actions=actions)
    if spec.paused:
        return _Outcome(CampaignPhase.PAUSED, reasons.PAUSED,
                        "paused; set spec.paused to false to resume", actions=actions)
    if not window.open:
        return _Outcome(CampaignPhase.SCHEDULED, reasons.OUTSIDE_SEND_WINDOW,
                        window.error or window.message, stalled=bool(window.error),
                        actions=actions, wake_at=window.opens_at)
    progress_at = world.last_progress
    decided = config.winner or config.canary
    if rest and progress_at is not None and decided and decided.decision_time:
        progress_at = max(progress_at, decided.decision_time)  # nothing went before
    stalled = (counters.queued > 0 and progress_at is not None
               and world.now - progress_at > timedelta(seconds=settings.stall_seconds))
    if stalled:
        return _Outcome(CampaignPhase.RUNNING, reasons.NO_PROGRESS, (
            f"no message left the queue for {settings.stall_seconds}s; check the"
            f" {_channels_text(config)} and the sender pods"), stalled=True, progressing=True,
            actions=actions)
    message = f"sending through {_channels_text(config)}"
    if rest and config.winner is not None:
        message = (f"sending the rest with the winner {config.winner.variant}" if
                   config.winner.variant else "sending the rest by the variants' weights"
                   ) + f" through {_channels_text(config)}"
    elif rest and config.canary is not None:
        message = ("sending the rest, the canary passed" if not config.canary.resumed
                   else "sending the rest, resumed after the canary failed"
                   ) + f" through {_channels_text(config)}"
    reason = reasons.SENDING
    if trigger:
        reason = reasons.ACCEPTING_EVENTS
        message = (f"taking events at POST {messages_path(owner.namespace, owner.name)};"
                   f" {counters.total:,} so far; {message}")
        problem = token_problem(world.token)
        if problem is not None:
            return _Outcome(CampaignPhase.RUNNING, reasons.INGEST_TOKEN_NOT_FOUND, (
                f"refusing every event: {_token_text(spec)} cannot be used: {problem};"
                " queued messages still go"), stalled=True, progressing=True,
                actions=actions, wake_at=world.now + timedelta(seconds=TOKEN_RECHECK_SECONDS))
    if counters.waiting:
        opens = f", the next at {run.next_window.isoformat()}" if run.next_window else ""
        message += (f"; {counters.waiting:,} messages wait for their recipients' hours"
                    f" ({_rules_text(times)}){opens}")
    return _Outcome(CampaignPhase.RUNNING, reason, message, progressing=True,
                    actions=actions, wake_at=run.next_window)


def _awaiting_winner(spec: CampaignSpec, run: RunSeen, world: CampaignWorld, job: JobSeen
                     ) -> _Outcome:
    """The test group is sent: wait for its receipts, then choose the winner once, into
    the run's config (the next reconcile sends the rest)."""
    names = [name for name, _ in run.config.audience.variants]
    policy = spec.winner or Winner(test_percent=run.config.audience.test_percent)
    if policy.manual not in (None, *names):  # the variants were edited: not this run's
        policy = policy.model_copy(update={"manual": None})
    arms = arms_of(run.fields, names, policy.metric, run.test_opt_outs)
    due = decision_due(policy, job.completion_time, world.now)
    unread = (policy.metric == WinnerMetric.OPT_OUT_RATIO and run.test_opt_outs is None
              and not policy.manual)  # the handler reads them once due
    if world.now < due or unread:
        return _Outcome(CampaignPhase.RUNNING, reasons.AWAITING_WINNER, (
            f"the test group is sent; {run.counters.awaiting_winner:,} messages wait for the"
            f" winner by {policy.metric}, chosen at {due.isoformat()}"), progressing=True,
            wake_at=due, winner=waiting(arms, policy, due))
    decision = decide_winner(arms, policy, world.now)
    return _Outcome(CampaignPhase.RUNNING, reasons.AWAITING_WINNER, decision.message,
                    progressing=True, winner=decision,
                    actions=Actions(write_run=run.config.model_copy(update={"winner": decision})))


def _canary_policy(spec: CampaignSpec, config: RunConfig) -> Canary:
    """The canary's thresholds: the spec's, or the defaults if it was taken away."""
    return spec.canary or Canary(percent=int(config.frozen_fields["canary.percent"]))


def _awaiting_canary(spec: CampaignSpec, run: RunSeen, world: CampaignWorld, job: JobSeen,
                     generation: int | None) -> _Outcome:
    """The canary share is sent: wait holdSeconds for its receipts and replies, then
    judge it once, into the run's config (passed: the next reconcile sends the rest)."""
    policy = _canary_policy(spec, run.config)
    judged = policy.max_opt_out_percent is not None
    figures = figures_of(run.counters, run.guard_opt_outs if judged else None)
    due = canary_due(policy, job.completion_time, world.now)
    if world.now < due or (judged and run.guard_opt_outs is None):  # read once due
        return _Outcome(CampaignPhase.RUNNING, reasons.AWAITING_CANARY, (
            f"the canary share is sent; {run.counters.awaiting_winner:,} messages wait for"
            f" its judgement at {due.isoformat()}"), progressing=True, wake_at=due,
            canary=canary_waiting(figures, due))
    decision = judge_canary(figures, policy, world.now, generation)
    return _Outcome(CampaignPhase.RUNNING, reasons.AWAITING_CANARY, decision.message,
                    progressing=True, canary=decision,
                    actions=Actions(write_run=run.config.model_copy(
                        update={"canary": decision})))


def _canary_failed(spec: CampaignSpec, run: RunSeen, generation: int | None) -> _Outcome:
    """The canary failed: the rest waits until a person takes the pause over."""
    canary = run.config.canary
    assert canary is not None
    if may_resume(canary, spec.paused, generation):
        resumed = canary.model_copy(update={"resumed": True})
        return _Outcome(CampaignPhase.PAUSED, reasons.PAUSED, (
            "paused by spec.paused, which took over the failed canary's pause; set it to"
            " false to send the rest"), canary=resumed,
            actions=Actions(write_run=run.config.model_copy(update={"canary": resumed})))
    return _Outcome(CampaignPhase.PAUSED, reasons.CANARY_FAILED, (
        f"{canary.message}; {run.counters.awaiting_winner:,} messages not sent;"
        f" {RESUME_HINT} to send them"))


def _rules_text(times: SendTimesConfig) -> str:
    parts = []
    if times.window is not None:
        zone = ("each recipient's zone" if times.window.time_zone_source
                == TimeZoneSource.RECIPIENT else times.time_zone)
        parts.append(f"send window {times.window.start}-{times.window.end} in {zone}")
    quiet = times.quiet_hours
    if quiet is not None and quiet.start != quiet.end:
        parts.append(f"quiet hours {quiet.start}-{quiet.end} recipient-local")
    return "; ".join(parts)


# -- status and events -----------------------------------------------------------------


def _status(
    campaign: Campaign, world: CampaignWorld, run: RunSeen | None, outcome: _Outcome,
    settings: PlanSettings,
) -> CampaignStatus:
    old = campaign.status
    generation = campaign.metadata.generation
    new = old.model_copy(deep=True)
    new.observed_generation = generation
    if run is not None and run.import_done and _ready_reason(old) not in FINISHED and (
            campaign.spec.trigger != CampaignTrigger.API):
        new.plan = _presend(campaign.spec, old, run, world, outcome, settings)
        if outcome.reason == reasons.DRY_RUN:
            outcome = dataclasses.replace(outcome, message=(
                f"dry run, nothing sent: {new.plan.message}; set spec.dryRun to false to"
                " send this plan"))
    new.phase = outcome.phase
    new.message = outcome.message
    if run is not None:
        counters = run.counters
        new.counters = counters
        new.progress_percent = stats.progress_percent(counters)
        new.delivery_ratio = stats.delivery_ratio(counters)
        rate = stats.submit_rate(world.previous, world.now, counters)
        if rate is not None:
            new.submit_rate_per_second = rate if outcome.phase == CampaignPhase.RUNNING else 0
        new.variants = stats.breakdowns(run.fields, "variant")
        new.channels = stats.breakdowns(run.fields, "channel")
        new.top_errors = stats.top_errors(run.fields)
        new.errors_by_country = stats.errors_by_country(run.fields)
        new.invalid_reasons = stats.dropped_reasons(run.fields)
        new.unroutable_countries = stats.unroutable_countries(run.fields)
        new.time_zone_sources = stats.zone_sources(run.fields)
        new.next_window_time = run.next_window
        if run.config.winner is not None:
            new.winner = run.config.winner
    if run is not None:
        if run.config.canary is not None:
            new.canary = run.config.canary
        written = outcome.actions.write_run
        new.auto_pause = (written or run.config).auto_pause
    if outcome.canary is not None:
        new.canary = outcome.canary
    if outcome.winner is not None:
        new.winner = outcome.winner
    elif outcome.phase in FINAL and new.winner is not None and new.winner.reason is None:
        new.winner = new.winner.model_copy(update={  # it will never be chosen now
            "decision_time": None, "message": "the campaign ended before the winner was chosen"})
    if outcome.phase in (CampaignPhase.IMPORTING, CampaignPhase.RUNNING) and not new.start_time:
        new.start_time = world.now
    if outcome.phase in FINAL and outcome.reason != reasons.CANCELLING:
        new.completion_time = new.completion_time or world.now
        new.submit_rate_per_second = 0 if new.submit_rate_per_second is not None else None

    def condition(type_: str, holds: bool, reason: str, message: str) -> Condition:
        return Condition(type=type_, status=ConditionStatus.TRUE if holds else
                         ConditionStatus.FALSE, observed_generation=generation,
                         last_transition_time=world.now, reason=reason, message=message)

    done = outcome.phase == CampaignPhase.COMPLETED
    percent, finished = stats.failure_percent(new.counters or Counters())
    degraded = (finished >= settings.degraded_min_finished
                and percent > settings.degraded_failure_percent)
    conditions = old.conditions
    for new_condition in (
        condition("Ready", done, outcome.reason, outcome.message),
        condition("Progressing", outcome.progressing, outcome.reason, outcome.message),
        condition("Stalled", outcome.stalled, outcome.reason if outcome.stalled
                  else reasons.NOT_STALLED, outcome.message if outcome.stalled else ""),
        condition("Degraded", degraded,
                  reasons.HIGH_FAILURE_RATIO if degraded else reasons.DELIVERING_WELL,
                  f"{percent:.1f}% of {finished:,} finished messages failed or expired"
                  f" (threshold {settings.degraded_failure_percent}%)"),
    ):
        conditions = set_condition(conditions, new_condition)
    new.conditions = guard_conditions(campaign.spec, new, conditions, world.now,
                                      final=outcome.phase in FINAL)
    return new


def _presend(spec: CampaignSpec, old: CampaignStatus, run: RunSeen, world: CampaignWorld,
             outcome: _Outcome, settings: PlanSettings) -> PresendPlan:
    """The pre-send plan, counted from when it was first made; from now once a dry run
    is set to send (its ETA starts then)."""
    basis = world.now
    if old.plan is not None and not (_ready_reason(old) == reasons.DRY_RUN
                                     and outcome.reason != reasons.DRY_RUN):
        basis = old.plan.time
    return presend_plan(run.config, run.fields, run.counters.total, PlanInputs(
        basis=basis,
        campaign_rate=spec.rate_limit.messages_per_second if spec.rate_limit else None,
        send_times=send_times(spec, run.config.templates, settings.marketing_quiet_hours),
        pricing={name: seen.spec.pricing for name, seen in world.channels.items()},
        winner_wait_seconds=(spec.winner.decide_after_seconds if spec.winner else
                             spec.canary.hold_seconds if spec.canary else 0)))


def _ready_reason(status: CampaignStatus) -> str:
    ready = find_condition(status.conditions, "Ready")
    return ready.reason if ready is not None else ""


WARNING_REASONS = frozenset({
    reasons.AUDIENCE_NOT_FOUND, reasons.UNKNOWN_ENCODING,
    reasons.TEMPLATE_NOT_FOUND, reasons.TEMPLATE_NOT_APPROVED, reasons.CHANNEL_NOT_FOUND,
    reasons.CHANNEL_NOT_READY, reasons.IMPORT_FAILED, reasons.NO_VALID_RECIPIENTS,
    reasons.SENDERS_FAILED, reasons.NO_PROGRESS, reasons.INVALID_SCHEDULE,
    reasons.OPT_OUTS_REQUIRED, reasons.INVALID_FILTER, reasons.SUPPRESSION_LIST_NOT_FOUND,
    reasons.INGEST_TOKEN_NOT_FOUND, reasons.CANARY_FAILED, reasons.AUTO_PAUSED,
})


def _events(old: CampaignStatus, new: CampaignStatus) -> list[Event]:
    """One Event per change of the Ready reason (phase changes and errors alike)."""
    events = []
    ready = find_condition(new.conditions, "Ready")
    if ready is not None and ready.reason != _ready_reason(old):
        message = ready.message or ready.reason
        events.append(Event("Warning", ready.reason, message) if ready.reason in WARNING_REASONS
                      else Event("Normal", ready.reason, message))
    if (new.winner is not None and new.winner.reason is not None
            and (old.winner is None or old.winner.reason is None)):
        events.append(Event("Normal", reasons.WINNER_CHOSEN, new.winner.message))
    if (new.canary is not None and new.canary.result == GuardResult.PASSED
            and (old.canary is None or old.canary.result is None)):
        events.append(Event("Normal", reasons.CANARY_PASSED, new.canary.message))
    was = find_condition(old.conditions, "Degraded")
    now = find_condition(new.conditions, "Degraded")
    if now is not None and now.status == ConditionStatus.TRUE and (
            was is None or was.status != ConditionStatus.TRUE):
        events.append(Event("Warning", now.reason, now.message))
    return events
