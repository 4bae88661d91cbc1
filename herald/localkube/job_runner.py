"""A local stand-in for the Job controller and the kubelet: Jobs' pods as local processes.

The emulated API stores Jobs but nothing runs them. `LocalJobRunner` watches the Jobs
(by polling the API) and does, on this machine, what a cluster would:

- runs each pod as `python -m herald ARGS` (the image's entry point), with the
  container's env (values, Secret and ConfigMap keys resolved through the API) and
  JOB_COMPLETION_INDEX for Indexed Jobs; ConfigMap and Secret volumes are written to a
  directory and their mount paths rewritten in args and env values;
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
import base64
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from herald.localkube.cluster import KubeApiError, KubeClient

logger = logging.getLogger(__name__)

STOPPED_EXIT = 143
Body = dict[str, Any]


@dataclass
class Pod:
    index: int
    process: asyncio.subprocess.Process
    log: Path
    stopping: bool = False


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


class LocalJobRunner:
    def __init__(self, client: KubeClient, workdir: Path, *, poll: float = 0.1,
                 max_grace: float = 20.0) -> None:
        self.client = client
        self.workdir = workdir
        self.poll = poll
        self.max_grace = max_grace
        self.runs: dict[str, JobRun] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LocalJobRunner:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._loop(), name="local job runner")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*(self._stop(pod, grace=5.0)
                               for run in self.runs.values() for pod in run.pods.values()))

    def logs(self) -> list[Path]:
        return sorted(self.workdir.glob("*.log"))

    async def _loop(self) -> None:
        while True:
            try:
                jobs = await self.client.list("batch/v1", "Job")
                for job in await self._collect_orphans(jobs):
                    await self._sync(job)
            except (KubeApiError, OSError) as error:
                logger.warning("local job runner: %s", error)
            await asyncio.sleep(self.poll)

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
                run.last_failure = f"index {index} exited {code}: {_last_line(pod.log)}"

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
        pod_spec = job["spec"]["template"]["spec"]
        (container,) = pod_spec["containers"]
        run.attempts += 1
        name = f"{meta['namespace']}-{meta['name']}-{index or 0}-{run.attempts}"
        try:
            mounts = await self._volumes(meta["namespace"], pod_spec, container,
                                         self.workdir / name)
            env = await self._env(meta["namespace"], container, mounts)
        except LookupError as missing:
            run.waiting = str(missing)  # a kubelet leaves such a pod Pending and retries
            run.attempts -= 1
            return None
        run.waiting = ""
        if index is not None:
            env["JOB_COMPLETION_INDEX"] = str(index)
        args = [_rewrite(a, mounts) for a in container.get("args", [])]
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "herald", *args, env=env, stdout=out,
                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True)
        return Pod(index or 0, process, log)

    async def _volumes(self, namespace: str, pod_spec: Body, container: Body,
                       root: Path) -> dict[str, Path]:
        """Write ConfigMap and Secret volumes; return mountPath -> local directory."""
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        mounts: dict[str, Path] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                source = volume["configMap"]
                data = await self._data(namespace, "ConfigMap", source["name"])
            elif "secret" in volume:
                source = volume["secret"]
                data = await self._data(namespace, "Secret", source["secretName"])
            else:
                continue
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            local = root / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            for item in items:
                if item["key"] not in data:
                    raise LookupError(f"volume {mount['name']}: no key {item['key']!r}")
                (local / item["path"]).write_text(data[item["key"]], encoding="utf-8")
            mounts[mount["mountPath"]] = local
        return mounts

    async def _env(self, namespace: str, container: Body, mounts: Mapping[str, Path],
                   ) -> dict[str, str]:
        env = dict(os.environ)
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = _rewrite(str(var["value"]), mounts)
                continue
            source = var.get("valueFrom", {})
            for kind, ref in (("Secret", source.get("secretKeyRef")),
                              ("ConfigMap", source.get("configMapKeyRef"))):
                if ref is None:
                    continue
                data = await self._data(namespace, kind, ref["name"], ref.get("optional"))
                if ref["key"] in data:
                    env[var["name"]] = data[ref["key"]]
                elif not ref.get("optional"):
                    raise LookupError(f"{kind} {ref['name']} has no key {ref['key']!r}")
        return env

    async def _data(self, namespace: str, kind: str, name: str,
                    optional: bool | None = False) -> dict[str, str]:
        obj = await self.client.find("v1", kind, namespace, name)
        if obj is None:
            if optional:
                return {}
            raise LookupError(f"{kind} {name} not found")
        data = dict(obj.get("data") or {})
        if kind == "Secret":
            return {k: base64.b64decode(v).decode() for k, v in data.items()}
        return {k: str(v) for k, v in data.items()}

    # -- stopping --------------------------------------------------------------------

    async def _stop_all(self, run: JobRun) -> None:
        await asyncio.gather(*(self._stop(pod) for pod in run.pods.values()))
        self._reap(run)

    async def _stop(self, pod: Pod, grace: float | None = None) -> None:
        if pod.process.returncode is not None:
            return
        pod.stopping = True
        with contextlib.suppress(ProcessLookupError):
            pod.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace if grace is not None else self.max_grace):
                await pod.process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                pod.process.kill()
            await pod.process.wait()

    async def _collect_orphans(self, jobs: list[Body]) -> list[Body]:
        """Delete Jobs whose owning Campaign is gone (the garbage collector's part);
        return the others."""
        owners: dict[str, set[str]] = {}
        kept = []
        for job in jobs:
            meta = job["metadata"]
            orphan = False
            for ref in meta.get("ownerReferences", []):
                if ref.get("kind") != "Campaign":
                    continue
                if ref["apiVersion"] not in owners:
                    owners[ref["apiVersion"]] = {
                        c["metadata"]["uid"]
                        for c in await self.client.list(ref["apiVersion"], "Campaign")}
                if ref["uid"] not in owners[ref["apiVersion"]]:
                    orphan = True
                    run = self.runs.pop(meta["uid"], None)
                    if run is not None:
                        await self._stop_all(run)
                    with contextlib.suppress(KubeApiError):
                        await self.client.delete("batch/v1", "Job", meta["namespace"],
                                                 meta["name"])
            if not orphan:
                kept.append(job)
        return kept


@contextlib.asynccontextmanager
async def running_jobs(client: KubeClient, workdir: Path) -> AsyncIterator[LocalJobRunner]:
    async with LocalJobRunner(client, workdir) as runner:
        yield runner


def _rewrite(value: str, mounts: Mapping[str, Path]) -> str:
    for mount_path, local in mounts.items():
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(local) + value[len(mount_path.rstrip("/")):]
    return value


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
