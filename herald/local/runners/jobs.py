"""A local stand-in for the Job controller and the kubelet: Jobs' pods as local processes.

The emulated API stores Jobs but nothing runs them. `LocalJobRunner` watches the Jobs
(by polling the API) and does, on this machine, what a cluster would:

- runs each pod as a local process (herald.local.runners.pods), with JOB_COMPLETION_INDEX
  for Indexed Jobs;
- keeps up to `parallelism` pods running over the indexes not yet succeeded;
- counts exit 0 as the index's success, 143 (stopped by SIGTERM) as neither success
  nor failure (the podFailurePolicy a sender Job carries), anything else as a failure
  against `backoffLimit`;
- `suspend: true` stops the pods with SIGTERM (SIGKILL after the grace period), as
  the Job controller does, and the indexes run again on resume;
- writes the Job's status (active, succeeded, failed, completedIndexes, the
  Complete and Failed conditions) through the status subresource;
- deletes Jobs whose owner is gone, as the garbage collector would.

What it does not do: scheduling, resources, security contexts, image pulls, probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from herald.local.kube.client import KubeApiError, KubeClient
from herald.local.runners.pods import LocalController, Pod, last_line, owner_gone

logger = logging.getLogger(__name__)

STOPPED_EXIT = 143
Body = dict[str, Any]


@dataclass
class JobRun:
    pods: dict[int, Pod] = field(default_factory=dict)
    succeeded: set[int] = field(default_factory=set)
    failed: int = 0
    attempts: int = 0
    last_failure: str = ""
    started: str = ""
    waiting: str = ""
    """Why a pod could not start (a missing Secret), as a kubelet would report it."""


class LocalJobRunner(LocalController):
    name = "local job runner"

    def __init__(self, client: KubeClient, workdir: Path, *, poll: float = 0.1,
                 max_grace: float = 20.0) -> None:
        super().__init__(client, workdir, poll=poll, max_grace=max_grace)
        self.runs: dict[str, JobRun] = {}

    def logs(self) -> list[Path]:
        return sorted(self.workdir.glob("*.log"))

    async def turn(self) -> None:
        jobs = await self.client.list("batch/v1", "Job")
        for job in await self._collect_orphans(jobs):
            await self._sync(job)

    async def stop_pods(self) -> None:
        await asyncio.gather(*(self.pods.stop(pod, grace=5.0)
                               for run in self.runs.values() for pod in run.pods.values()))

    # -- one Job ---------------------------------------------------------------------

    async def _sync(self, job: Body) -> None:
        meta, spec = job["metadata"], job["spec"]
        run = self.runs.setdefault(meta["uid"], JobRun())
        finished = {c["type"] for c in job.get("status", {}).get("conditions", [])
                    if c.get("status") == "True"} & {"Complete", "Failed"}
        self._reap(run)
        completions = int(spec.get("completions") or 1)
        conditions: list[Body] = []
        now = _now()
        if finished:
            await self._stop_all(run)
            return
        if len(run.succeeded) >= completions:
            conditions.append({"type": "Complete", "status": "True", "lastTransitionTime": now,
                               "reason": "CompletionsReached", "message": "Reached expected"
                               " number of succeeded pods"})
        elif run.failed > int(spec.get("backoffLimit", 6)):
            conditions.append({"type": "Failed", "status": "True", "lastTransitionTime": now,
                               "reason": "BackoffLimitExceeded",
                               "message": f"Job has reached the specified backoff limit;"
                                          f" last pod: {run.last_failure}"})
        if conditions or spec.get("suspend"):
            await self._stop_all(run)
        else:
            await self._launch(job, run, completions)
        status: Body = {
            "active": len(run.pods) or None,
            "succeeded": len(run.succeeded) or None,
            "failed": run.failed or None,
            "startTime": run.started or None,
        }
        if spec.get("completionMode") == "Indexed":
            status["completedIndexes"] = ",".join(map(str, sorted(run.succeeded))) or None
        if conditions:
            status["conditions"] = conditions
            status["completionTime"] = now if conditions[0]["type"] == "Complete" else None
        old = job.get("status") or {}
        if any(old.get(key) != value for key, value in status.items()):
            with contextlib.suppress(KubeApiError):  # deleted meanwhile
                await self.client.patch_status("batch/v1", "Job", meta["namespace"],
                                               meta["name"], status)

    def _reap(self, run: JobRun) -> None:
        for index, pod in list(run.pods.items()):
            code = pod.process.returncode
            if code is None:
                continue
            del run.pods[index]
            if code == 0:
                run.succeeded.add(index)
            elif code in (STOPPED_EXIT, -signal.SIGTERM) or pod.stopping:
                pass  # stopped, not failed: the index runs again
            else:
                run.failed += 1
                run.last_failure = f"index {index} exited {code}: {last_line(pod.log)}"

    async def _launch(self, job: Body, run: JobRun, completions: int) -> None:
        parallelism = int(job["spec"].get("parallelism", 1))
        indexed = job["spec"].get("completionMode") == "Indexed"
        for index in range(completions if indexed else 1):
            if len(run.pods) >= parallelism:
                return
            if index in run.pods or index in run.succeeded:
                continue
            started = await self._start(job, run, index if indexed else None)
            if started is None:
                return
            run.pods[index] = started
            run.started = run.started or _now()

    async def _start(self, job: Body, run: JobRun, index: int | None) -> Pod | None:
        meta = job["metadata"]
        run.attempts += 1
        name = f"{meta['namespace']}-{meta['name']}-{index or 0}-{run.attempts}"
        extra = {"JOB_COMPLETION_INDEX": str(index)} if index is not None else {}
        try:
            pod = await self.pods.start(meta["namespace"], job["spec"]["template"]["spec"],
                                        name, index or 0, extra)
        except LookupError as missing:
            run.waiting = str(missing)  # a kubelet leaves such a pod Pending and retries
            run.attempts -= 1
            return None
        run.waiting = ""
        return pod

    # -- stopping --------------------------------------------------------------------

    async def _stop_all(self, run: JobRun) -> None:
        await asyncio.gather(*(self.pods.stop(pod) for pod in run.pods.values()))
        self._reap(run)

    async def _collect_orphans(self, jobs: list[Body]) -> list[Body]:
        """Delete Jobs whose owning Campaign or CampaignRun is gone (the garbage collector's part);
        return the others."""
        owners: dict[str, set[str]] = {}
        kept = []
        for job in jobs:
            if not (await owner_gone(self.client, job, "Campaign", owners)
                    or await owner_gone(self.client, job, "CampaignRun", owners)):
                kept.append(job)
                continue
            meta = job["metadata"]
            run = self.runs.pop(meta["uid"], None)
            if run is not None:
                await self._stop_all(run)
            with contextlib.suppress(KubeApiError):
                await self.client.delete("batch/v1", "Job", meta["namespace"], meta["name"])
        return kept


@contextlib.asynccontextmanager
async def running_jobs(client: KubeClient, workdir: Path) -> AsyncIterator[LocalJobRunner]:
    async with LocalJobRunner(client, workdir) as runner:
        yield runner


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
