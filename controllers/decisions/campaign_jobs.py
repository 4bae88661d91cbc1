"""The Jobs a campaign runs: its importer and its Indexed sender Job, as manifests.

Pure builders (no kopf, kubernetes or redis), so tests assert the exact objects. Both
Jobs run Herald's one image with an argument naming the process (`herald import`,
`herald send`); they read the run's configuration from Redis (sender.run_config), so a
pod needs no Kubernetes API access. Pod security: controllers.decisions.pod_spec.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controllers.decisions.pod_spec import (
    Files,
    PodSettings,
    container,
    pod_template,
    secret_env,
    smpp_tls_files,
)
from crds.base import API_VERSION, GROUP
from crds.campaign import Audience, SuppressionList
from crds.campaign_run import CAMPAIGN_LABEL
from crds.channel import ChannelSpec
from sender.run_config import AUDIENCE_DIR, HEADERS_DIR, SUPPRESSION_DIR, for_channel

COMPONENT_LABEL = "app.kubernetes.io/component"
AUDIENCE_FILE = "audience.csv"
NAME_MAX = 63  # a Job's name becomes a label value of its pods: 63 characters at most
IMPORTER, SENDER = "importer", "sender"
STAGE_LABEL = f"{GROUP}/stage"
WINNER = "winner"
"""STAGE_LABEL of the sender Job that sends a winner campaign's rest (spec.winner)."""


@dataclass(frozen=True)
class Owner:
    """The object that owns a child: a Campaign its Jobs, a Channel its receiver's
    Deployment (for the ownerReference, hence the uid)."""

    namespace: str
    name: str
    uid: str
    generation: int = 0
    kind: str = "Campaign"
    """Campaign, or CampaignRun for a run of a recurring campaign."""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def child_name(owner_name: str, suffix: str) -> str:
    """`<campaign>-<suffix>`, shortened with a hash when it would pass 63 characters."""
    name = f"{owner_name}-{suffix}"
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(owner_name.encode()).hexdigest()[:8]
    keep = NAME_MAX - len(suffix) - len(digest) - 2
    return f"{owner_name[:keep].rstrip('-.')}-{digest}-{suffix}"


def import_job_name(owner: Owner) -> str:
    return child_name(owner.name, "import")


def sender_job_name(owner: Owner, winner: bool = False) -> str:
    """The sender Job's name; `winner`: the one sending the rest to the A/B winner."""
    return child_name(owner.name, "send-winner" if winner else "send")


def build_import_job(owner: Owner, audience: Audience, pods: PodSettings,
                     suppression: Sequence[SuppressionList] = ()) -> dict[str, Any]:
    """A Job that imports the audience into Redis (retried on failure), with the
    campaign's suppression lists' files mounted beside it: one pod, or an Indexed Job of
    spec.audience.importers pods, pod P importing part P."""
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = []
    source_ref = audience.config_map_ref or audience.secret_ref
    if source_ref is not None:
        items = [{"key": source_ref.key, "path": AUDIENCE_FILE}]
        volumes.append({"name": "audience", **(
            {"configMap": {"name": source_ref.name, "items": items}}
            if audience.config_map_ref is not None
            else {"secret": {"secretName": source_ref.name, "items": items}})})
        mounts.append({"name": "audience", "mountPath": AUDIENCE_DIR, "readOnly": True})
        env.append({"name": "HERALD_AUDIENCE_DIR", "value": AUDIENCE_DIR})
    if audience.url is not None and audience.url.headers_secret_ref is not None:
        volumes.append({"name": "url-headers",
                        "secret": {"secretName": audience.url.headers_secret_ref.name}})
        mounts.append({"name": "url-headers", "mountPath": HEADERS_DIR, "readOnly": True})
        env.append({"name": "HERALD_URL_HEADERS_DIR", "value": HEADERS_DIR})
    sources: list[dict[str, Any]] = []
    for item in suppression:
        ref = item.config_map_ref or item.secret_ref
        if ref is None:
            continue  # a URL: the importer fetches it
        kind = "configMap" if item.config_map_ref is not None else "secret"
        sources.append({kind: {"name": ref.name,
                               "items": [{"key": ref.key, "path": item.name}]}})
    if sources:  # one projected volume: every list's file in one directory
        volumes.append({"name": "suppression", "projected": {"sources": sources}})
        mounts.append({"name": "suppression", "mountPath": SUPPRESSION_DIR, "readOnly": True})
        env.append({"name": "HERALD_SUPPRESSION_DIR", "value": SUPPRESSION_DIR})
    importer = container(IMPORTER, ["import", "--campaign", owner.ref], pods, mounts, env)
    spec: dict[str, Any] = {
        "backoffLimit": pods.import_backoff_limit,
        "template": pod_template(_labels(owner, IMPORTER), importer, volumes, pods),
    }
    if audience.importers > 1:
        spec.update({"completionMode": "Indexed", "completions": audience.importers,
                     "parallelism": audience.importers})
    return _job(owner, import_job_name(owner), IMPORTER, spec)


def build_sender_job(
    owner: Owner,
    channels: Sequence[ChannelSpec],
    shards: int,
    parallelism: int,
    *,
    suspend: bool,
    pods: PodSettings,
    winner: bool = False,
) -> dict[str, Any]:
    """An Indexed Job: completion index i sends shard i, one lane a channel of the run
    (`channels`, in the run's order: each one's password and TLS files under the names
    sender.run_config.for_channel gives); `suspend` pauses it. `winner`: the Job that
    sends a winner campaign's rest shards once the winner is chosen."""
    env: list[dict[str, Any]] = []
    files = Files()
    for index, channel in enumerate(channels):
        secret = channel.smpp.password_secret_ref
        env.append(secret_env(for_channel("HERALD_SMPP_PASSWORD", index), secret.name,
                              secret.key))
        tls = smpp_tls_files(channel.smpp, index)
        env.extend(tls.env)
        files.mounts.extend(tls.mounts)
        files.volumes.extend(tls.volumes)
    args = ["send", "--campaign", owner.ref, *(["--rest"] if winner else [])]
    sender = container(SENDER, args, pods, files.mounts, env, metrics=True)
    spec = {
        "completionMode": "Indexed",
        "completions": shards,
        "parallelism": parallelism,
        "suspend": suspend,
        "backoffLimit": pods.sender_backoff_limit_per_shard * shards,
        "template": pod_template(_labels(owner, SENDER), sender, files.volumes, pods),
    }
    job = _job(owner, sender_job_name(owner, winner), SENDER, spec)
    if winner:
        job["metadata"]["labels"][STAGE_LABEL] = WINNER
    return job


def label_value(name: str) -> str:
    """An object's name as a label value: itself, or shortened with a hash past 63."""
    return name if len(name) <= NAME_MAX else child_name(name, "")[:-1]


def _labels(owner: Owner, component: str) -> dict[str, str]:
    campaign = label_value(owner.name)
    return {
        "app.kubernetes.io/name": "herald",
        "app.kubernetes.io/managed-by": "herald-operator",
        COMPONENT_LABEL: component,
        CAMPAIGN_LABEL: campaign,
    }


def _job(owner: Owner, name: str, component: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": _labels(owner, component),
            "ownerReferences": [{
                "apiVersion": API_VERSION, "kind": owner.kind, "name": owner.name,
                "uid": owner.uid, "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": spec,
    }


job_labels = _labels
"""The labels of a campaign's Job of `component` (the export's: campaign_export)."""
job_manifest = _job
