"""A local Kubernetes API for tests and `herald demo`: kmock's emulator, extended where kopf
and kubectl need more (emulator), served on loopback with a kubeconfig (server), and a
small client (client). Nothing here knows of Herald's resources."""

from herald.local.kube.client import KubeApiError, KubeClient, wait_for
from herald.local.kube.emulator import KubeApiEmulator
from herald.local.kube.server import (
    EmulatedCluster,
    kubeconfig_env,
    running_emulator,
    write_kubeconfig,
)

__all__ = [
    "EmulatedCluster",
    "KubeApiEmulator",
    "KubeApiError",
    "KubeClient",
    "kubeconfig_env",
    "running_emulator",
    "wait_for",
    "write_kubeconfig",
]
