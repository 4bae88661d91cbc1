"""A local Kubernetes API (kmock, extended) and kopf in-process: for tests and `herald demo`."""

from herald.localkube.cluster import (
    EmulatedCluster,
    KubeApiError,
    KubeClient,
    RunningOperator,
    kubeconfig_env,
    quick_settings,
    running_emulator,
    running_operator,
    wait_for,
    write_kubeconfig,
)
from herald.localkube.emulator import HeraldEmulator
from herald.localkube.object_selectors import parse_field_selector, parse_label_selector

__all__ = [
    'EmulatedCluster',
    'HeraldEmulator',
    'KubeApiError',
    'KubeClient',
    'RunningOperator',
    'kubeconfig_env',
    'parse_field_selector',
    'parse_label_selector',
    'quick_settings',
    'running_emulator',
    'running_operator',
    'wait_for',
    'write_kubeconfig',
]
