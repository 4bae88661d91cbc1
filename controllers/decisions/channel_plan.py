"""Channel decisions: from (spec, status, what was observed) to status and Events.

Pure: no kopf, kubernetes or redis. The handler samples the channel's activity in
Redis every few seconds (binds up, submits so far); now and then it also resolves the
password Secret and, unless binds are up already, binds once to the SMSC
(sender.smpp.probe), over TLS when the spec asks, with the CA and client certificate
it names; it applies what this module decides. A missing Secret, a missing key, TLS
material that cannot be read, a handshake or certificate that fails, or a refused bind
is a Ready=False condition with its reason and one Event, never an exception: the
handler retries on its timer, so a fixed Secret or a carrier back up turns the channel
Ready by itself. With TLS, a TLSVerified condition says whether the SMSC's certificate
is checked (False, with a Warning, under insecureSkipVerify). With keywordReplies, a
KeywordReplies condition says whether they are answered: False, with a Warning, when
two keywords read the same once folded, or when there is no receiver to answer them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from controllers.decisions import reasons
from controllers.decisions.campaign_run import receiver_binds
from controllers.decisions.events import Event
from controllers.decisions.unimplemented import channel_ignored, with_ignored
from crds.base import Condition, ConditionStatus, find_condition, set_condition
from crds.channel import (
    BindStatus,
    ChannelError,
    ChannelSpec,
    ChannelStatus,
    DeliveryGuarantee,
)
from sender.smpp.probe import ProbeResult
from sender.sms.replies import keyword_collisions
from sender.sms.routing import routing_problems

SMPP_PASSWORD_MAX = 8  # SMPP 3.4 section 4.1.1: password is C-Octet String of 9 with the NUL


@dataclass(frozen=True)
class SecretSeen:
    found: bool
    has_key: bool = False
    password_length: int = 0


@dataclass(frozen=True)
class SourceSeen:
    """A ConfigMap or Secret the channel's TLS names, as read."""

    found: bool
    missing_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsSeen:
    """The channel's TLS material as read; None for what its spec does not name."""

    ca: SourceSeen | None = None
    client_cert: SourceSeen | None = None


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
    tls: TlsSeen = TlsSeen()
    """Read with the Secret (when spec.smpp.tls names a CA or a client certificate)."""
    receivers: bool = True
    """The operator keeps a receiver per Channel (HERALD_CHANNEL_RECEIVERS)."""


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


def tls_problem(spec: ChannelSpec, seen: TlsSeen) -> tuple[str, str] | None:
    """(reason, message) when the TLS material the spec names cannot be read."""
    tls = spec.smpp.tls
    if tls is None:
        return None
    named = []
    if tls.ca_ref is not None and seen.ca is not None:
        named.append((f"{tls.ca_ref.kind.value} {tls.ca_ref.name}", seen.ca, "smpp.tls.caRef"))
    if tls.client_cert_secret_ref is not None and seen.client_cert is not None:
        named.append((f"Secret {tls.client_cert_secret_ref.name}", seen.client_cert,
                      "smpp.tls.clientCertSecretRef"))
    for what, source, field_path in named:
        if not source.found:
            return reasons.TLS_SOURCE_NOT_FOUND, f"{what} ({field_path}) not found"
        if source.missing_keys:
            keys = ", ".join(repr(k) for k in source.missing_keys)
            return reasons.TLS_KEY_MISSING, f"{what} ({field_path}) has no key {keys}"
    return None


def tls_condition(spec: ChannelSpec, generation: int | None, now: datetime
                  ) -> Condition | None:
    """TLSVerified: whether the SMSC's certificate is checked; None without TLS."""
    tls = spec.smpp.tls
    if tls is None:
        return None
    if tls.insecure_skip_verify:
        return Condition(
            type="TLSVerified", status=ConditionStatus.FALSE, observed_generation=generation,
            last_transition_time=now, reason=reasons.INSECURE_SKIP_VERIFY,
            message="smpp.tls.insecureSkipVerify: the SMSC's certificate is not checked;"
                    " the connection is encrypted but open to a man in the middle")
    trust = (f"the CA in {tls.ca_ref.kind.value} {tls.ca_ref.name} key {tls.ca_ref.key!r}"
             if tls.ca_ref is not None else "the system trust store")
    name = tls.server_name or spec.smpp.host
    return Condition(
        type="TLSVerified", status=ConditionStatus.TRUE, observed_generation=generation,
        last_transition_time=now, reason=reasons.CERTIFICATE_VERIFIED,
        message=f"the SMSC's certificate must verify against {trust} for {name}")


def routing_condition(spec: ChannelSpec, generation: int | None, now: datetime
                      ) -> Condition | None:
    """RoutingValid: whether every country and carrier the routing names can match a
    number (phonenumbers has numbers for the country, knows the carrier's name); None
    when the routing names neither. False is a warning, not a failure: the others still
    match."""
    routing = spec.routing
    if not routing.countries and not routing.carriers:
        return None
    return _known("RoutingValid", routing_problems(routing.countries, routing.carriers),
                  (reasons.UNKNOWN_ROUTING_TARGET, reasons.ROUTING_KNOWN),
                  "every country and carrier of spec.routing", generation, now)


def source_pool_condition(spec: ChannelSpec, generation: int | None, now: datetime
                          ) -> Condition | None:
    """SourceAddressesValid: whether every country the pool's addresses list has numbers
    in phonenumbers (UK is no code: GB is); None when no address lists one. False is a
    warning: such an address still sends to the countries it lists that are known, and
    the recipients it was meant for go from the pool's other addresses."""
    pool = spec.smpp.source_addresses or []
    if not any(a.countries for a in pool):
        return None
    problems = [f"{a.address}: {problem}" for a in pool
                for problem in routing_problems(a.countries, [])]
    return _known("SourceAddressesValid", problems,
                  (reasons.UNKNOWN_SOURCE_COUNTRY, reasons.SOURCE_COUNTRIES_KNOWN),
                  "every country of spec.smpp.sourceAddresses", generation, now)


def pricing_condition(spec: ChannelSpec, generation: int | None, now: datetime
                      ) -> Condition | None:
    """PricingValid: whether every country spec.pricing prices has numbers in
    phonenumbers (UK is no code: GB is); None without per-country prices. False is a
    warning: such a price prices no number, and the campaigns' plans list the countries
    they found unpriced."""
    pricing = spec.pricing
    if pricing is None or not pricing.countries:
        return None
    return _known("PricingValid", routing_problems([c.country for c in pricing.countries], []),
                  (reasons.UNKNOWN_PRICING_COUNTRY, reasons.PRICING_COUNTRIES_KNOWN),
                  "every country of spec.pricing", generation, now)


def _known(kind: str, problems: list[str], why: tuple[str, str], everything: str,
           generation: int | None, now: datetime) -> Condition:
    """A condition saying whether the names a spec field lists are known to phonenumbers:
    False (a warning) with `why[0]` and the problems, else True with `why[1]`."""
    return Condition(
        type=kind, status=ConditionStatus.FALSE if problems else ConditionStatus.TRUE,
        observed_generation=generation, last_transition_time=now,
        reason=why[0] if problems else why[1],
        message="; ".join(problems) if problems else f"{everything} is known to phonenumbers")


def keywords_condition(spec: ChannelSpec, generation: int | None, now: datetime,
                       receivers: bool) -> Condition | None:
    """KeywordReplies: whether the channel's receiver answers them; None without
    keywordReplies. Keywords that fold alike are listed (the first listed answers);
    without a receiver nothing is answered, and the message says what would fix it."""
    if spec.keyword_replies is None:
        return None
    problems = keyword_collisions(spec.keyword_replies, spec.opt_in.keywords)
    if problems:
        reason, message = reasons.DUPLICATE_KEYWORD, "; ".join(problems)
    elif not receiver_binds(spec, receivers):
        reason = reasons.NO_RECEIVER
        message = ("keyword replies are answered by the channel's receiver, and this channel"
                   " has none: " + ("the operator runs no channel receivers"
                                    " (HERALD_CHANNEL_RECEIVERS)" if not receivers else
                                    "maxBinds leaves it no bind"))
    else:
        return Condition(
            type="KeywordReplies", status=ConditionStatus.TRUE, observed_generation=generation,
            last_transition_time=now, reason=reasons.ANSWERING,
            message="the channel's receiver answers keyword replies while it is bound"
                    " (status.binds.receiverBound)")
    return Condition(type="KeywordReplies", status=ConditionStatus.FALSE,
                     observed_generation=generation, last_transition_time=now, reason=reason,
                     message=message[:1024])


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
    problem = secret_problem(spec, world.secret) or tls_problem(spec, world.tls)
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
        over = " over TLS" if smpp.tls is not None else ""
        message = (f"{smpp.host}:{smpp.port} accepts binds as {smpp.system_id}{over}"
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
    events: list[Event] = []
    if not _same(old, ready):
        events.append(Event("Normal", reason, message) if problem is None
                      else Event("Warning", reason, message))
    new.conditions, ignored_events = with_ignored(new.conditions, channel_ignored(spec),
                                                  generation, world.now)
    events.extend(ignored_events)
    for kind, warning in (("RoutingValid", routing_condition(spec, generation, world.now)),
                          ("TLSVerified", tls_condition(spec, generation, world.now)),
                          ("SourceAddressesValid",
                           source_pool_condition(spec, generation, world.now)),
                          ("PricingValid", pricing_condition(spec, generation, world.now)),
                          ("KeywordReplies", keywords_condition(spec, generation, world.now,
                                                                world.receivers))):
        new.conditions = _with_warning(new.conditions, kind, warning, old, events)
    return ChannelDecision(new, tuple(events))


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


def _with_warning(conditions: list[Condition], kind: str, condition: Condition | None,
                  old: ChannelStatus, events: list[Event]) -> list[Condition]:
    """The conditions with `condition` set, or `kind` dropped when it is None; a False
    one that changed adds its Warning Event to `events`."""
    if condition is None:
        return [c for c in conditions if c.type != kind]
    if condition.status == ConditionStatus.FALSE and not _same(old, condition):
        events.append(Event("Warning", condition.reason, condition.message))
    return set_condition(conditions, condition)


def _same(old: ChannelStatus, new: Condition) -> bool:
    was = find_condition(old.conditions, new.type)
    return was is not None and (was.status, was.reason, was.message) == (
        new.status, new.reason, new.message)
