"""Which of a run's channels its routing passes over, as their readiness changes.

Pure. A run starts with the channels that were not Ready passed over (RunConfig.
unavailable). While it sends, a channel that has been not Ready for its
retry.failoverAfterSeconds joins them: its lanes' senders move their queued messages to
the next channel that serves each number (sender.send.failover), and new messages (a
trigger campaign's events) route past it. A channel Ready again leaves them: new routing
goes back to it, and what waited in its lanes for it is sent. A channel deleted mid-run
is passed over at once. Each change is an Event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from controllers.decisions import reasons
from controllers.decisions.campaign_world import ChannelSeen
from controllers.decisions.events import Event
from sender.run_config import RunConfig


@dataclass(frozen=True)
class Availability:
    unavailable: list[str]
    """The run's channels routing passes over now, in the run's order."""
    events: tuple[Event, ...] = ()
    wake_at: datetime | None = None
    """When a channel not Ready now reaches its failoverAfterSeconds."""


def channel_availability(config: RunConfig, channels: Mapping[str, ChannelSeen],
                         now: datetime) -> Availability:
    unavailable: list[str] = []
    events: list[Event] = []
    wake_at: datetime | None = None
    for channel in config.channels:
        name, was = channel.name, channel.name in config.unavailable
        seen = channels.get(name)
        if seen is not None and seen.ready:
            if was:
                events.append(Event("Normal", reasons.CHANNEL_RECOVERED, (
                    f"channel {name} is Ready again: messages route to it and what waited"
                    " for it is sent")))
            continue
        if was:
            unavailable.append(name)
            continue
        if seen is None:
            unavailable.append(name)
            events.append(Event("Warning", reasons.CHANNEL_FAILED_OVER, (
                f"channel {name} was deleted: its queued messages move to the next channel"
                " that serves them")))
            continue
        after = seen.spec.retry.failover_after_seconds
        if not after:
            continue
        due = (seen.not_ready_since or now) + timedelta(seconds=after)
        if now >= due:
            unavailable.append(name)
            events.append(Event("Warning", reasons.CHANNEL_FAILED_OVER, (
                f"channel {name} has not been Ready for {after}s ({seen.reason}): its queued"
                " messages move to the next channel that serves them, until it is back")))
        else:
            wake_at = due if wake_at is None else min(wake_at, due)
    return Availability(unavailable, tuple(events), wake_at)
