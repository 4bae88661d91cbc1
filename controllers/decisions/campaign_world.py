"""What the campaign plan sees and what it decides: the observed world (templates,
channels, Jobs, the run in Redis), the operator's settings, and the plan the handler
applies. Frozen dataclasses, built by the handler (controllers.campaign) or by hand in
tests; controllers.decisions.campaign_plan holds the decisions between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controllers.decisions import campaign_stats as stats
from controllers.decisions.campaign_trigger import TokenSeen
from controllers.decisions.events import Event
from controllers.decisions.pod_spec import PodSettings
from crds.campaign import CampaignStatus, Counters, QuietHours
from crds.channel import ChannelSpec
from crds.template import TemplateSpec
from sender.ingest_run import IngestRun
from sender.run_config import RunConfig

FOLD_SECONDS = 1.0
"""How often a campaign that is not finished is reconciled (its counters folded)."""


@dataclass(frozen=True)
class PlanSettings:
    pods: PodSettings = field(default_factory=PodSettings)
    degraded_failure_percent: int = 20
    """Degraded when more than this percent of finished messages failed or expired..."""
    degraded_min_finished: int = 100
    """...among at least this many."""
    stall_seconds: int = 300
    """Stalled when sending and nothing left the queue for this long."""
    retention_seconds: int = 7 * 24 * 3600
    """A finished campaign's Redis keys are deleted this long after it finished."""
    receipt_wait_seconds: float = 10.0
    channel_receivers: bool = True
    """Channels keep a receiver, which takes one of their binds."""
    marketing_quiet_hours: QuietHours | None = field(default_factory=QuietHours)
    """Quiet hours of a Marketing campaign that sets none (the operator's default)."""
    links_base_url: str = ""
    """The base URL of short links (tracked links), "" for none."""


@dataclass(frozen=True)
class TemplateSeen:
    spec: TemplateSpec
    approved: bool
    """Ready, reviewed at its current generation, for its current content."""
    reason: str = ""
    """Why not, from its Ready condition."""


@dataclass(frozen=True)
class ChannelSeen:
    spec: ChannelSpec
    ready: bool
    reason: str = ""
    message: str = ""
    not_ready_since: datetime | None = None
    """When its Ready condition last turned False (None: Ready, or never checked)."""


@dataclass(frozen=True)
class AudienceSeen:
    """The ConfigMap or Secret the audience's configMapRef or secretRef names, read
    before the run starts (the importer pod would wait for good on a missing one)."""

    keys: frozenset[str] | None
    """Its keys (data and binaryData); None when it does not exist."""


@dataclass(frozen=True)
class JobSeen:
    suspended: bool = False
    parallelism: int | None = None
    active: int = 0
    complete: bool = False
    failed: bool = False
    message: str = ""
    """The Failed condition's message."""
    completion_time: datetime | None = None
    """status.completionTime of a complete Job."""


@dataclass(frozen=True)
class RunSeen:
    """The campaign's run as Redis holds it."""

    config: RunConfig
    counters: Counters
    fields: Mapping[str, int] = field(default_factory=dict)
    """The raw counters hash: breakdowns, errors, drop reasons (campaign_stats)."""
    next_window: datetime | None = None
    """When the earliest message held for its send time may go (None: none is held)."""
    import_done: bool = False
    import_error: str = ""
    cancel_done: bool = False
    ingest: IngestRun | None = None
    """A trigger Api campaign's ingest settings as Redis holds them."""
    ingest_closed: bool = False
    test_opt_outs: Mapping[str, int] | None = None
    """Per variant, the winner test group's recipients who opted out since it was sent;
    read for spec.winner.metric OptOutRatio once the decision is due (else None)."""
    export: str = ""
    """The export Job's result as its pod recorded it (JSON; sender.export.process)."""
    export_error: str = ""
    """Why the export's last attempt failed."""
    guard_opt_outs: int | None = None
    """Recipients the run's accepted messages went to who opted out since it started:
    the canary share's once its judgement is due (spec.canary.maxOptOutPercent), the
    whole run's at most once a minute (spec.autoPause.maxOptOutPercent); else None."""


@dataclass(frozen=True)
class CampaignWorld:
    now: datetime
    templates: Mapping[str, TemplateSeen] = field(default_factory=dict)
    channels: Mapping[str, ChannelSeen] = field(default_factory=dict)
    run: RunSeen | None = None
    audience: AudienceSeen | None = None
    """The audience's ConfigMap or Secret; None when the audience has none, or once the
    run started (it is read only before)."""
    suppression: Mapping[str, AudienceSeen] = field(default_factory=dict)
    """By suppression list name, the ConfigMap or Secret it names (read as `audience`);
    a list missing here was not looked at."""
    token: TokenSeen | None = None
    """A trigger Api campaign's token Secret as last read (the handler reads it again
    every campaign_trigger.TOKEN_RECHECK_SECONDS); None for other campaigns."""
    import_job: JobSeen | None = None
    sender_job: JobSeen | None = None
    winner_job: JobSeen | None = None
    """The sender Job of a winner campaign's rest (spec.winner)."""
    export_job: JobSeen | None = None
    """The Job writing spec.export (controllers.decisions.campaign_export)."""
    previous: stats.Sample | None = None
    """The last fold's sample, for the submit rate."""
    last_progress: datetime | None = None
    """When messages last left the queue, as the handler saw it."""


@dataclass(frozen=True)
class Actions:
    """What a check asks the handler to do in Redis and the API; the default: nothing."""

    write_run: RunConfig | None = None
    """Write (or update) the run's config in Redis before creating children."""
    create: tuple[dict[str, Any], ...] = ()
    """Children to create if absent."""
    suspend_import: bool = False
    sender_suspend: bool | None = None
    """Patch the sender Job's spec.suspend to this."""
    sender_parallelism: int | None = None
    cancel_remaining: bool = False
    """Mark what was not sent `cancelled` (the Jobs have no pods left)."""
    open_trigger: bool = False
    """Open a trigger Api campaign's run: its streams, their group, the import marked done."""
    write_ingest: IngestRun | None = None
    """Write a trigger Api campaign's ingest settings (after open_trigger)."""
    close_ingest: bool = False
    """Take no more events (first of all, on cancel)."""
    hand_rest: str | None = None
    """Hand a winner campaign's rest to this variant ("": each entry's own) before the
    Jobs are created (once per run: sender.store.run_store.hand_rest_over)."""
    patch_winner_job: bool = False
    """sender_suspend and sender_parallelism go to the winner's sender Job."""


@dataclass(frozen=True)
class CampaignPlan:
    status: CampaignStatus
    events: tuple[Event, ...] = ()
    reset_run: bool = False
    """Delete the campaign's Redis keys first: they belong to a deleted namesake."""
    actions: Actions = field(default_factory=Actions)
    """What the handler does besides writing status, in this order."""
    delete_run: bool = False
    """The retention has passed: delete the campaign's Redis keys."""
    requeue_after_seconds: float = FOLD_SECONDS
    """When the campaign wants its next reconcile. A spec change comes sooner."""
