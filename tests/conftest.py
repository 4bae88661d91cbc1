"""Fixtures: an emulated Kubernetes cluster (herald.localkube) and Herald's operator on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from herald.localkube.cluster import (
    EmulatedCluster,
    KubeClient,
    RunningOperator,
    running_emulator,
    running_operator,
)

CRD_DIR = Path(__file__).resolve().parent.parent / "crds"


@pytest.fixture
def crd_manifests() -> list[dict[str, Any]]:
    """The CRDs the cluster starts with: Herald's. Override it in a module for others."""
    return [yaml.safe_load(path.read_text(encoding="utf-8"))
            for path in sorted(CRD_DIR.glob("*.yaml"))]


@pytest.fixture
async def cluster(crd_manifests: list[dict[str, Any]]) -> AsyncIterator[EmulatedCluster]:
    """A fresh emulated API server with namespace `default` and the CRDs."""
    async with running_emulator(crd_manifests) as cluster:
        yield cluster


@pytest.fixture
def kube(cluster: EmulatedCluster) -> KubeClient:
    return cluster.client


@pytest.fixture
async def operator(cluster: EmulatedCluster) -> AsyncIterator[RunningOperator]:
    """Herald's operator (`controllers.operator`, kopf's default registry), cluster-wide."""
    async with running_operator(cluster.kubeconfig, modules=["controllers.operator"]) as running:
        yield running
