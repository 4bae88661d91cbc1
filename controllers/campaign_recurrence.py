"""A recurring Campaign's handler side: observe its CampaignRuns, plan, apply.

The Campaign's timer (controllers.campaign) hands a Campaign with schedule.recurrence
here instead of to the one-shot plan: it never imports or sends. What it owns is seen
through a kopf index of CampaignRuns (no API calls); the decisions are
controllers.decisions.campaign_recurrence; this module creates, patches and deletes the
runs it says and writes the Campaign's status when it differs. The runs themselves are
reconciled by controllers.campaign_run with the one-shot plan.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from controllers import metrics
from controllers.context import OperatorContext
from controllers.decisions.campaign_plan import finished, reconcile_due
from controllers.decisions.campaign_recurrence import (
    CampaignRunSeen,
    RecurrenceWorld,
    plan_recurrence,
)
from controllers.decisions.status import merge_patch_diff
from controllers.template import post_events
from crds.base import GROUP, VERSION
from crds.campaign import Campaign
from crds.campaign_run import CampaignRun

logger = logging.getLogger(__name__)

RunIndex = kopf.Index[tuple[str, str, str], CampaignRunSeen]
"""(namespace, campaign name, campaign uid) -> the CampaignRuns it owns."""


@kopf.index(GROUP, VERSION, CampaignRun.PLURAL)
def runs_of_campaigns(
    namespace: str | None, body: kopf.Body, meta: kopf.Meta, **_: Any
) -> dict[tuple[str, str, str], CampaignRunSeen]:
    owner = next((o for o in meta.get("ownerReferences", [])
                  if o.get("kind") == "Campaign" and o.get("controller")), None)
    # {} drops the run from the index (None would keep what was indexed before).
    if owner is None or meta.get("deletionTimestamp"):
        return {}
    try:
        run = CampaignRun.model_validate(body)
    except ValueError:
        return {}
    return {(namespace or "", owner["name"], owner.get("uid", "")): CampaignRunSeen(
        name=run.metadata.name, scheduled_time=run.spec.scheduled_time,
        finished=finished(run.status), paused=run.spec.paused, cancel=run.spec.cancel,
        status=run.status)}


def _created(body: kopf.Body) -> datetime | None:
    text = body.get("metadata", {}).get("creationTimestamp")
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


async def reconcile_recurring(body: kopf.Body, memo: Any, runs: RunIndex) -> None:
    context: OperatorContext = memo.context
    meta = body.get("metadata", {})
    if meta.get("deletionTimestamp"):
        return
    namespace, name = meta.get("namespace") or "", meta["name"]
    key = (namespace, name)
    if not reconcile_due(body, context.campaign_due.get(key), time.monotonic()):
        return
    campaign = Campaign.model_validate(body)
    seen = tuple(runs.get((namespace, name, campaign.metadata.uid or ""), ()))
    plan = plan_recurrence(campaign, RecurrenceWorld(context.clock(), seen, _created(body)))
    for child in plan.create:
        try:
            await context.kube.create(CampaignRun.PLURAL, namespace, child)
            logger.info("created CampaignRun %s/%s", namespace, child["metadata"]["name"])
        except ApiException as error:
            if error.status != 409:
                raise
    for run_name, spec_patch in plan.patch:
        await context.kube.patch(CampaignRun.PLURAL, namespace, run_name, {"spec": spec_patch})
    for run_name in plan.delete:
        await context.kube.delete(CampaignRun.PLURAL, namespace, run_name)
        logger.info("deleted CampaignRun %s/%s (history limit)", namespace, run_name)
    patch = merge_patch_diff(dict(body.get("status") or {}), plan.status.to_api())
    if patch:
        await context.kube.patch_status(Campaign.PLURAL, namespace, name, patch)
        context.status_writes[key] += 1
        metrics.STATUS_WRITES.labels("Campaign").inc()
    metrics.export_campaign(f"{namespace}/{name}", plan.status)
    post_events(body, plan.events)
    context.campaign_due[key] = time.monotonic() + plan.requeue_after_seconds


async def delete_runs(body: kopf.Body, memo: Any, runs: RunIndex) -> None:
    """Delete a Campaign's runs (on a cluster the garbage collector does it too)."""
    context: OperatorContext = memo.context
    meta = body.get("metadata", {})
    namespace = meta.get("namespace") or ""
    for run in tuple(runs.get((namespace, meta.get("name", ""), meta.get("uid", "")), ())):
        await context.kube.delete(CampaignRun.PLURAL, namespace, run.name)
