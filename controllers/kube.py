"""A small async face on the official Kubernetes client, for what kopf does not do.

kopf patches the object a handler runs for; a handler that must read or patch
another object (an approval re-reviewing its template) comes here. The official
client is synchronous, so each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from crds.base import GROUP, VERSION


def load_client_config() -> kubernetes.client.ApiClient:
    """In a pod: the service account. Elsewhere: the kubeconfig (KUBECONFIG or ~/.kube)."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


class Kube:
    """Reads and status writes of Herald's custom resources."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self._custom = kubernetes.client.CustomObjectsApi(api_client)

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            body: Any = await asyncio.to_thread(
                self._custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(body)

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        created: Any = await asyncio.to_thread(
            self._custom.create_namespaced_custom_object, GROUP, VERSION, namespace, plural, body
        )
        return dict(created)

    async def patch(self, plural: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """Merge-patch the object (its spec: the operator's own children only)."""
        await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object,
            GROUP, VERSION, namespace, plural, name, patch,
        )

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete the object; absent is fine."""
        try:
            await asyncio.to_thread(
                self._custom.delete_namespaced_custom_object,
                GROUP, VERSION, namespace, plural, name,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def patch_status(
        self, plural: str, namespace: str, name: str, status_patch: dict[str, Any]
    ) -> None:
        """Merge-patch the status subresource."""
        await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, plural, name, {"status": status_patch},
        )


class CoreKube:
    """Jobs, Secrets and Deployments: the built-in kinds Herald's controllers touch."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self._batch = kubernetes.client.BatchV1Api(api_client)
        self._core = kubernetes.client.CoreV1Api(api_client)

    async def create_job(self, body: dict[str, Any]) -> bool:
        """Create the Job unless it exists; True if this call created it."""
        try:
            await asyncio.to_thread(
                self._batch.create_namespaced_job,  # the client takes plain dicts too
                body["metadata"]["namespace"], body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        await asyncio.to_thread(self._batch.patch_namespaced_job, name, namespace, patch)

    async def secret(self, namespace: str, name: str) -> SecretRead | None:
        """The Secret's data (base64 values, as the API gives them) and resourceVersion,
        or None if it does not exist."""
        secret = await _read_or_none(self._core.read_namespaced_secret, name, namespace)
        if secret is None:
            return None
        return SecretRead(dict(secret.data or {}), secret.metadata.resource_version or "")

    async def config_map_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        """The keys of the ConfigMap (data and binaryData), or None if it does not exist."""
        data = await self.config_map(namespace, name)
        return frozenset(data) if data is not None else None

    async def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """The ConfigMap's data (text values; binaryData base64), or None if absent."""
        found = await _read_or_none(self._core.read_namespaced_config_map, name, namespace)
        if found is None:
            return None
        return {**(found.binary_data or {}), **(found.data or {})}


async def _read_or_none(read: Any, name: str, namespace: str) -> Any:
    """One object read through the client in a thread; None when it does not exist."""
    try:
        return await asyncio.to_thread(read, name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


@dataclass(frozen=True)
class SecretRead:
    data: dict[str, str] = field(repr=False)  # never in a log line
    version: str


class Deployments:
    """Deployments (the channel receivers): read, create, replace, delete."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self._apps = kubernetes.client.AppsV1Api(api_client)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: Any = await asyncio.to_thread(
                self._apps.read_namespaced_deployment, name, namespace,
                _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(json.loads(found.data))

    async def apply(self, body: dict[str, Any], existing: dict[str, Any] | None) -> None:
        """Create `body`, or replace `existing` with it (keeping its resourceVersion)."""
        meta = body["metadata"]
        if existing is None:
            await asyncio.to_thread(self._apps.create_namespaced_deployment,
                                    meta["namespace"], body)
            return
        replacement = {**body, "metadata": {
            **meta, "resourceVersion": existing["metadata"].get("resourceVersion")}}
        await asyncio.to_thread(self._apps.replace_namespaced_deployment, meta["name"],
                                meta["namespace"], replacement)

    async def delete(self, namespace: str, name: str) -> None:
        """Delete it (its pods with it); absent is fine."""
        try:
            await asyncio.to_thread(self._apps.delete_namespaced_deployment, name, namespace,
                                    propagation_policy="Foreground")
        except ApiException as exc:
            if exc.status != 404:
                raise
