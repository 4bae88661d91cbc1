"""The pre-send plan (status.plan): what a run will send, what it costs, when it ends.

Pure. Built from what the import counted in the run's counters hash (campaign_stats):

    imported                         recipients queued: the audience
    variant:<name>:total             per A/B variant
    channel:<name>:total             per channel the import routed them to
    channel:<name>:country:<CC>      per channel and country of the number

with the run's templates and channels (as the run took them) and the Channels' current
pricing. The plan is rebuilt at every reconcile from the same inputs and comes out the
same, so status is written only when an input changes (a price, a rate, the window).

Estimates, as the descriptions in crds.campaign.PresendPlan say:

- segments: each message counts as its template's preview (the body with each
  variable's example, signature and opt-out text) on its channel's gsm7Coding. With
  variants, the variants' shares of a channel's messages are taken to be their shares of
  the audience (a variant is chosen by a hash of the number, whatever its country).
- ETA: each channel sends its own share at most at its own rate, and all together at
  most at the campaign's rate; a winner campaign waits decideAfterSeconds between its
  test group and the rest, a canary campaign holdSeconds between its share and the rest
  (as if it passed); the send window and quiet hours are stepped through on
  the wall clock of schedule.timeZone (sender.sms.send_times), quiet hours included
  there, not in each recipient's zone.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from controllers.decisions.template_review import measure_codings, preview
from crds.campaign import PlanChannel, PlanCountry, PlanVariant, PresendPlan
from crds.channel import Gsm7Coding, Pricing
from crds.template import TemplateSpec
from sender.run_config import RunConfig, SendTimesConfig
from sender.sms.numbers import NO_COUNTRY
from sender.sms.send_times import SendRules, next_change, zone

HOLDOUT = "holdout"
MAX_WINDOW_STEPS = 4000
"""Openings and closings the ETA steps through before it gives up (a year of a window
with quiet hours is about 1,500)."""
CENT = Decimal("0.0001")


@dataclass(frozen=True)
class PlanInputs:
    """What the plan is made of besides the run: the spec's live settings and the
    Channels' pricing as the operator sees them now."""

    basis: datetime
    """When the plan counts from (its `time`)."""
    campaign_rate: int | None
    """spec.rateLimit.messagesPerSecond."""
    send_times: SendTimesConfig
    pricing: Mapping[str, Pricing | None]
    """By channel name; a channel missing here is unpriced."""
    winner_wait_seconds: int = 0
    """spec.winner.decideAfterSeconds (or spec.canary.holdSeconds): a winner campaign
    sends its test group (a canary campaign its share), waits this long, then sends the
    rest."""


def presend_plan(config: RunConfig, fields: Mapping[str, int], total_rows: int,
                 inputs: PlanInputs) -> PresendPlan:
    """The plan of an imported run (`fields` its counters hash, `total_rows` the rows
    its source held)."""
    audience = fields.get("imported", 0)
    variants = _variant_counts(config, fields, audience)
    shares = {v: Fraction(n, audience) if audience else Fraction(0)
              for v, n in variants.items()}
    base_url = config.links.base_url if config.links is not None else ""
    per_message = {v: _segments_by_coding(config.templates[v], base_url)
                   if v in config.templates
                   else {} for v in variants}
    routed = any(key.startswith("channel:") and key.endswith(":total") for key in fields)
    channels = []
    variant_segments: dict[str, Fraction] = dict.fromkeys(variants, Fraction(0))
    send_seconds = 0.0
    for index, target in enumerate(config.channels):
        countries = _country_counts(fields, target.name,
                                    audience if index == 0 and not routed else 0)
        coding = target.smpp.gsm7_coding
        average = sum((share * per_message[v].get(coding, 1) for v, share in shares.items()),
                      Fraction(0))
        messages = sum(countries.values())
        for v, share in shares.items():
            variant_segments[v] += messages * share * per_message[v].get(coding, 1)
        sending_rate = target.sending_rate
        channel = _channel(target.name, countries, average, sending_rate,
                           inputs.pricing.get(target.name))
        channels.append(channel)
        if channel.segments:
            send_seconds = max(send_seconds, channel.segments / sending_rate)
    segments = sum(c.segments for c in channels)
    channel_rate = sum(c.segments_per_second for c in channels if c.messages)
    rate = min(channel_rate, inputs.campaign_rate) if inputs.campaign_rate else channel_rate
    if segments and rate:
        send_seconds = max(send_seconds, segments / rate)
    eta = _eta(config, inputs, math.ceil(send_seconds)) if rate or not segments else None
    cost, currency, mixed = _total_cost(channels)
    plan = PresendPlan(
        time=inputs.basis, rows=total_rows, audience=audience, messages=audience,
        segments=segments, estimated_cost=cost, currency=currency,
        segments_per_second=rate, eta=eta,
        variants=[PlanVariant(name=v, messages=n,
                              segments_per_message=per_message[v].get(
                                  config.channels[0].smpp.gsm7_coding, 1),
                              segments=_whole(variant_segments[v]))
                  for v, n in variants.items() if v],
        channels=channels,
    )
    return plan.model_copy(update={"message": _message(plan, mixed, inputs.send_times)})


def _variant_counts(config: RunConfig, fields: Mapping[str, int], audience: int
                    ) -> dict[str, int]:
    """Recipients per variant ("" the one template of a campaign without variants)."""
    names = [name for name, _ in config.audience.variants if name != HOLDOUT]
    if not names:
        return {"": audience}
    return {name: fields.get(f"variant:{name}:total", 0) for name in names}


def _country_counts(fields: Mapping[str, int], channel: str, fallback: int
                    ) -> dict[str, int]:
    """Messages routed to `channel` by country. A run imported before countries were
    counted has only its total (no country: unpriced unless a default price applies);
    one from before channels were counted, the audience on its first channel."""
    prefix = f"channel:{channel}:country:"
    found = {key[len(prefix):]: n for key, n in fields.items()
             if key.startswith(prefix) and n > 0}
    total = fields.get(f"channel:{channel}:total")
    if total is None:
        total = fallback
    counted = sum(found.values())
    if total > counted:
        found[NO_COUNTRY] = found.get(NO_COUNTRY, 0) + total - counted
    return dict(sorted(found.items()))


@functools.lru_cache(maxsize=1024)
def _preview_segments(text: str) -> tuple[tuple[Gsm7Coding, int], ...]:
    return tuple((m.name, m.segments) for m in measure_codings(text))


def _segments_by_coding(template: TemplateSpec, links_base_url: str = ""
                        ) -> dict[Gsm7Coding, int]:
    """Segments of the template's preview (short links as long as the recipients') on a
    channel of each gsm7Coding."""
    return dict(_preview_segments(preview(template, links_base_url)))


def _channel(name: str, countries: Mapping[str, int], average: Fraction, rate: int,
             pricing: Pricing | None) -> PlanChannel:
    rows = []
    cost = Decimal(0)
    unpriced = []
    for country, messages in countries.items():
        segments = _whole(messages * average)
        price = _price(pricing, country)
        row_cost = None
        if price is not None:
            row_cost = price * segments
            cost += row_cost
        elif pricing is not None:
            unpriced.append(country)
        rows.append(PlanCountry(
            country=country, messages=messages, segments=segments,
            price_per_segment=str(price) if price is not None else None,
            estimated_cost=_money(row_cost) if row_cost is not None else None))
    return PlanChannel(
        name=name, messages=sum(countries.values()), segments=sum(r.segments for r in rows),
        segments_per_second=rate,
        estimated_cost=_money(cost) if pricing is not None else None,
        currency=pricing.currency if pricing is not None else None,
        unpriced_countries=unpriced, countries=rows)


def _price(pricing: Pricing | None, country: str) -> Decimal | None:
    """The price of a segment to `country` on a channel: its own entry, else the
    default; None: unpriced."""
    if pricing is None:
        return None
    for entry in pricing.countries:
        if entry.country == country:
            return Decimal(entry.price_per_segment)
    return Decimal(pricing.price_per_segment) if pricing.price_per_segment else None


def _total_cost(channels: list[PlanChannel]) -> tuple[str | None, str | None, bool]:
    """The sum of the channels' costs and its currency; (None, None, mixed) when no
    channel with messages is priced, or they price in different currencies."""
    used = [c for c in channels if c.messages and c.currency is not None]
    currencies = {c.currency for c in used}
    if len(currencies) != 1:
        return None, None, len(currencies) > 1
    total = sum((Decimal(c.estimated_cost or 0) for c in used), Decimal(0))
    return _money(total), currencies.pop(), False


def _money(amount: Decimal) -> str:
    """A cost as a decimal string: to 1/10000, at least two decimals ("12.50", "0.0450")."""
    text = format(amount.quantize(CENT, rounding=ROUND_HALF_UP), "f")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"


def _whole(value: Fraction) -> int:
    """Rounded half up: segments are whole."""
    return math.floor(value + Fraction(1, 2))


def _eta(config: RunConfig, inputs: PlanInputs, seconds: int) -> datetime | None:
    """When `seconds` of sending are done from the basis; a winner campaign's test group
    (its share of those not held out) first, then the decision's wait, then the rest."""
    rules, zone_name = inputs.send_times.rules(), inputs.send_times.time_zone
    test = config.audience.test_percent
    if not test or not inputs.winner_wait_seconds:
        return finish_time(rules, zone_name, inputs.basis, seconds)
    first = math.ceil(seconds * Fraction(test, 100 - config.audience.holdout_percent))
    tested = finish_time(rules, zone_name, inputs.basis, first)
    if tested is None:
        return None
    decided = tested + timedelta(seconds=inputs.winner_wait_seconds)
    return finish_time(rules, zone_name, decided, seconds - first)


@functools.lru_cache(maxsize=256)
def finish_time(rules: SendRules, zone_name: str, start: datetime, seconds: int
                ) -> datetime | None:
    """When `seconds` of sending that starts at `start` are done, counting only the
    instants the rules let a message go on the wall clock of `zone_name`; None when
    they never open again (or not within MAX_WINDOW_STEPS changes)."""
    if seconds <= 0 or not rules.any:
        return start + timedelta(seconds=seconds)
    tz = zone(zone_name) or ZoneInfo("UTC")
    at, left = start, timedelta(seconds=seconds)
    for _ in range(MAX_WINDOW_STEPS):
        answer = next_change(rules, tz, at)
        if answer.open:
            if answer.until is None or left <= answer.until - at:
                return at + left
            left -= answer.until - at
        elif answer.until is None:
            return None
        assert answer.until is not None
        at = answer.until
    return None


def _message(plan: PresendPlan, mixed: bool, times: SendTimesConfig) -> str:
    parts = [f"{plan.messages:,} messages ({plan.segments:,} segments) to"
             f" {plan.audience:,} of {plan.rows:,} rows"]
    if plan.estimated_cost is not None:
        parts.append(f"estimated cost {plan.estimated_cost} {plan.currency}")
    elif mixed:
        parts.append("no total cost: the channels price in different currencies")
    unpriced = sorted({f"{c.name} {country}" for c in plan.channels
                       for country in c.unpriced_countries})
    unpriced += [f"{c.name} (no pricing)" for c in plan.channels
                 if c.messages and c.currency is None]
    if unpriced:
        parts.append(f"unpriced: {', '.join(unpriced)}")
    if plan.eta is not None:
        parts.append(f"at {plan.segments_per_second:,} segments/s, done by"
                     f" {plan.eta.isoformat()}")
    elif plan.segments:
        parts.append("no ETA: the send window never opens" if plan.segments_per_second
                     else "no ETA: no channel sends")
    if times.per_recipient:
        parts.append(f"send times timed in {times.time_zone}, not each recipient's zone")
    return "; ".join(parts)
