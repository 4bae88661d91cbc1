"""The API emulator served on a loopback port, with a kubeconfig that points at it.

    async with running_emulator([crd]) as cluster:
        await cluster.client.create(manifest)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import tempfile
import warnings
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Mapping
from typing import Any

import kmock
import yaml

from herald.local.kube.client import KubeClient
from herald.local.kube.emulator import KubeApiEmulator


@dataclasses.dataclass(frozen=True)
class EmulatedCluster:
    emulator: KubeApiEmulator  # for kmock's DSL and assertions on requests/objects
    url: str  # http://127.0.0.1:PORT
    kubeconfig: pathlib.Path  # no auth; for kopf and for kubernetes.config.load_kube_config
    client: KubeClient


EMULATOR_CONTEXT = "herald-emulator"
"""The context (and cluster, and user) of every kubeconfig written for the emulator."""


def write_kubeconfig(path: pathlib.Path, server: str, namespace: str = "default") -> pathlib.Path:
    name = EMULATOR_CONTEXT
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": {}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name,
                                                "namespace": namespace}}],
    }))
    return path


@contextlib.asynccontextmanager
async def running_emulator(
        crds: Iterable[Mapping[str, Any]] = (),
        *,
        namespaces: Collection[str] = ("default",),
) -> AsyncIterator[EmulatedCluster]:
    """
    Serve a KubeApiEmulator on 127.0.0.1 (a free port) with the builtin resources,
    the given namespaces and CRDs (apiextensions.k8s.io/v1 manifests, created through
    the API as ``kubectl apply`` would), and a kubeconfig in a temporary directory.
    """
    emulator = KubeApiEmulator()
    with warnings.catch_warnings():  # kmock 0.8 reads its bundle with a deprecated call
        warnings.simplefilter("ignore", DeprecationWarning)
        emulator.resources.load_bundled()  # namespaces, configmaps, secrets, events, jobs, CRDs…
    with tempfile.TemporaryDirectory(prefix="herald-kube-") as tmpdir:
        async with emulator, kmock.Server(emulator) as server:
            try:
                url = f"http://{server.host}:{server.port}"
                kubeconfig = write_kubeconfig(pathlib.Path(tmpdir) / "kubeconfig", url)
                async with KubeClient(url) as client:
                    for namespace in namespaces:
                        await client.create({"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": namespace}})
                    for crd in crds:
                        await client.create(crd)
                    yield EmulatedCluster(emulator, url, kubeconfig, client)
            finally:
                emulator.stop_watches()  # else the server waits for open watches to end


@contextlib.contextmanager
def kubeconfig_env(path: str | os.PathLike[str]) -> Iterator[None]:
    """
    Make ``path`` the default kubeconfig: for kopf's logins (KUBECONFIG) and for the
    official client, which reads KUBECONFIG once at import into a module default.
    """
    import kubernetes.config.kube_config as kube_config

    saved = os.environ.get("KUBECONFIG"), kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    os.environ["KUBECONFIG"] = kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = saved[0]
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = saved[1]
