"""The pods Herald runs (importer, senders, channel receiver), as manifests.

Pure builders (no kopf, kubernetes or redis). Every pod runs Herald's one image with
an argument naming the process, reads its configuration from Redis or its env, needs
no Kubernetes API access (no service-account token is mounted) and runs under the
restricted Pod Security Standard: non-root, no privilege escalation, all capabilities
dropped, read-only root filesystem (an emptyDir on /tmp), the runtime's default
seccomp profile.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from crds.channel import CaSourceKind, SmppSettings
from sender.run_config import (
    SMPP_CA_FILE,
    SMPP_CLIENT_CERT_FILE,
    SMPP_CLIENT_KEY_FILE,
    for_channel,
)

Manifest = dict[str, Any]


@dataclass(frozen=True)
class PodSettings:
    """How the operator's Deployment says pods should run (controllers.config)."""

    image: str = "ghcr.io/herald-sms/herald:latest"
    redis_url: str = "redis://herald-redis:6379/0"
    redis_password_secret: str = ""
    """Secret (key `password`) in the object's namespace with the Redis password, if any."""
    image_pull_secrets: tuple[str, ...] = ()
    """Secrets in the object's namespace to pull the image with (a private registry)."""
    resources: dict[str, Any] = field(default_factory=lambda: {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    })
    run_as_user: int = 10001
    import_backoff_limit: int = 3
    sender_backoff_limit_per_shard: int = 3
    termination_grace_seconds: int = 60
    """A stopped sender lets what is on the wire settle (at most responseTimeoutSeconds)."""


def secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


@dataclass(frozen=True)
class Files:
    """Volumes of a pod, their mounts in its container, and the env naming the files."""

    volumes: list[Manifest] = field(default_factory=list)
    mounts: list[Manifest] = field(default_factory=list)
    env: list[Manifest] = field(default_factory=list)


def smpp_tls_files(smpp: SmppSettings, channel: int = 0) -> Files:
    """The channel's CA bundle and client certificate, mounted read-only where
    sender.run_config says, for senders and the receiver (nothing without TLS);
    `channel` its index in a sender's run, whose files and env it names (for_channel)."""
    files = Files()
    tls = smpp.tls
    if tls is None:
        return files
    ca_file, cert_file, key_file = (for_channel(path, channel) for path in (
        SMPP_CA_FILE, SMPP_CLIENT_CERT_FILE, SMPP_CLIENT_KEY_FILE))
    if tls.ca_ref is not None:
        ca = tls.ca_ref
        items = [{"key": ca.key, "path": posixpath.basename(ca_file)}]
        source = ({"configMap": {"name": ca.name, "items": items}}
                  if ca.kind == CaSourceKind.CONFIG_MAP
                  else {"secret": {"secretName": ca.name, "items": items}})
        _mount(files, for_channel("smpp-ca", channel).replace("_", "-"), source, ca_file,
               {for_channel("HERALD_SMPP_CA_FILE", channel): ca_file})
    if tls.client_cert_secret_ref is not None:
        items = [{"key": "tls.crt", "path": posixpath.basename(cert_file)},
                 {"key": "tls.key", "path": posixpath.basename(key_file)}]
        source = {"secret": {"secretName": tls.client_cert_secret_ref.name, "items": items}}
        _mount(files, for_channel("smpp-client-cert", channel).replace("_", "-"), source,
               cert_file, {for_channel("HERALD_SMPP_CLIENT_CERT_FILE", channel): cert_file,
                           for_channel("HERALD_SMPP_CLIENT_KEY_FILE", channel): key_file})
    return files


def _mount(files: Files, name: str, source: Manifest, path: str, env: dict[str, str]) -> None:
    files.volumes.append({"name": name, **source})
    files.mounts.append({"name": name, "mountPath": posixpath.dirname(path), "readOnly": True})
    files.env.extend({"name": k, "value": v} for k, v in env.items())


def pod_template(
    labels: dict[str, str], container: Manifest, volumes: list[Manifest], pods: PodSettings,
    *, restart_policy: str = "Never",
) -> Manifest:
    return {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": restart_policy,
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
            **({"imagePullSecrets": [{"name": name} for name in pods.image_pull_secrets]}
               if pods.image_pull_secrets else {}),
        },
    }


METRICS_PORT = 9090
"""Where senders and receivers serve /metrics (sender.metrics); a PodMonitor scrapes the
container port named `metrics`."""


def container(
    name: str, args: list[str], pods: PodSettings, mounts: list[Manifest],
    extra_env: list[Manifest] | None = None, *, metrics: bool = False,
) -> Manifest:
    env: list[Manifest] = [{"name": "HERALD_REDIS_URL", "value": pods.redis_url}]
    if pods.redis_password_secret:
        env.append(secret_env("HERALD_REDIS_PASSWORD", pods.redis_password_secret, "password"))
    ports = [{"name": "metrics", "containerPort": METRICS_PORT}] if metrics else []
    return {
        "name": name,
        "image": pods.image,
        "args": args,
        "env": [*env, *(extra_env or [])],
        **({"ports": ports} if ports else {}),
        "resources": pods.resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [*mounts, {"name": "tmp", "mountPath": "/tmp"}],
    }
