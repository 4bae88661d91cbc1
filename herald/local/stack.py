"""Herald on one machine: the emulated Kubernetes API, Redis, the SMPP simulator, the
local Job and Deployment runners and the real operator, each on loopback. `herald demo` and the
operator's end-to-end tests run on it.

    async with running_stack() as stack:
        await stack.kube.create(secret); ...
        await stack.wait_for_phase("default", "double-eleven-2026", "Completed", timeout=60)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import kopf

from controllers.config import OperatorConfig
from crds.base import API_VERSION
from crds.generate import committed_crds
from herald.local.kopf_runner import RunningOperator, running_operator
from herald.local.kube.client import KubeClient, wait_for
from herald.local.kube.server import EmulatedCluster, running_emulator
from herald.local.redis import running_redis
from herald.local.runners.deployments import LocalDeploymentRunner
from herald.local.runners.jobs import LocalJobRunner
from sender.simulator.config import SimulatorConfig, with_account
from sender.simulator.server import Simulator

SMPP_SYSTEM_ID = "herald"
SMPP_PASSWORD = "s3cr3t"  # the simulator's account; the example Secret carries the same
SMPP_MAX_BINDS = 4  # the account's bind cap, as the example Channel's maxBinds says


@dataclasses.dataclass
class Stack:
    cluster: EmulatedCluster
    redis_url: str
    """The Redis every process uses: a redis-server of the stack's own, or one given."""
    simulator: Simulator
    jobs: LocalJobRunner
    deployments: LocalDeploymentRunner
    config: OperatorConfig
    _operator: contextlib.AsyncExitStack = dataclasses.field(
        default_factory=contextlib.AsyncExitStack)
    operator: RunningOperator | None = None
    clock: Callable[[], datetime] | None = None
    """The operator's clock for campaign decisions (None: the real one)."""

    async def start_operator(self) -> RunningOperator:
        """Start the operator (a fresh memo: nothing carried over from a previous one)."""
        memo = kopf.Memo()
        memo.config = self.config
        if self.clock is not None:
            memo.clock = self.clock
        self.operator = await self._operator.enter_async_context(running_operator(
            self.cluster.kubeconfig, modules=["controllers.operator"], memo=memo))
        return self.operator

    async def stop_operator(self) -> None:
        await self._operator.aclose()
        self.operator = None

    async def start_operator_process(self, log: Path) -> asyncio.subprocess.Process:
        """The operator as its own process (`herald operator`, as in its pod), for tests
        that kill it: configured through the environment, like the Deployment does it."""
        config = self.config
        env = os.environ | {
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "HERALD_NAMESPACE": config.namespace,
            "HERALD_REDIS_URL": config.redis_url,
            "HERALD_IMAGE": config.image,
            "HERALD_RECEIPT_WAIT_SECONDS": str(config.receipt_wait_seconds),
            "HERALD_CHANNEL_RECHECK_SECONDS": str(config.channel_recheck_seconds),
            "HERALD_MARKETING_QUIET_HOURS": (
                f"{quiet.start}-{quiet.end}" if (quiet := config.marketing_quiet_hours)
                else "None"),
            "HERALD_LINKS_BASE_URL": config.links_base_url,
        }
        with log.open("ab") as out:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "herald", "operator", "--liveness", "",
                "--metrics-port", "0", env=env, stdout=out,
                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)

    @property
    def kube(self) -> KubeClient:
        return self.cluster.client

    async def campaign(self, namespace: str, name: str) -> dict[str, Any]:
        return await self.kube.get(API_VERSION, "Campaign", namespace, name)

    async def wait_for_phase(self, namespace: str, name: str, phases: str | tuple[str, ...],
                             *, timeout: float) -> dict[str, Any]:
        wanted = (phases,) if isinstance(phases, str) else phases
        body: dict[str, Any] = await wait_for(
            lambda: self.campaign(namespace, name), timeout=timeout,
            until=lambda c: c.get("status", {}).get("phase") in wanted,
            message=f"campaign {namespace}/{name} never reached {' or '.join(wanted)}")
        return body

    def status_writes(self, namespace: str, name: str) -> int:
        """Status writes of the campaign by the running operator (since it started)."""
        assert self.operator is not None
        return int(self.operator.memo.context.status_writes[(namespace, name)])


def operator_config(redis_url: str, **overrides: Any) -> OperatorConfig:
    defaults: dict[str, Any] = {
        "namespace": "herald", "manual_review_categories": frozenset(),
        "redis_url": redis_url, "image": "herald:local", "receipt_wait_seconds": 2.0,
        "channel_recheck_seconds": 5.0,
        # The examples run at any hour here (the demo, the tests): no default quiet
        # hours. Campaigns that set schedule.quietHours keep theirs.
        "marketing_quiet_hours": None,
    }
    return OperatorConfig(**(defaults | overrides))


@contextlib.asynccontextmanager
async def running_stack(
    *,
    simulator: SimulatorConfig | None = None,
    config: Mapping[str, Any] | None = None,
    workdir: Path | None = None,
    redis_url: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Stack]:
    """Everything started, torn down in reverse order when the block ends.

    With `redis_url` (any HERALD_REDIS_URL form) the stack uses that Redis instead of
    starting a redis-server of its own.
    """
    sim_config = simulator or SimulatorConfig(port=0, receipt_delay_ms=20, seed=7)
    sim_config = with_account(sim_config, SMPP_SYSTEM_ID, SMPP_PASSWORD,
                              max_binds=SMPP_MAX_BINDS)
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(
                prefix="herald-pods-")))
        async with (running_emulator(committed_crds(), namespaces=("default", "herald"))
                    as cluster,
                    _own_redis(redis_url) as url,
                    Simulator(sim_config) as smsc):
            operator_settings = operator_config(url, **(config or {}))
            async with (LocalJobRunner(cluster.client, workdir) as jobs,
                        LocalDeploymentRunner(cluster.client, workdir) as deployments):
                stack = Stack(cluster, url, smsc, jobs, deployments, operator_settings,
                              clock=clock)
                await stack.start_operator()
                try:
                    yield stack
                finally:
                    await stack.stop_operator()


@contextlib.asynccontextmanager
async def _own_redis(url: str | None) -> AsyncIterator[str]:
    """`url` as it is, or a redis-server started for the stack."""
    if url is not None:
        yield url
        return
    async with running_redis() as server:
        yield server.url
