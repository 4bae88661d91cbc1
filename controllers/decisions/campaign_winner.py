"""The A/B winner (spec.winner): which variant the rest of the audience gets.

Pure. The test group's messages were sent by weight; once its senders finished and
decideAfterSeconds passed, `decide_winner` compares the variants' ratios (delivery and
clicks: the highest is best; opt-out: the lowest) with a
two-sided two-proportion z-test (pooled), the best variant against each other one, the
largest p-value corrected for the comparisons (Bonferroni, times their number, at most
1). The best wins when that p-value is at most 1 - confidencePercent/100 and every
variant has minSamplePerVariant messages with a final outcome; else the fallback.
Two-sided, so choosing the observed best and testing it is not a one-sided test at twice
the stated error.

The decision is written once into the run's config in Redis (RunConfig.winner), which
holds it across operator restarts; status.winner repeats it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crds.campaign import (
    ArmFigures,
    Winner,
    WinnerFallback,
    WinnerMetric,
    WinnerReason,
    WinnerStatus,
)

P_FLOOR = 0.0001
"""p-values below this are shown as "<0.0001"."""


@dataclass(frozen=True)
class Arm:
    """One variant's test figures: its sample (messages with a final outcome, or those
    the SMSC accepted) and the count the metric measures in it (delivered, opted out)."""

    name: str
    sample: int
    count: int

    @property
    def ratio(self) -> float:
        return self.count / self.sample if self.sample else 0.0

    def figures(self) -> ArmFigures:
        ratio = f"{100 * self.ratio:.1f}%" if self.sample else None
        return ArmFigures(name=self.name, sample=self.sample, count=self.count, ratio=ratio)


def arms_of(fields: Mapping[str, int], variants: Sequence[str],
            metric: WinnerMetric = WinnerMetric.DELIVERY_RATIO,
            opted_out: Mapping[str, int] | None = None) -> list[Arm]:
    """The variants' figures from the counters hash (campaign_stats), in spec order;
    OptOutRatio's counts come from `opted_out` (sender.store.ab_opt_outs), 0 without;
    ClickRatio's are the variants' clickers (sender.store.links)."""
    def get(variant: str, name: str) -> int:
        return fields.get(f"variant:{variant}:{name}", 0)

    if metric == WinnerMetric.OPT_OUT_RATIO:
        return [Arm(v, get(v, "sent"), (opted_out or {}).get(v, 0)) for v in variants]
    if metric == WinnerMetric.CLICK_RATIO:  # unique clickers of the messages accepted
        return [Arm(v, get(v, "sent"), get(v, "clickers")) for v in variants]
    return [Arm(v, get(v, "delivered") + get(v, "failed") + get(v, "expired"),
                get(v, "delivered")) for v in variants]


def two_proportion_p(a: Arm, b: Arm) -> float:
    """Two-sided p-value of a pooled two-proportion z-test; 1 when it cannot tell (an
    empty arm, or both at 0% or both at 100%)."""
    if not a.sample or not b.sample:
        return 1.0
    pooled = (a.count + b.count) / (a.sample + b.sample)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / a.sample + 1 / b.sample))
    if spread == 0:
        return 1.0
    z = (a.ratio - b.ratio) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def p_text(p: float) -> str:
    return f"<{P_FLOOR}" if p < P_FLOOR else f"{p:.4f}"


def decide_winner(arms: Sequence[Arm], policy: Winner, now: datetime) -> WinnerStatus:
    """The winner of the test (`arms` in the spec's order of variants), or the fallback."""
    figures = [a.figures() for a in arms]
    base = WinnerStatus(metric=policy.metric, arms=figures, decision_time=now)

    def fallback(why: str, p: float | None = None) -> WinnerStatus:
        first = policy.fallback == WinnerFallback.FIRST_VARIANT
        variant = arms[0].name if first and arms else ""
        then = (f"the rest gets the first variant, {variant}" if first
                else "the rest goes by the variants' weights")
        return base.model_copy(update={
            "variant": variant, "reason": WinnerReason.FALLBACK,
            "p_value": None if p is None else p_text(p), "message": f"{why}; {then}"})

    if policy.manual:
        return base.model_copy(update={
            "variant": policy.manual, "reason": WinnerReason.MANUAL,
            "message": f"{policy.manual} chosen by spec.winner.manual"})
    short = [a for a in arms if a.sample < policy.min_sample_per_variant]
    if short or len(arms) < 2:
        counts = ", ".join(f"{a.name} {a.sample:,}" for a in short)
        return fallback(f"too few messages with a final outcome to decide ({counts};"
                        f" minSamplePerVariant is {policy.min_sample_per_variant:,})")
    lowest = policy.metric == WinnerMetric.OPT_OUT_RATIO
    sign = -1 if lowest else 1  # what is best: the highest delivery, the fewest opt-outs
    best = max(arms, key=lambda a: sign * a.ratio)  # the first of equals
    others = [a for a in arms if a is not best]
    p = min(1.0, max(two_proportion_p(best, o) for o in others) * len(others))
    alpha = (100 - policy.confidence_percent) / 100
    runner_up = max(others, key=lambda a: sign * a.ratio)
    measured = {WinnerMetric.OPT_OUT_RATIO: "opted out",
                WinnerMetric.CLICK_RATIO: "clicked"}.get(policy.metric, "delivered")
    said = (f"{best.name} {100 * best.ratio:.1f}% against {runner_up.name}"
            f" {100 * runner_up.ratio:.1f}% {measured},"
            f" p-value {p_text(p)}")
    if p > alpha or sign * best.ratio <= sign * runner_up.ratio:
        return fallback(f"no significant winner at {policy.confidence_percent}%"
                        f" confidence ({said})", p)
    return base.model_copy(update={
        "variant": best.name, "reason": WinnerReason.SIGNIFICANT, "p_value": p_text(p),
        "message": f"{best.name} wins at {policy.confidence_percent}% confidence ({said})"})


def decision_due(policy: Winner, test_done: datetime | None, now: datetime) -> datetime:
    """When the decision is made: decideAfterSeconds after the test group's senders
    finished (now, for a manual winner)."""
    if policy.manual:
        return now
    return (test_done or now) + timedelta(seconds=policy.decide_after_seconds)


def waiting(arms: Sequence[Arm], policy: Winner, due: datetime) -> WinnerStatus:
    """status.winner while the decision waits: the figures so far and when it comes."""
    return WinnerStatus(
        metric=policy.metric, arms=[a.figures() for a in arms], decision_time=due,
        message=f"the test group is sent; the winner is chosen at {due.isoformat()}")
