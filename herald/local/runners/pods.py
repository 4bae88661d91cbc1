"""Pods as local processes: the kubelet's part of the local Job and Deployment runners.

A pod's one container runs as `python -m herald ARGS` (the image's entry point) with
the container's env (values, Secret and ConfigMap keys resolved through the API).
ConfigMap and Secret volumes are written to a directory, as the bytes the kubelet
writes (a ConfigMap's data as UTF-8, its binaryData and a Secret's data decoded from
base64), and their mount paths rewritten in args and env values. Stopping sends
SIGTERM, then SIGKILL after the grace period (the pod's own, at most `max_grace`), as a
kubelet does. What it does not do: scheduling, resources, security contexts, image
pulls, probes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from herald.local.kube.client import KubeClient

logger = logging.getLogger(__name__)

Body = dict[str, Any]


@dataclass
class Pod:
    index: int
    process: asyncio.subprocess.Process
    log: Path
    grace: float = 30.0
    """The pod's terminationGracePeriodSeconds."""
    stopping: bool = False


class LocalPods:
    """Starts and stops pods of one namespace's specs as processes logging to `workdir`."""

    def __init__(self, client: KubeClient, workdir: Path, *, max_grace: float = 20.0) -> None:
        self.client = client
        self.workdir = workdir
        self.max_grace = max_grace

    async def start(self, namespace: str, pod_spec: Body, name: str, index: int = 0,
                    extra_env: Mapping[str, str] | None = None) -> Pod:
        """Start the pod's container; LookupError when a Secret or ConfigMap it needs is
        missing (a kubelet leaves such a pod waiting and retries)."""
        (container,) = pod_spec["containers"]
        mounts = await self._volumes(namespace, pod_spec, container, self.workdir / name)
        env = await self._env(namespace, container, mounts)
        env["HERALD_METRICS_PORT"] = "0"  # pods share this machine's ports: no /metrics
        env.update(extra_env or {})
        args = [_rewrite(a, mounts) for a in container.get("args", [])]
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "herald", *args, env=env, stdout=out,
                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True)
        return Pod(index, process, log,
                   grace=float(pod_spec.get("terminationGracePeriodSeconds", 30)))

    async def stop(self, pod: Pod, grace: float | None = None) -> None:
        if pod.process.returncode is not None:
            return
        pod.stopping = True
        with contextlib.suppress(ProcessLookupError):
            pod.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace if grace is not None
                                       else min(pod.grace, self.max_grace)):
                await pod.process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                pod.process.kill()
            await pod.process.wait()

    async def _volumes(self, namespace: str, pod_spec: Body, container: Body,
                       root: Path) -> dict[str, Path]:
        """Write ConfigMap, Secret and projected volumes (of ConfigMaps and Secrets);
        return mountPath -> local directory. A PersistentVolumeClaim is the directory
        pvc/CLAIM of the workdir, the same for every pod that mounts it."""
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        mounts: dict[str, Path] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "projected" in volume:
                sources = volume["projected"].get("sources", [])
            elif "configMap" in volume or "secret" in volume:
                sources = [volume]
            elif "persistentVolumeClaim" in volume:  # one directory a claim, shared
                claim = self.workdir / "pvc" / volume["persistentVolumeClaim"]["claimName"]
                claim.mkdir(parents=True, exist_ok=True)
                mounts[mount["mountPath"]] = claim
                continue
            else:
                continue
            local = root / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            for source in sources:
                await self._write_source(namespace, source, local, mount["name"])
            mounts[mount["mountPath"]] = local
        return mounts

    async def _write_source(self, namespace: str, source: Body, local: Path,
                            volume: str) -> None:
        """One ConfigMap's or Secret's keys as files. A plain Secret volume names its
        Secret `secretName`, a projected one `name`, as the Kubernetes API does."""
        if "configMap" in source:
            ref = source["configMap"]
            data = await self._files(namespace, "ConfigMap", ref["name"])
        else:
            ref = source["secret"]
            data = await self._files(namespace, "Secret", ref.get("secretName") or ref["name"])
        items = ref.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                raise LookupError(f"volume {volume}: no key {item['key']!r}")
            (local / item["path"]).write_bytes(data[item["key"]])

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
        """Keys as env values take them: text."""
        files = await self._files(namespace, kind, name, optional)
        return {k: v.decode() for k, v in files.items()}

    async def _files(self, namespace: str, kind: str, name: str,
                     optional: bool | None = False) -> dict[str, bytes]:
        """Keys as a volume holds them: bytes."""
        obj = await self.client.find("v1", kind, namespace, name)
        if obj is None:
            if optional:
                return {}
            raise LookupError(f"{kind} {name} not found")
        data = dict(obj.get("data") or {})
        if kind == "Secret":
            return {k: base64.b64decode(v) for k, v in data.items()}
        return {**{k: str(v).encode("utf-8") for k, v in data.items()},
                **{k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}}


class LocalController:
    """A controller loop on this machine: one `turn()` every `poll` seconds until the
    block ends, then its pods stopped. Errors are logged, not fatal: a harness loop that
    died quietly would leave tests to time out with unrelated messages."""

    name = "local controller"

    def __init__(self, client: KubeClient, workdir: Path, *, poll: float,
                 max_grace: float = 20.0) -> None:
        self.client = client
        self.workdir = workdir
        self.poll = poll
        self.pods = LocalPods(client, workdir, max_grace=max_grace)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._loop(), name=self.name)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.stop_pods()

    async def turn(self) -> None:
        raise NotImplementedError

    async def stop_pods(self) -> None:
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            try:
                await self.turn()
            except Exception:
                logger.exception(self.name)
            await asyncio.sleep(self.poll)


async def owner_gone(client: KubeClient, obj: Body, kind: str,
                     seen: dict[str, set[str]]) -> bool:
    """Whether `obj` has an owner of `kind` that no longer exists (the garbage
    collector's test). `seen` caches owner uids by apiVersion for one pass."""
    for ref in obj["metadata"].get("ownerReferences", []):
        if ref.get("kind") != kind:
            continue
        if ref["apiVersion"] not in seen:
            seen[ref["apiVersion"]] = {o["metadata"]["uid"]
                                       for o in await client.list(ref["apiVersion"], kind)}
        if ref["uid"] not in seen[ref["apiVersion"]]:
            return True
    return False


def last_line(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _rewrite(value: str, mounts: Mapping[str, Path]) -> str:
    for mount_path, local in mounts.items():
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(local) + value[len(mount_path.rstrip("/")):]
    return value
