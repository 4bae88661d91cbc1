"""A finished campaign's per-recipient export (spec.export): its Job, status.export, its
Events, and whether the run's Redis keys must wait for it. Pure.

Once the campaign is final (Completed, Failed, Cancelled) with a run in Redis, the plan
asks for the export Job (`herald export --campaign NS/NAME`, one pod, retried up to the
importer's backoffLimit). Its pod records the result in the run's hash (rows, location,
completion time) or its error (sender.export.process), which status.export shows. The
retention does not delete the run while the export is owed: only once it is written or
its Job failed for good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from controllers.decisions import reasons
from controllers.decisions.campaign_jobs import Owner, child_name, job_labels, job_manifest
from controllers.decisions.events import Event
from controllers.decisions.pod_spec import PodSettings, container, pod_template
from crds.campaign import CampaignExport, ExportStatus

EXPORTER = "exporter"
EXPORT_DIR = "/export"
"""Where the export Job's pod mounts a persistentVolumeClaim destination."""
S3_ENV = (("AWS_ACCESS_KEY_ID", "accessKeyId", False),
          ("AWS_SECRET_ACCESS_KEY", "secretAccessKey", False),
          ("AWS_ENDPOINT_URL", "endpoint", True), ("AWS_REGION", "region", True))
"""The credentials Secret's keys as the pod's variables (name, key, optional)."""


def export_job_name(owner: Owner) -> str:
    return child_name(owner.name, "export")


def location_of(export: CampaignExport) -> str:
    """Where status.export says the export goes: pvc://CLAIM/PATH or the URL."""
    volume = export.destination.persistent_volume_claim
    if volume is not None:
        return f"pvc://{volume.claim_name}/{volume.path}"
    return export.destination.url or ""


def build_export_job(owner: Owner, export: CampaignExport, pods: PodSettings
                     ) -> dict[str, Any]:
    """The Job whose one pod writes the export (sender.export.process.run_job)."""
    destination = export.destination
    env: list[dict[str, Any]] = [
        {"name": "HERALD_EXPORT_FORMAT", "value": export.format.value},
        {"name": "HERALD_EXPORT_LOCATION", "value": location_of(export)},
        {"name": "HERALD_EXPORT_UNMASKED",
         "value": "true" if export.unmasked_secret_ref is not None else "false"}]
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if destination.persistent_volume_claim is not None:
        claim = destination.persistent_volume_claim
        volumes.append({"name": "export",
                        "persistentVolumeClaim": {"claimName": claim.claim_name}})
        mounts.append({"name": "export", "mountPath": EXPORT_DIR})
        env.append({"name": "HERALD_EXPORT_DESTINATION",
                    "value": f"{EXPORT_DIR}/{claim.path}"})
    else:
        env.append({"name": "HERALD_EXPORT_DESTINATION", "value": destination.url or ""})
        secret = destination.credentials_secret_ref
        if secret is not None:
            env.extend({"name": name, "valueFrom": {"secretKeyRef": {
                "name": secret.name, "key": key, **({"optional": True} if optional else {})}}}
                for name, key, optional in S3_ENV)
    exporter = container(EXPORTER, ["export", "--campaign", owner.ref], pods, mounts, env)
    spec = {"backoffLimit": pods.import_backoff_limit,
            "template": pod_template(job_labels(owner, EXPORTER), exporter, volumes, pods)}
    return job_manifest(owner, export_job_name(owner), EXPORTER, spec)


@dataclass(frozen=True)
class ExportPlan:
    status: ExportStatus | None
    create: tuple[dict[str, Any], ...] = ()
    events: tuple[Event, ...] = ()
    owed: bool = False
    """The export is not written yet and may still be: the run's keys must wait."""


def export_status(record: str) -> ExportStatus | None:
    """status.export from the pod's record in the run ("" or unreadable: None)."""
    try:
        data = json.loads(record) if record else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return ExportStatus.model_validate(data)
    except ValidationError:
        return None


def plan_export(owner: Owner, export: CampaignExport | None, old: ExportStatus | None, *,
                final: bool, record: str, error: str, job_failed: bool, job_message: str,
                job_exists: bool, pods: PodSettings) -> ExportPlan:
    """What the export of a campaign is now: written (its record), owed (no record yet:
    its Job created, or running), or failed for good (its Job failed)."""
    done = export_status(record)
    if done is not None:
        events: tuple[Event, ...] = ()
        if old is None or old.completion_time is None:
            shown = "full numbers" if done.unmasked else "numbers masked"
            events = (Event("Normal", reasons.EXPORT_WRITTEN,
                            f"exported {done.rows or 0} recipients to {done.location}"
                            f" ({shown})"),)
        return ExportPlan(done, events=events)
    if export is None or not final:  # a written export's status outlives the keys
        written = old is not None and old.completion_time is not None
        return ExportPlan(old if export is not None or written else None)
    status = ExportStatus(location=location_of(export), format=export.format,
                          unmasked=export.unmasked_secret_ref is not None, error=error)
    if job_failed:
        status.error = error or job_message or "the export Job failed"
        events = ()
        if old is None or not old.error or old.error != status.error:
            events = (Event("Warning", reasons.EXPORT_FAILED,
                            f"the export to {status.location} failed for good:"
                            f" {status.error}"),)
        return ExportPlan(status, events=events)
    create = () if job_exists else (build_export_job(owner, export, pods),)
    return ExportPlan(status, create=create, owed=True)
