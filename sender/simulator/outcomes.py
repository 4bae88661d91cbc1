"""The simulator's decision for each submit_sm: throttle it, refuse it, or accept it.

Order: a forced throttle (`throttle_next`), a periodic throttle burst, the longest matching
destination-prefix rule (one naming the part of a long message first, so part 2 of 3 can
fail while the others are delivered), then a weighted draw from a seeded random
generator, so a run with the same seed and the same submits decides the same way.
Decisions are shared constants: deciding allocates nothing.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from itertools import accumulate

from sender.simulator.config import Outcome, SimulatorConfig
from sender.smpp.codes import CommandStatus, MessageState

STATES: dict[Outcome, MessageState] = {
    Outcome.DELIVERED: MessageState.DELIVERED,
    Outcome.UNDELIVERABLE: MessageState.UNDELIVERABLE,
    Outcome.EXPIRED: MessageState.EXPIRED,
    Outcome.REJECTED: MessageState.REJECTED,
}
"""message_state reported for each outcome that is accepted."""

DEFAULT_ERROR_CODES: dict[Outcome, int] = {
    Outcome.DELIVERED: 0, Outcome.UNDELIVERABLE: 1, Outcome.EXPIRED: 0, Outcome.REJECTED: 0,
}  # fmt: skip
"""err: of the receipt text (GSM MAP error: 1 is unknown subscriber)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """status 0 means accepted, with `outcome` to report by receipt; else the refusal."""

    status: int
    outcome: Outcome
    error_code: int = 0

    @property
    def accepted(self) -> bool:
        return self.status == 0


_ACCEPTED = {outcome: Decision(0, outcome, DEFAULT_ERROR_CODES[outcome]) for outcome in STATES}
THROTTLE_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})


class OutcomePolicy:
    """Decides submits in arrival order; keeps the throttle counters between config changes."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.reset(config)

    def reset(self, config: SimulatorConfig) -> None:
        """Start over: the seed's first draw, no submits counted, no forced throttling."""
        self._rng = random.Random(config.seed)
        self._submits = 0
        self._forced = 0
        self._forced_status = CommandStatus.ESME_RTHROTTLED
        self.configure(config)

    def configure(self, config: SimulatorConfig) -> None:
        """Take new rules and weights; the random sequence and counters carry on."""
        self._every = config.throttle.every
        self._burst = config.throttle.burst
        self._throttle = Decision(config.throttle.status, Outcome.ERROR)
        rules = sorted(config.rules, key=lambda rule: (len(rule.prefix.lstrip("+")),
                                                       rule.part is not None), reverse=True)
        self._rules = [(rule.prefix.lstrip("+"), rule.part,
                        self._rule_decision(rule.outcome, rule.status, rule.error_code))
                       for rule in rules]
        weights = config.outcomes
        table = [(Outcome.DELIVERED, weights.delivered),
                 (Outcome.UNDELIVERABLE, weights.undeliverable),
                 (Outcome.EXPIRED, weights.expired), (Outcome.REJECTED, weights.rejected),
                 (Outcome.ERROR, weights.error)]
        table = [(outcome, weight) for outcome, weight in table if weight > 0]
        self._drawn = [self._rule_decision(outcome, weights.error_status, None)
                       for outcome, _ in table]
        self._cumulative = list(accumulate(weight for _, weight in table))
        # One outcome (or none weighted, read as all delivered): no draw needed.
        self._only = self._drawn[0] if len(self._drawn) == 1 else (
            _ACCEPTED[Outcome.DELIVERED] if not self._drawn else None)

    @staticmethod
    def _rule_decision(outcome: Outcome, status: int, error_code: int | None) -> Decision:
        if outcome == Outcome.ERROR:
            return Decision(status, outcome)
        if error_code is None:
            return _ACCEPTED[outcome]
        return Decision(0, outcome, error_code)

    def throttle_next(self, count: int, status: int = CommandStatus.ESME_RTHROTTLED) -> None:
        """Refuse the next `count` submits with `status`, before any other rule."""
        self._forced = count
        self._forced_status = CommandStatus(status)

    def decide(self, destination: str, part: int = 0) -> Decision:
        """The decision for a submit to `destination`; `part`: its seqnum in a long
        message (from 1), 0 for a short one."""
        self._submits += 1
        if self._forced:
            self._forced -= 1
            return Decision(self._forced_status, Outcome.ERROR)
        if self._every and self._submits >= self._every \
                and self._submits % self._every < self._burst:
            return self._throttle
        if self._rules:
            number = destination.lstrip("+")
            for prefix, rule_part, decision in self._rules:
                if number.startswith(prefix) and (rule_part is None or rule_part == part):
                    return decision
        if self._only is not None:
            return self._only
        draw = self._rng.random() * self._cumulative[-1]
        return self._drawn[bisect.bisect_right(self._cumulative, draw)]
