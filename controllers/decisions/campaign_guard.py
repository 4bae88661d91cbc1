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

from controllers.decisions.reasons import (
    CANARY_PASSED,
    FAILURE_RATIO_EXCEEDED,
    NO_FINAL_OUTCOME,
    OPT_OUT_RATIO_EXCEEDED,
)
from crds.campaign import AutoPause, Canary, Counters, GuardFigures, GuardResult, GuardStatus


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
