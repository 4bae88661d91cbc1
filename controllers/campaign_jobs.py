"""The Jobs a campaign runs: its importer and its Indexed sender Job, as manifests.

Pure builders (no kopf, kubernetes or redis), so tests assert the exact objects. Both
Jobs run Herald's one image with an argument naming the process (`herald import`,
`herald send`); they read the run's configuration from Redis (sender.run_config), so a
pod needs no Kubernetes API access and mounts no service-account token. The restricted
Pod Security Standard applies to every pod: non-root, no privilege escalation, all
capabilities dropped, read-only root filesystem, the runtime's default seccomp profile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from crds.base import API_VERSION, GROUP
from crds.campaign import Audience
from crds.channel import ChannelSpec
from sender.run_config import AUDIENCE_DIR, HEADERS_DIR

CAMPAIGN_LABEL = f"{GROUP}/campaign"
COMPONENT_LABEL = "app.kubernetes.io/component"
AUDIENCE_FILE = "audience.csv"
NAME_MAX = 63  # a Job's name becomes a label value of its pods: 63 characters at most
IMPORTER, SENDER = "importer", "sender"


@dataclass(frozen=True)
class PodSettings:
    """How the operator's Deployment says pods should run (controllers.config)."""

    image: str = "ghcr.io/herald-sms/herald:latest"
    redis_url: str = "redis://herald-redis:6379/0"
    redis_password_secret: str = ""
    """Secret (key `password`) in the campaign's namespace with the Redis password, if any."""
    resources: dict[str, Any] = field(default_factory=lambda: {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    })
    run_as_user: int = 10001
    import_backoff_limit: int = 3
    sender_backoff_limit_per_shard: int = 3
    termination_grace_seconds: int = 60
    """A stopped sender lets what is on the wire settle (at most responseTimeoutSeconds)."""


@dataclass(frozen=True)
class Owner:
    """The Campaign that owns the Jobs."""

    namespace: str
    name: str
    uid: str
    generation: int = 0

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


def sender_job_name(owner: Owner) -> str:
    return child_name(owner.name, "send")


def build_import_job(owner: Owner, audience: Audience, pods: PodSettings) -> dict[str, Any]:
    """A Job with one pod that imports the audience into Redis (retried on failure)."""
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
    container = _container(IMPORTER, ["import", "--campaign", owner.ref], pods, mounts, env)
    spec = {
        "backoffLimit": pods.import_backoff_limit,
        "template": _pod_template(owner, IMPORTER, container, volumes, pods),
    }
    return _job(owner, import_job_name(owner), IMPORTER, spec)


def build_sender_job(
    owner: Owner,
    channel: ChannelSpec,
    shards: int,
    parallelism: int,
    *,
    suspend: bool,
    pods: PodSettings,
) -> dict[str, Any]:
    """An Indexed Job: completion index i sends shard i; `suspend` pauses it."""
    secret = channel.smpp.password_secret_ref
    password = {"name": "HERALD_SMPP_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}}}
    container = _container(SENDER, ["send", "--campaign", owner.ref], pods, [], [password])
    spec = {
        "completionMode": "Indexed",
        "completions": shards,
        "parallelism": parallelism,
        "suspend": suspend,
        "backoffLimit": pods.sender_backoff_limit_per_shard * shards,
        "template": _pod_template(owner, SENDER, container, [], pods),
    }
    return _job(owner, sender_job_name(owner), SENDER, spec)


def _labels(owner: Owner, component: str) -> dict[str, str]:
    campaign = owner.name if len(owner.name) <= NAME_MAX else child_name(owner.name, "")[:-1]
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
                "apiVersion": API_VERSION, "kind": "Campaign", "name": owner.name,
                "uid": owner.uid, "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": spec,
    }


def _pod_template(
    owner: Owner, component: str, container: dict[str, Any], volumes: list[dict[str, Any]],
    pods: PodSettings,
) -> dict[str, Any]:
    return {
        "metadata": {"labels": _labels(owner, component)},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": pods.termination_grace_seconds,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": pods.run_as_user,
                "runAsGroup": pods.run_as_user,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": [*volumes, {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
        },
    }


def _container(
    name: str, args: list[str], pods: PodSettings, mounts: list[dict[str, Any]],
    extra_env: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": "HERALD_REDIS_URL", "value": pods.redis_url}]
    if pods.redis_password_secret:
        env.append({"name": "HERALD_REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": pods.redis_password_secret, "key": "password"}}})
    return {
        "name": name,
        "image": pods.image,
        "args": args,
        "env": [*env, *(extra_env or [])],
        "resources": pods.resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [*mounts, {"name": "tmp", "mountPath": "/tmp"}],
    }
