"""A local stand-in for the Deployment controller: Deployments' pods as local processes.

`LocalDeploymentRunner` polls the API for Deployments and, for each:

- keeps `spec.replicas` pods running (herald.local.runners.pods); a pod that exits is
  started again after a backoff that doubles up to 10 s (a kubelet's CrashLoopBackOff)
  and starts over once a pod has run 10 s;
- on a new pod template, stops the old pods before it starts new ones (the `Recreate`
  strategy, the only one Herald's Deployments use);
- writes status (observedGeneration, replicas, readyReplicas, availableReplicas,
  updatedReplicas) through the status subresource; a pod counts as ready once started;
- stops the pods of a deleted Deployment, and deletes Deployments whose owning Channel
  is gone, as the garbage collector would.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from herald.local.kube.client import KubeApiError, KubeClient
from herald.local.runners.pods import LocalController, Pod, last_line, owner_gone

logger = logging.getLogger(__name__)

Body = dict[str, Any]
MAX_BACKOFF = 10.0
STABLE_SECONDS = 10.0


@dataclass
class DeploymentRun:
    template: str = ""
    """Hash of the pod template the pods run."""
    pods: dict[int, Pod] = field(default_factory=dict)
    restarts: int = 0
    not_before: float = 0.0
    """No pod starts before this monotonic time (backoff after an exit)."""
    backoff: float = 0.5
    started: dict[int, float] = field(default_factory=dict)
    """Monotonic start time of each pod: one that ran a while resets the backoff."""
    waiting: str = ""
    last_exit: str = ""


class LocalDeploymentRunner(LocalController):
    name = "local deployment runner"

    def __init__(self, client: KubeClient, workdir: Path, *, poll: float = 0.2) -> None:
        super().__init__(client, workdir, poll=poll)
        self.runs: dict[str, DeploymentRun] = {}

    async def turn(self) -> None:
        deployments = await self.client.list("apps/v1", "Deployment")
        owners: dict[str, set[str]] = {}
        live = set()
        for deployment in deployments:
            meta = deployment["metadata"]
            if await owner_gone(self.client, deployment, "Channel", owners):
                with contextlib.suppress(KubeApiError):
                    await self.client.delete("apps/v1", "Deployment", meta["namespace"],
                                             meta["name"])
                continue
            live.add(meta["uid"])
            await self._sync(deployment)
        for uid in set(self.runs) - live:
            await self._stop_all(self.runs.pop(uid))

    async def stop_pods(self) -> None:
        await asyncio.gather(*(self._stop_all(run) for run in self.runs.values()))

    async def _sync(self, deployment: Body) -> None:
        meta, spec = deployment["metadata"], deployment["spec"]
        run = self.runs.setdefault(meta["uid"], DeploymentRun())
        template = _hash(spec["template"])
        if template != run.template:
            await self._stop_all(run)  # Recreate: old pods go before new ones come
            run.template, run.backoff, run.not_before = template, 0.5, 0.0
        self._reap(run)
        replicas = int(spec.get("replicas", 1))
        for index in range(replicas):
            if index not in run.pods and time.monotonic() >= run.not_before:
                await self._start(deployment, run, index)
        for index in [i for i in run.pods if i >= replicas]:
            await self.pods.stop(run.pods.pop(index))
        ready = len(run.pods)
        status = {
            "observedGeneration": meta.get("generation"),
            "replicas": ready, "readyReplicas": ready or None,
            "availableReplicas": ready or None, "updatedReplicas": ready or None,
        }
        old = deployment.get("status") or {}
        if any(old.get(key) != value for key, value in status.items()):
            with contextlib.suppress(KubeApiError):  # deleted meanwhile
                await self.client.patch_status("apps/v1", "Deployment", meta["namespace"],
                                               meta["name"], status)

    async def _start(self, deployment: Body, run: DeploymentRun, index: int) -> None:
        meta = deployment["metadata"]
        name = f"{meta['namespace']}-{meta['name']}-{run.template[:6]}-{index}-{run.restarts}"
        try:
            pod_spec = deployment["spec"]["template"]["spec"]
            run.pods[index] = await self.pods.start(meta["namespace"], pod_spec, name, index)
            run.started[index] = time.monotonic()
            run.waiting = ""
        except LookupError as missing:
            run.waiting = str(missing)
            run.not_before = time.monotonic() + run.backoff

    def _reap(self, run: DeploymentRun) -> None:
        for index, pod in list(run.pods.items()):
            code = pod.process.returncode
            if code is None:
                continue
            del run.pods[index]
            if time.monotonic() - run.started.pop(index, 0.0) > STABLE_SECONDS:
                run.backoff = 0.5  # a crash after a good run, not a crash loop
            run.restarts += 1
            run.last_exit = f"pod {index} exited {code}: {last_line(pod.log)}"
            logger.warning("local deployment runner: %s", run.last_exit)
            run.not_before = time.monotonic() + run.backoff
            run.backoff = min(run.backoff * 2, MAX_BACKOFF)

    async def _stop_all(self, run: DeploymentRun) -> None:
        await asyncio.gather(*(self.pods.stop(pod) for pod in run.pods.values()))
        run.pods.clear()


def _hash(template: Body) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]
