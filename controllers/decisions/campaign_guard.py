"""Canary and autoPause (spec.canary, spec.autoPause): whether a campaign goes on or
pauses itself, from its figures and its thresholds.

Pure. The figures are the run's counters (campaign_stats): a failure ratio of failed
or expired over messages with a final outcome (delivered, failed, expired), the
complement of status.deliveryRatio and of the chart's HeraldDeliveryRatioLow alert, and
an opt-out ratio of recipients who opted out since the campaign started over messages
the SMSC accepted (counted by the handler, sender.store.ab_opt_outs). A ratio trips when
it is above its threshold, in integers (failed x 100 > max x final): no float decides.

The canary is judged once, holdSeconds after its share's senders finished; autoPause at
every fold once minMessages have a final outcome (the opt-out ratio once minMessages
were accepted), on what came since a person last resumed it (`since`). A judgement that
trips is written into the run's config in Redis (RunConfig.canary, .auto_pause), which
holds it across operator restarts; status repeats it. The operator never writes spec:
a person takes the pause over by setting spec.paused to true at a later generation than
the pause (`may_resume`), and resumes with spec.paused false.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from controllers.decisions.campaign_world import RunSeen
from controllers.decisions.reasons import (
    AWAITING_CANARY,
    CANARY_FAILED,
    CANARY_PASSED,
    FAILURE_RATIO_EXCEEDED,
    FINISHED,
    NO_FINAL_OUTCOME,
    OPT_OUT_RATIO_EXCEEDED,
    RESUMED,
    WITHIN_THRESHOLDS,
)
from crds.base import Condition, ConditionStatus, set_condition
from crds.campaign import (
    AutoPause,
    CampaignSpec,
    CampaignStatus,
    Canary,
    Counters,
    GuardFigures,
    GuardResult,
    GuardStatus,
)
from sender.run_config import RunConfig


def _ratio(count: int, of: int) -> str | None:
    return f"{100 * count / of:.1f}%" if of else None


def figures_of(counters: Counters, opted_out: int | None,
               since: GuardFigures | None = None) -> GuardFigures:
    """The figures of the run's counters (and its opt-outs, None: not counted), less
    those at `since` (a person's last resume of an autoPause)."""
    final = counters.delivered + counters.failed + counters.expired
    failed = counters.failed + counters.expired
    sent = counters.sent
    if since is not None:
        final, failed, sent = final - since.final, failed - since.failed, sent - since.sent
        if opted_out is not None:
            opted_out -= since.opted_out or 0
    final, failed, sent = max(0, final), max(0, failed), max(0, sent)
    if opted_out is not None:
        opted_out = max(0, opted_out)
    return GuardFigures(final=final, failed=failed, failure_ratio=_ratio(failed, final),
                        sent=sent, opted_out=opted_out,
                        opt_out_ratio=None if opted_out is None else _ratio(opted_out, sent))


@dataclass(frozen=True)
class Verdict:
    tripped: bool
    reason: str
    message: str


def judge(figures: GuardFigures, max_failure_percent: int, max_opt_out_percent: int | None,
          min_messages: int) -> Verdict:
    """Whether the figures pass the thresholds: the failure ratio is judged with at
    least `min_messages` final outcomes, the opt-out ratio (when a threshold is set and
    the opt-outs were counted) with at least `min_messages` accepted."""
    f = figures
    parts = [f"{f.failed:,} of {f.final:,} messages with a final outcome failed or expired"
             f" ({f.failure_ratio or 'none yet'}, maxFailurePercent {max_failure_percent})"]
    failure = (f.final >= min_messages and f.failed * 100 > max_failure_percent * f.final)
    opt_out = False
    if max_opt_out_percent is not None and f.opted_out is not None:
        parts.append(f"{f.opted_out:,} of {f.sent:,} accepted opted out"
                     f" ({f.opt_out_ratio or 'none sent'}, maxOptOutPercent"
                     f" {max_opt_out_percent})")
        opt_out = f.sent >= min_messages and f.opted_out * 100 > max_opt_out_percent * f.sent
    said = "; ".join(parts)
    if failure:
        return Verdict(True, FAILURE_RATIO_EXCEEDED, said)
    if opt_out:
        return Verdict(True, OPT_OUT_RATIO_EXCEEDED, said)
    return Verdict(False, "", said)


# -- the canary ------------------------------------------------------------------------


def canary_due(policy: Canary, share_done: datetime | None, now: datetime) -> datetime:
    """When the canary is judged: holdSeconds after its share's senders finished."""
    return (share_done or now) + timedelta(seconds=policy.hold_seconds)


def canary_waiting(figures: GuardFigures, due: datetime) -> GuardStatus:
    """status.canary while the judgement waits: the figures so far and when it comes."""
    return GuardStatus(figures=figures, decision_time=due,
                       message=f"the canary share is sent; it is judged at {due.isoformat()}")


def judge_canary(figures: GuardFigures, policy: Canary, now: datetime, generation: int | None
                 ) -> GuardStatus:
    """The canary's judgement on its share's figures, made once."""
    verdict = judge(figures, policy.max_failure_percent, policy.max_opt_out_percent, 1)
    if figures.final == 0 and policy.max_failure_percent < 100:
        return GuardStatus(
            result=GuardResult.FAILED, reason=NO_FINAL_OUTCOME, figures=figures,
            decision_time=now, generation=generation, message=(
                f"canary failed: none of its {figures.sent:,} accepted messages had a"
                f" final outcome after holdSeconds {policy.hold_seconds}: no receipt came"))
    if verdict.tripped:
        return GuardStatus(result=GuardResult.FAILED, reason=verdict.reason, figures=figures,
                           decision_time=now, generation=generation,
                           message=f"canary failed: {verdict.message}")
    return GuardStatus(result=GuardResult.PASSED, reason=CANARY_PASSED, figures=figures,
                       decision_time=now, generation=generation,
                       message=f"canary passed: {verdict.message}")


# -- autoPause -------------------------------------------------------------------------


def judge_auto_pause(figures: GuardFigures, policy: AutoPause, now: datetime,
                     generation: int | None) -> GuardStatus | None:
    """The autoPause trip the figures call for; None while they stay within."""
    verdict = judge(figures, policy.max_failure_percent, policy.max_opt_out_percent,
                    policy.min_messages)
    if not verdict.tripped:
        return None
    return GuardStatus(result=GuardResult.FAILED, reason=verdict.reason, figures=figures,
                       decision_time=now, generation=generation,
                       message=f"paused itself: {verdict.message}")


# -- the pause ---------------------------------------------------------------------------


def holds(guard: GuardStatus | None) -> bool:
    """Whether this judgement holds the campaign paused (failed, not taken over)."""
    return guard is not None and guard.result == GuardResult.FAILED and not guard.resumed


def may_resume(guard: GuardStatus, paused: bool, generation: int | None) -> bool:
    """Whether a person took the pause over: spec.paused is true, set after the pause
    (a later generation), so a spec.paused true from before does not count."""
    return paused and (generation or 0) > (guard.generation or 0)


RESUME_HINT = ("to go on anyway, set spec.paused to true, then back to false")


# -- in the plan (controllers.decisions.campaign_plan) ---------------------------------


def canary_run(config: RunConfig) -> bool:
    """Whether the run sends a canary share first (spec.canary.percent as it started)."""
    return bool(config.frozen_fields.get("canary.percent"))


def auto_pause_config(spec: CampaignSpec, run: RunSeen, now: datetime,
                      generation: int | None) -> RunConfig:
    """The run's config with spec.autoPause applied: a new trip recorded, or a person's
    takeover of the last one (its figures then the baseline of the next judgement)."""
    config = run.config
    last = config.auto_pause
    if holds(last):
        assert last is not None
        if not may_resume(last, spec.paused, generation):
            return config
        return config.model_copy(update={
            "auto_pause": last.model_copy(update={"resumed": True}),
            "auto_pause_since": figures_of(run.counters, run.guard_opt_outs)})
    policy = spec.auto_pause
    if policy is None or spec.paused:
        return config
    opt_outs = run.guard_opt_outs if policy.max_opt_out_percent is not None else None
    figures = figures_of(run.counters, opt_outs, config.auto_pause_since)
    trip = judge_auto_pause(figures, policy, now, generation)
    return config if trip is None else config.model_copy(update={"auto_pause": trip})


def guard_conditions(spec: CampaignSpec, new: CampaignStatus, conditions: list[Condition],
                     now: datetime, *, final: bool = False) -> list[Condition]:
    """CanaryFailed (with spec.canary) and AutoPaused (with spec.canary or autoPause):
    whether the canary failed, and whether the campaign holds itself paused now (never
    once it is `final`: Completed, Failed or Cancelled)."""
    canary, auto = new.canary, new.auto_pause

    def condition(type_: str, status: ConditionStatus, reason: str, message: str
                  ) -> Condition:
        return Condition(type=type_, status=status, observed_generation=new.observed_generation,
                         last_transition_time=now, reason=reason, message=message)

    if spec.canary is not None or canary is not None:
        if canary is None or canary.result is None:
            held = condition("CanaryFailed", ConditionStatus.UNKNOWN, AWAITING_CANARY,
                             canary.message if canary else "the canary share is being sent")
        else:
            failed = canary.result == GuardResult.FAILED
            held = condition("CanaryFailed", ConditionStatus.TRUE if failed
                             else ConditionStatus.FALSE, canary.reason, canary.message
                             + ("; resumed by a person" if canary.resumed else ""))
        conditions = set_condition(conditions, held)
    if spec.canary is not None or spec.auto_pause is not None or auto is not None:
        by = next((g for g in (canary, auto) if holds(g)), None)
        if final:
            paused = condition("AutoPaused", ConditionStatus.FALSE, FINISHED,
                               "the campaign has finished")
        elif by is not None:
            paused = condition("AutoPaused", ConditionStatus.TRUE, CANARY_FAILED
                               if by is canary else by.reason, by.message)
        else:
            was = next((g for g in (auto, canary) if g is not None and g.resumed), None)
            paused = condition(
                "AutoPaused", ConditionStatus.FALSE,
                RESUMED if was else WITHIN_THRESHOLDS,
                f"resumed by a person after: {was.message}" if was else
                "within the thresholds of spec.canary and spec.autoPause")
        conditions = set_condition(conditions, paused)
    return conditions
