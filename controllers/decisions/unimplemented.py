"""Spec fields the API has and Herald does not act on yet: named, never pretended.

Pure. A manifest that sets one gets an IgnoredFields condition (status True, reason
NotYetImplemented, the fields in its message) and one Warning Event when the set of
ignored fields changes; the CRD descriptions of those fields say "Not yet implemented"
too (tests/test_field_effects.py holds both to it). When a later issue implements a
field, it leaves this module.
"""

from __future__ import annotations

from datetime import datetime

from controllers.decisions import reasons
from controllers.decisions.events import Event
from crds.base import Condition, ConditionStatus, find_condition, set_condition
from crds.campaign import CampaignSpec
from crds.channel import ChannelSpec

IGNORED_FIELDS = "IgnoredFields"


def campaign_ignored(spec: CampaignSpec) -> list[str]:
    """The not-yet-implemented fields this Campaign sets, as spec paths."""
    return []


def channel_ignored(spec: ChannelSpec) -> list[str]:
    """The not-yet-implemented fields this Channel sets, as spec paths."""
    del spec  # every Channel field is implemented now
    return []


def with_ignored(conditions: list[Condition], fields: list[str], generation: int | None,
                 now: datetime) -> tuple[list[Condition], tuple[Event, ...]]:
    """The conditions with IgnoredFields set (or dropped when nothing is ignored), and
    the Event for a change of what is ignored."""
    old = find_condition(conditions, IGNORED_FIELDS)
    if not fields:
        return [c for c in conditions if c.type != IGNORED_FIELDS], ()
    message = (f"not yet implemented, so without effect: {', '.join(fields)}")
    new = Condition(type=IGNORED_FIELDS, status=ConditionStatus.TRUE,
                    observed_generation=generation, last_transition_time=now,
                    reason=reasons.NOT_YET_IMPLEMENTED, message=message)
    changed = old is None or old.message != message
    events = (Event("Warning", reasons.NOT_YET_IMPLEMENTED, message),) if changed else ()
    return set_condition(conditions, new), events
