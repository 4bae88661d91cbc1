"""Channel decisions: from (spec, status, what was observed) to status and Events.

Pure: no kopf, kubernetes or redis. The handler samples the channel's activity in
Redis every few seconds (binds up, submits so far); now and then it also resolves the
password Secret and, unless binds are up already, binds once to the SMSC
(sender.smpp.probe); it applies what this module decides. A missing Secret, a missing
key or a refused bind is a Ready=False condition with its reason and one Event, never
an exception: the handler retries on its timer, so a fixed Secret or a carrier back up
turns the channel Ready by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from controllers.decisions import reasons
from controllers.decisions.events import Event
from crds.base import Condition, ConditionStatus, find_condition, set_condition
from crds.channel import (
    BindStatus,
    ChannelError,
    ChannelSpec,
    ChannelStatus,
    DeliveryGuarantee,
)
from sender.smpp.probe import ProbeResult

SMPP_PASSWORD_MAX = 8  # SMPP 3.4 section 4.1.1: password is C-Octet String of 9 with the NUL


@dataclass(frozen=True)
class SecretSeen:
    found: bool
    has_key: bool = False
    password_length: int = 0


@dataclass(frozen=True)
class ActivitySeen:
    """What senders and the receiver report (sender.store.channel_activity)."""

    bound: int
    receiver_bound: int
    messages_per_second: int | None
    """Measured over the last minute; None before two samples."""


@dataclass(frozen=True)
class ChannelWorld:
    now: datetime
    secret: SecretSeen | None
    """None when the Secret was not read this time (between rechecks)."""
    probe: ProbeResult | None = None
    """The bind check; None when the Secret did not allow one, or binds were up."""
    activity: ActivitySeen | None = None


@dataclass(frozen=True)
class ChannelDecision:
    status: ChannelStatus
    events: tuple[Event, ...]


def secret_problem(spec: ChannelSpec, secret: SecretSeen) -> tuple[str, str] | None:
    """(reason, message) when the password cannot be taken from the Secret."""
    ref = spec.smpp.password_secret_ref
    if not secret.found:
        return reasons.SECRET_NOT_FOUND, f"Secret {ref.name} not found"
    if not secret.has_key:
        return reasons.SECRET_KEY_MISSING, f"Secret {ref.name} has no key {ref.key!r}"
    if secret.password_length > SMPP_PASSWORD_MAX:
        return reasons.PASSWORD_TOO_LONG, (
            f"the password in Secret {ref.name} key {ref.key!r} has {secret.password_length}"
            f" characters; SMPP 3.4 allows {SMPP_PASSWORD_MAX}")
    return None


def plan_channel(
    spec: ChannelSpec, generation: int | None, old: ChannelStatus, world: ChannelWorld
) -> ChannelDecision:
    new = old.model_copy(deep=True)
    if world.activity is not None:
        binds = new.binds or BindStatus()
        new.binds = binds.model_copy(update={"bound": world.activity.bound,
                                             "receiver_bound": world.activity.receiver_bound})
        new.measured_messages_per_second = world.activity.messages_per_second
    if world.secret is None:  # a sample between checks: readiness stands as it was
        return ChannelDecision(new, ())
    problem = secret_problem(spec, world.secret)
    if problem is None and world.probe is not None:
        problem = None if world.probe.ok else (world.probe.reason, world.probe.message)
    new.observed_generation = generation
    new.delivery_guarantee = (DeliveryGuarantee.AT_LEAST_ONCE if spec.retry.resend_unknown
                              else DeliveryGuarantee.AT_MOST_ONCE)
    if problem is None:
        reason = reasons.BOUND
        # One message whether a bind check or binds already up said so: a recheck that
        # takes the other path is no change worth an Event.
        smpp = spec.smpp
        message = (f"{smpp.host}:{smpp.port} accepts binds as {smpp.system_id}"
                   if world.probe else "Secret resolved")
    else:
        reason, message = problem
        new.last_error = ChannelError(reason=reason, message=message, time=world.now)
    new.message = message[:256]
    ready = Condition(type="Ready", status=ConditionStatus.TRUE if problem is None
                      else ConditionStatus.FALSE, observed_generation=generation,
                      last_transition_time=world.now, reason=reason, message=message)
    if problem is None and world.probe is not None and not _same(old, ready):
        # A bind that works again (or for the first time); a recheck that changes
        # nothing is not worth a status write.
        binds = new.binds or BindStatus()
        new.binds = binds.model_copy(update={"last_bind_time": world.now})
    new.conditions = set_condition(old.conditions, ready)
    events: tuple[Event, ...] = ()
    if not _same(old, ready):
        events = (Event("Normal", reason, message) if problem is None
                  else Event("Warning", reason, message),)
    return ChannelDecision(new, events)


def binds_up_result(spec: ChannelSpec, bound: int) -> ProbeResult:
    """Binds reported up stand for the probe: no extra bind needed to know the carrier
    accepts this account (carriers cap binds; the probe would take one more)."""
    smpp = spec.smpp
    return ProbeResult(True, reasons.BOUND,
                       f"binds to {smpp.host}:{smpp.port} as {smpp.system_id} are up")


def measured_rate(samples: Sequence[tuple[float, int]]) -> int | None:
    """Submits per second between the oldest and newest (time, total) samples."""
    if len(samples) < 2:
        return None
    (first_at, first), (last_at, last) = samples[0], samples[-1]
    if last_at <= first_at:
        return None
    return max(0, round((last - first) / (last_at - first_at)))


def _same(old: ChannelStatus, ready: Condition) -> bool:
    was = find_condition(old.conditions, "Ready")
    return was is not None and (was.status, was.reason, was.message) == (
        ready.status, ready.reason, ready.message)
