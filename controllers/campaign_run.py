"""kopf handlers for CampaignRun: each run of a recurring Campaign is reconciled exactly
as a one-shot Campaign is (controllers.campaign.reconcile_one and the one plan), under
its own name: its own Redis keys, importer and sender Jobs, counters and phase.
"""

from __future__ import annotations

from typing import Any

import kopf

from controllers.campaign import (
    FOLD_INTERVAL,
    JobIndex,
    TemplateIndex,
    forget_run,
    reconcile_one,
)
from controllers.channel import ChannelIndex
from crds.base import GROUP, VERSION
from crds.campaign_run import CampaignRun

CAMPAIGN_RUNS = (GROUP, VERSION, CampaignRun.PLURAL)


@kopf.timer(*CAMPAIGN_RUNS, id="reconcile", interval=FOLD_INTERVAL)  # type: ignore[arg-type]
async def reconcile_campaign_run(
    body: kopf.Body, memo: Any, templates_seen: TemplateIndex, channels_seen: ChannelIndex,
    campaign_jobs: JobIndex, **_: Any,
) -> None:
    await reconcile_one(body, memo, CampaignRun.PLURAL, templates_seen, channels_seen,
                        campaign_jobs)


@kopf.on.delete(*CAMPAIGN_RUNS, id="forget-run")
async def forget_campaign_run(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    """The run is going (history limit, or its Campaign is): delete its Redis keys."""
    await forget_run(namespace, name, memo)
