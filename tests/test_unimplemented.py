"""Fields the API has and Herald does not act on yet are named on the object that sets
them (IgnoredFields condition, one Warning Event), never pretended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.decisions import reasons
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.channel_plan import ChannelWorld, SecretSeen, plan_channel
from controllers.decisions.unimplemented import (
    IGNORED_FIELDS,
    campaign_ignored,
    channel_ignored,
    with_ignored,
)
from crds.base import find_condition
from crds.campaign import CampaignSpec
from crds.channel import ChannelSpec, ChannelStatus
from tests.test_campaign_plan import SETTINGS, example, world
from tests.test_campaign_plan import campaign as campaign_of

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def channel(**spec: Any) -> ChannelSpec:
    return ChannelSpec.model_validate(example("channel.yaml")["spec"] | spec)


def campaign(**spec: Any) -> CampaignSpec:
    return CampaignSpec.model_validate(example("campaign.yaml")["spec"] | spec)


@pytest.mark.parametrize("spec, ignored", [
    pytest.param(channel(), [], id="example"),
    pytest.param(channel(routing={"countries": ["CN"], "carriers": ["China Mobile"]}),
                 [], id="routing-implemented"),
    pytest.param(channel(retry={"failOver": True}), [], id="fail-over-implemented"),
])
def test_channel_fields_not_yet_implemented(spec: ChannelSpec, ignored: list[str]) -> None:
    assert channel_ignored(spec) == ignored


WINDOW = {"start": "09:00", "end": "21:00"}


@pytest.mark.parametrize("spec, ignored", [
    pytest.param(campaign(), [], id="example"),
    pytest.param(campaign(schedule={"recurrence": "0 10 * * 1"}),
                 [], id="recurrence-implemented"),
    pytest.param(campaign(schedule={"sendWindow": WINDOW | {"timeZoneSource": "Recipient"}}),
                 [], id="recipient-zone-implemented"),
    pytest.param(campaign(compliance={"frequencyCap": {"maxMessages": 2, "periodHours": 168}}),
                 [], id="frequency-cap-implemented"),
    pytest.param(campaign(audience=example("campaign.yaml")["spec"]["audience"]
                          | {"columns": {"timeZone": "tz"}}),
                 [], id="time-zone-column-implemented"),
])
def test_campaign_fields_not_yet_implemented(spec: CampaignSpec, ignored: list[str]) -> None:
    assert campaign_ignored(spec) == ignored


def test_a_channel_drops_the_ignored_fields_an_older_operator_named() -> None:
    """routing and retry.failOver were not implemented once: the condition an older
    operator set goes at the next plan, without a new Event."""
    spec = channel(retry={"failOver": True})
    seen = SecretSeen(found=True, has_key=True, password_length=6)
    old, events = with_ignored([], ["spec.retry.failOver"], 1, NOW)
    assert events and find_condition(old, IGNORED_FIELDS) is not None
    plan = plan_channel(spec, 1, ChannelStatus(conditions=old), ChannelWorld(NOW, seen))
    assert find_condition(plan.status.conditions, IGNORED_FIELDS) is None
    assert reasons.NOT_YET_IMPLEMENTED not in [e.reason for e in plan.events]


def test_a_campaign_drops_the_ignored_fields_an_older_operator_named() -> None:
    """recurrence was not implemented once: the condition an older operator set on a
    recurring campaign goes at the first plan, without a new Event."""
    plain = campaign_of()
    old, events = with_ignored([], ["spec.schedule.recurrence"], 1, NOW)
    assert events and find_condition(old, IGNORED_FIELDS) is not None
    stale = plain.model_copy(update={"status": plain.status.model_copy(
        update={"conditions": old})})
    plan = plan_campaign(stale, world(), SETTINGS)
    assert find_condition(plan.status.conditions, IGNORED_FIELDS) is None
    assert reasons.NOT_YET_IMPLEMENTED not in [e.reason for e in plan.events]
