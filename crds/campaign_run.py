"""CampaignRun: one run of a recurring Campaign, as a Job is one run of a CronJob.

The operator creates one at each tick of a Campaign's schedule.recurrence, owned by the
Campaign (deleting the Campaign deletes its runs), and reconciles it exactly as it does
a one-shot Campaign: its own Redis keys, importer and sender Jobs, counters and phase.
Its spec is the Campaign's spec as it was at the tick, so edits to the Campaign apply
from the next run on; the operator writes only its paused and cancel, from the
Campaign's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from crds.base import AGE_COLUMN, GROUP, READY_COLUMN, REASON_COLUMN, HeraldResource, validations
from crds.campaign import CampaignSpec, CampaignStatus

CAMPAIGN_LABEL = f"{GROUP}/campaign"
"""On every CampaignRun: the name of the Campaign it is a run of."""

_CAMPAIGN_EXTRA: Any = CampaignSpec.model_config.get("json_schema_extra") or {}
_RULES: Any = {"x-kubernetes-validations": [
    *_CAMPAIGN_EXTRA["x-kubernetes-validations"],
    *validations(
        ("self.schedule.recurrence == ''", "a run does not recur: its Campaign does"),
        ("self.scheduledTime == oldSelf.scheduledTime", "scheduledTime cannot change"),
    )["x-kubernetes-validations"],
]}


class CampaignRunSpec(CampaignSpec):
    """The Campaign's spec at the tick (without recurrence or startTime), and the tick."""

    model_config = ConfigDict(json_schema_extra=_RULES)

    scheduled_time: datetime
    """The tick of the Campaign's recurrence this run is for."""


class CampaignRun(HeraldResource):
    """One run of a recurring Campaign: its own import, senders, counters and phase."""

    KIND = "CampaignRun"
    PLURAL = "campaignruns"
    SHORT_NAMES = ("smsrun",)
    PRINTER_COLUMNS = (
        {"name": "Campaign", "type": "string", "jsonPath": ".metadata.ownerReferences[0].name"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        READY_COLUMN,
        {"name": "Scheduled", "type": "date", "jsonPath": ".spec.scheduledTime"},
        {"name": "Sent", "type": "integer", "jsonPath": ".status.counters.sent",
         "description": "Messages the SMSC accepted, whatever their receipts said."},
        {"name": "Delivered", "type": "integer", "jsonPath": ".status.counters.delivered"},
        {"name": "Failed", "type": "integer", "jsonPath": ".status.counters.failed"},
        REASON_COLUMN,
        AGE_COLUMN,
    )

    spec: CampaignRunSpec
    status: CampaignStatus = Field(default_factory=CampaignStatus)
