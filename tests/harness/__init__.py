"""Herald's Kubernetes test harness: an emulated API server, a client, and kopf in-process."""

from tests.harness.cluster import (
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
from tests.harness.emulator import HeraldEmulator, parse_field_selector, parse_label_selector

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
