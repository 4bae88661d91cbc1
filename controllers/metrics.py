"""The operator's metrics, read off the status it writes.

    herald_campaign_messages{campaign,state}   counters from status: queued (the queue
                                               depth), submitted...
    herald_campaign_condition{campaign,condition}  1 when True (Stalled, Degraded...)
    herald_channel_ready{channel}              1 when Ready
    herald_channel_binds{channel}              binds in use, all pods
    herald_status_writes_total{kind}           status writes to the API

The engine's metrics (senders, receivers) are in sender.metrics.

Gauges follow status, so Prometheus sees what `kubectl get` shows: a campaign's
messages by state (queued is its queue depth), its conditions, a channel's readiness
and binds. A deleted object's series are removed, not left at their last value.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

from crds.base import ConditionStatus
from crds.campaign import CampaignStatus, Counters
from crds.channel import ChannelStatus

CAMPAIGN_MESSAGES = Gauge(
    "herald_campaign_messages", "A campaign's messages by state, as its status counts them.",
    ["campaign", "state"])
CAMPAIGN_CONDITION = Gauge(
    "herald_campaign_condition", "1 when the campaign's condition is True, else 0.",
    ["campaign", "condition"])
CHANNEL_READY = Gauge("herald_channel_ready", "1 when the channel is Ready, else 0.", ["channel"])
CHANNEL_BINDS = Gauge(
    "herald_channel_binds", "Binds in use on the channel, all pods together.", ["channel"])
STATUS_WRITES = Counter("herald_status_writes", "Status writes to the Kubernetes API.", ["kind"])

COUNTER_STATES = [field.alias or name for name, field in Counters.model_fields.items()]
CAMPAIGN_CONDITIONS = ("Ready", "Progressing", "Degraded", "Stalled", "CanaryFailed",
                       "AutoPaused")


def export_campaign(ref: str, status: CampaignStatus) -> None:
    if status.counters is not None:
        for state, value in status.counters.model_dump(by_alias=True).items():
            CAMPAIGN_MESSAGES.labels(ref, state).set(value or 0)
    for condition in status.conditions:
        CAMPAIGN_CONDITION.labels(ref, condition.type).set(
            int(condition.status == ConditionStatus.TRUE))


def forget_campaign(ref: str) -> None:
    for state in COUNTER_STATES:
        with contextlib.suppress(KeyError):
            CAMPAIGN_MESSAGES.remove(ref, state)
    for condition in CAMPAIGN_CONDITIONS:
        with contextlib.suppress(KeyError):
            CAMPAIGN_CONDITION.remove(ref, condition)


def export_channel(ref: str, status: ChannelStatus) -> None:
    ready = any(c.type == "Ready" and c.status == ConditionStatus.TRUE
                for c in status.conditions)
    CHANNEL_READY.labels(ref).set(int(ready))
    CHANNEL_BINDS.labels(ref).set(status.binds.bound if status.binds else 0)


def forget_channel(ref: str) -> None:
    for gauge in (CHANNEL_READY, CHANNEL_BINDS):
        with contextlib.suppress(KeyError):
            gauge.remove(ref)
