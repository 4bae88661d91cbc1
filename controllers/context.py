"""What every handler shares: one frozen, typed context, built once when the operator starts.

    memo.context.config      the OperatorConfig (from the environment, or the harness's)
    memo.context.redis       the one Redis client (sender.store.client)
    memo.context.kube ...    the Kubernetes clients

kopf hands each handler the same `memo`; Herald keeps one attribute on it, `context`,
instead of a dozen untyped ones, the way gafaelfawr's operator builds its factory at
startup (`operator/startup.py`). Nothing reads configuration at import time: a config
handed in through the memo (the test harness, `herald demo`) reaches every handler.

The context itself never changes. What handlers remember between runs (locks, samples,
when a campaign wants its next reconcile) sits in the mutable containers it holds.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controllers.config import OperatorConfig
from controllers.decisions.campaign_stats import Sample, TimelineMark
from controllers.decisions.campaign_trigger import TokenSeen
from controllers.decisions.campaign_world import PlanSettings
from controllers.kube import CoreKube, Deployments, Kube
from sender.store.client import Redis

ObjectKey = tuple[str, str]
"""(namespace, name) of a Template, Channel or Campaign."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OperatorContext:
    config: OperatorConfig
    plan_settings: PlanSettings
    redis: Redis
    kube: Kube
    core: CoreKube
    deployments: Deployments
    template_locks: defaultdict[ObjectKey, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock))
    """One lock per Template serialises its reconciles (controllers.template)."""
    channel_locks: defaultdict[ObjectKey, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock))
    """One lock per Channel serialises its reconciles and its deletion."""
    channel_checked: dict[ObjectKey, float] = field(default_factory=dict)
    """When each Channel's Secret and bind were last checked (time.monotonic())."""
    channel_samples: defaultdict[ObjectKey, deque[Any]] = field(
        default_factory=lambda: defaultdict(deque))
    """Each Channel's recent activity samples, for its measured throughput."""
    campaign_samples: dict[ObjectKey, tuple[Sample | None, datetime | None]] = field(
        default_factory=dict)
    """Each Campaign's last sample and last progress, for its rate and stall check."""
    timeline_marks: dict[ObjectKey, TimelineMark] = field(default_factory=dict)
    """The last sample each Campaign's run timeline got (sender.store.run_timeline)."""
    campaign_due: dict[ObjectKey, float] = field(default_factory=dict)
    """When each Campaign wants its next reconcile (time.monotonic()); see
    CampaignPlan.requeue_after_seconds."""
    ingest_tokens: dict[ObjectKey, tuple[float, TokenSeen]] = field(default_factory=dict)
    """Each trigger Api Campaign's token as last read, and when (time.monotonic())."""
    guard_opt_outs: dict[ObjectKey, tuple[float, int]] = field(default_factory=dict)
    """Each autoPause Campaign's run opt-outs as last counted, and when (time.monotonic())."""
    status_writes: Counter[ObjectKey] = field(default_factory=Counter)
    """Status writes per Campaign since the start (tests read it)."""
    clock: Callable[[], datetime] = utc_now
    """What time it is for the campaign decisions (the harness may move it)."""
