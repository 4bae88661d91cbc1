"""The operator's metrics, read off the status it writes (sender.metrics names them).

Gauges follow status, so Prometheus sees what `kubectl get` shows: a campaign's
messages by state (queued is its queue depth), its conditions, a channel's readiness
and binds. A deleted object's series are removed, not left at their last value.
"""

from __future__ import annotations

import contextlib

from crds.base import ConditionStatus
from crds.campaign import CampaignStatus, Counters
from crds.channel import ChannelStatus
from sender import metrics

COUNTER_STATES = [field.alias or name for name, field in Counters.model_fields.items()]
CAMPAIGN_CONDITIONS = ("Ready", "Progressing", "Degraded", "Stalled")


def export_campaign(ref: str, status: CampaignStatus) -> None:
    if status.counters is not None:
        for state, value in status.counters.model_dump(by_alias=True).items():
            metrics.CAMPAIGN_MESSAGES.labels(ref, state).set(value or 0)
    for condition in status.conditions:
        metrics.CAMPAIGN_CONDITION.labels(ref, condition.type).set(
            int(condition.status == ConditionStatus.TRUE))


def forget_campaign(ref: str) -> None:
    for state in COUNTER_STATES:
        with contextlib.suppress(KeyError):
            metrics.CAMPAIGN_MESSAGES.remove(ref, state)
    for condition in CAMPAIGN_CONDITIONS:
        with contextlib.suppress(KeyError):
            metrics.CAMPAIGN_CONDITION.remove(ref, condition)


def export_channel(ref: str, status: ChannelStatus) -> None:
    ready = any(c.type == "Ready" and c.status == ConditionStatus.TRUE
                for c in status.conditions)
    metrics.CHANNEL_READY.labels(ref).set(int(ready))
    metrics.CHANNEL_BINDS.labels(ref).set(status.binds.bound if status.binds else 0)


def forget_channel(ref: str) -> None:
    for gauge in (metrics.CHANNEL_READY, metrics.CHANNEL_BINDS):
        with contextlib.suppress(KeyError):
            gauge.remove(ref)
