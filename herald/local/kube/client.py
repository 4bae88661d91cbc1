"""A small Kubernetes API client for the local stack and the tests, and ``wait_for``.

    async with KubeClient(url) as kube:
        obj = await kube.create(manifest)
        await wait_for(lambda: ready(obj), timeout=10, message="not ready")

``wait_for`` is the only sanctioned way to wait in tests: no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

import aiohttp

T = TypeVar("T")
Body = dict[str, Any]
Bodies = list[Body]  # NB: KubeClient.list() shadows list[] in its class's annotations


@overload
async def wait_for(probe: Callable[[], Awaitable[T]], *, timeout: float, message: str,
                   until: Callable[[T], object] = ..., interval: float = ...) -> T: ...
@overload
async def wait_for(probe: Callable[[], T], *, timeout: float, message: str,
                   until: Callable[[T], object] = ..., interval: float = ...) -> T: ...
async def wait_for(
        probe: Callable[[], Any],
        *,
        timeout: float,
        message: str,
        until: Callable[[Any], object] = bool,
        interval: float = 0.02,
) -> Any:
    """
    Call ``probe`` (sync or async) every ``interval`` until ``until(value)`` holds
    (by default: until the value is truthy), and return that value.

    On timeout, fail with ``message`` and the last value seen. The deadline is wall-clock
    time, so it holds under looptime too, where the loop's clock runs ahead.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (after {timeout}s; last value: {value!r})")
        await asyncio.sleep(interval)


# -- the API client --------------------------------------------------------------------------

class KubeApiError(Exception):
    """A non-2xx answer; ``status`` is the HTTP code, ``reason`` the Status reason."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        self.reason: str | None = body.get("reason") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{status} {self.reason}: {message}")


class KubeClient:
    """
    A tiny async client for tests, on aiohttp. Resources are named by apiVersion plus kind
    or plural (``'v1', 'ConfigMap'`` or ``'v1', 'configmaps'``), resolved by discovery.
    Non-2xx answers raise KubeApiError. Like kubectl, ``create`` puts namespaced objects
    without a namespace into ``namespace``.
    """

    def __init__(self, server: str, *, namespace: str = "default") -> None:
        self.server = server.rstrip("/")
        self.namespace = namespace
        self._session: aiohttp.ClientSession | None = None
        self._discovered: dict[str, list[Body]] = {}

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(raise_for_status=False)
        return self._session

    async def request(
            self, method: str, path: str, *,
            body: Any = None,
            params: Mapping[str, str] | None = None,
            content_type: str = "application/json",
    ) -> Any:
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(method, self.server + path, data=data,
                                        params=params, headers=headers) as response:
            text = await response.text()
        try:
            payload = json.loads(text) if text else None
        except ValueError:  # not from the emulator's own code, e.g. a kmock reaction in a test
            payload = text
        if response.status >= 300:
            raise KubeApiError(response.status, payload)
        return payload

    async def path(
            self, api_version: str, kind: str, namespace: str | None = None,
            name: str | None = None, subresource: str | None = None,
    ) -> str:
        """The URL path of a resource, or of one object of it."""
        info = await self._resolve(api_version, kind)
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespace is not None and info["namespaced"]:
            path += f"/namespaces/{namespace}"
        path += f"/{info['name']}"
        path += f"/{name}" if name is not None else ""
        path += f"/{subresource}" if subresource is not None else ""
        return path

    async def _resolve(self, api_version: str, kind: str) -> Body:
        for refresh in (False, True):  # CRDs come and go: rediscover once on a miss
            if refresh or api_version not in self._discovered:
                url = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
                self._discovered[api_version] = (await self.request("GET", url))["resources"]
            for info in self._discovered[api_version]:
                names = {info["kind"], info["name"], info.get("singularName"),
                         *info.get("shortNames", [])}
                if "/" not in info["name"] and kind in names:
                    return info
        raise LookupError(f"No resource {kind!r} in {api_version!r}")

    async def create(self, obj: Mapping[str, Any]) -> Body:
        namespace = obj.get("metadata", {}).get("namespace") or self.namespace
        path = await self.path(obj["apiVersion"], obj["kind"], namespace)
        created: Body = await self.request("POST", path, body=obj)
        return created

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Body:
        obj: Body = await self.request("GET", await self.path(api_version, kind, namespace, name))
        return obj

    async def find(self, api_version: str, kind: str, namespace: str | None, name: str,
                   ) -> Body | None:
        """The object, or None if it does not exist."""
        try:
            return await self.get(api_version, kind, namespace, name)
        except KubeApiError as e:
            if e.status == 404:
                return None
            raise

    async def list(
            self, api_version: str, kind: str, namespace: str | None = None, *,
            label_selector: str | None = None, field_selector: str | None = None,
    ) -> Bodies:
        params = {key: value for key, value in [("labelSelector", label_selector),
                                                ("fieldSelector", field_selector)] if value}
        path = await self.path(api_version, kind, namespace)
        items: Bodies = (await self.request("GET", path, params=params))["items"]
        return items

    async def patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                    patch: Mapping[str, Any], *, subresource: str | None = None) -> Body:
        """A merge patch (RFC 7386)."""
        path = await self.path(api_version, kind, namespace, name, subresource)
        patched: Body = await self.request("PATCH", path, body=patch,
                                           content_type="application/merge-patch+json")
        return patched

    async def patch_status(self, api_version: str, kind: str, namespace: str | None, name: str,
                           status: Mapping[str, Any]) -> Body:
        """Merge ``status`` into the object's status through the /status subresource."""
        return await self.patch(api_version, kind, namespace, name, {"status": status},
                                subresource="status")

    async def json_patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                         ops: Sequence[Mapping[str, Any]], *, subresource: str | None = None,
                         ) -> Body:
        """A JSON patch (RFC 6902)."""
        path = await self.path(api_version, kind, namespace, name, subresource)
        patched: Body = await self.request("PATCH", path, body=list(ops),
                                           content_type="application/json-patch+json")
        return patched

    async def replace(self, obj: Mapping[str, Any], *, subresource: str | None = None) -> Body:
        """PUT the whole object; its metadata.resourceVersion, if any, is a precondition."""
        meta = obj["metadata"]
        path = await self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"),
                               meta["name"], subresource)
        replaced: Body = await self.request("PUT", path, body=obj)
        return replaced

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> Body:
        deleted: Body = await self.request("DELETE", await self.path(api_version, kind, namespace,
                                                                     name))
        return deleted

    async def watch(
            self, api_version: str, kind: str, namespace: str | None = None, *,
            resource_version: str | None = None, label_selector: str | None = None,
            field_selector: str | None = None, timeout_seconds: int | None = None,
    ) -> AsyncGenerator[Body, None]:
        """Stream watch events; close it with ``contextlib.aclosing`` or by breaking out."""
        params = {"watch": "true"}
        for key, value in [("resourceVersion", resource_version),
                           ("labelSelector", label_selector), ("fieldSelector", field_selector),
                           ("timeoutSeconds", timeout_seconds)]:
            if value is not None:
                params[key] = str(value)
        path = await self.path(api_version, kind, namespace)
        async with self.session.get(self.server + path, params=params) as response:
            if response.status >= 300:
                raise KubeApiError(response.status, await response.json(content_type=None))
            while line := await response.content.readline():
                if line.strip():
                    yield json.loads(line)

    async def events_for(self, obj: Mapping[str, Any]) -> Bodies:
        """
        The core v1 Events whose involvedObject is ``obj`` (as kopf posts them), oldest
        first. The API lists them by name, which kopf makes random (generateName).
        """
        meta = obj["metadata"]
        events = await self.list("v1", "Event", meta.get("namespace") or "default",
                                 field_selector=f"involvedObject.uid={meta['uid']}")
        return sorted(events, key=lambda event: int(event["metadata"]["resourceVersion"]))


# -- the emulated cluster --------------------------------------------------------------------
