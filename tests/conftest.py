"""Fixtures: an emulated Kubernetes cluster (herald.local.kube), Herald's operator on it, and a
real redis-server (herald.local.redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol, TypeVar

import pytest
import redis.asyncio as aioredis

from crds.generate import committed_crds
from herald.local.kopf_runner import RunningOperator, running_operator
from herald.local.kube.client import KubeClient
from herald.local.kube.server import EmulatedCluster, running_emulator
from herald.local.redis import RedisServer, start_redis
from herald.local.redis_topologies import (
    RedisCluster,
    RedisSentinel,
    start_redis_cluster,
    start_redis_sentinel,
)
from sender.store.client import connect


@pytest.fixture
def crd_manifests() -> list[dict[str, Any]]:
    """The CRDs the cluster starts with: Herald's. Override it in a module for others."""
    return committed_crds()


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


# -- Redis: a real redis-server on loopback (herald.local.redis) ---------------------------

class Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=Stoppable)


def running(server: S) -> Iterator[S]:
    """Yield a started server, stop it after (a fixture's body)."""
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole session; each test gets it flushed via `redis`."""
    yield from running(start_redis())


@pytest.fixture(name="redis")
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client on a flushed database (data and scripts) of the session's redis-server."""
    client = connect(redis_server.url)
    await client.flushdb()
    await client.script_flush()
    try:
        yield client
    finally:
        await client.aclose()


# -- Redis Cluster and Sentinel: real topologies of redis-server processes ---------------

@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    """Three masters, one cluster for the module (its tests use keys of their own)."""
    yield from running(start_redis_cluster())


@pytest.fixture
def redis_sentinel() -> Iterator[RedisSentinel]:
    """A master, a replica and three Sentinels; each test gets its own (tests kill it)."""
    yield from running(start_redis_sentinel())
