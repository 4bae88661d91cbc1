"""The pods Herald runs (importer, senders, channel receiver), as manifests.

Pure builders (no kopf, kubernetes or redis). Every pod runs Herald's one image with
an argument naming the process, reads its configuration from Redis or its env, needs
no Kubernetes API access (no service-account token is mounted) and runs under the
restricted Pod Security Standard: non-root, no privilege escalation, all capabilities
dropped, read-only root filesystem (an emptyDir on /tmp), the runtime's default
seccomp profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
