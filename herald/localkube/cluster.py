"""
A Kubernetes cluster for tests: the emulator on a loopback port, a kubeconfig for it,
a small API client, the real kopf operator running in-process, and ``wait_for``.

    async with running_emulator([toy_crd]) as cluster:
        async with running_operator(cluster.kubeconfig, registry=registry):
            toy = await cluster.client.create(TOY)
            await wait_for(lambda: handled(toy), timeout=10, message="toy not handled")

``wait_for`` is the only sanctioned way to wait in tests: no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import importlib
import inspect
import json
import os
import pathlib
import signal
import tempfile
import time
import warnings
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar, overload

import aiohttp
import kmock
import kopf
import yaml

from herald.localkube.emulator import HeraldEmulator

T = TypeVar('T')
Body = dict[str, Any]
Bodies = list[Body]  # NB: KubeClient.list() shadows list[] in its class's annotations


# -- waiting ---------------------------------------------------------------------------------

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
        self.reason: str | None = body.get('reason') if isinstance(body, dict) else None
        message = body.get('message') if isinstance(body, dict) else body
        super().__init__(f"{status} {self.reason}: {message}")


class KubeClient:
    """
    A tiny async client for tests, on aiohttp. Resources are named by apiVersion plus kind
    or plural (``'v1', 'ConfigMap'`` or ``'v1', 'configmaps'``), resolved by discovery.
    Non-2xx answers raise KubeApiError. Like kubectl, ``create`` puts namespaced objects
    without a namespace into ``namespace``.
    """

    def __init__(self, server: str, *, namespace: str = 'default') -> None:
        self.server = server.rstrip('/')
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
            content_type: str = 'application/json',
    ) -> Any:
        data = json.dumps(body) if body is not None else None
        headers = {'Content-Type': content_type} if data is not None else {}
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
        path = '/api/v1' if api_version == 'v1' else f'/apis/{api_version}'
        if namespace is not None and info['namespaced']:
            path += f'/namespaces/{namespace}'
        path += f"/{info['name']}"
        path += f'/{name}' if name is not None else ''
        path += f'/{subresource}' if subresource is not None else ''
        return path

    async def _resolve(self, api_version: str, kind: str) -> Body:
        for refresh in (False, True):  # CRDs come and go: rediscover once on a miss
            if refresh or api_version not in self._discovered:
                url = '/api/v1' if api_version == 'v1' else f'/apis/{api_version}'
                self._discovered[api_version] = (await self.request('GET', url))['resources']
            for info in self._discovered[api_version]:
                names = {info['kind'], info['name'], info.get('singularName'),
                         *info.get('shortNames', [])}
                if '/' not in info['name'] and kind in names:
                    return info
        raise LookupError(f"No resource {kind!r} in {api_version!r}")

    async def create(self, obj: Mapping[str, Any]) -> Body:
        namespace = obj.get('metadata', {}).get('namespace') or self.namespace
        path = await self.path(obj['apiVersion'], obj['kind'], namespace)
        created: Body = await self.request('POST', path, body=obj)
        return created

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Body:
        obj: Body = await self.request('GET', await self.path(api_version, kind, namespace, name))
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
        params = {key: value for key, value in [('labelSelector', label_selector),
                                                ('fieldSelector', field_selector)] if value}
        path = await self.path(api_version, kind, namespace)
        items: Bodies = (await self.request('GET', path, params=params))['items']
        return items

    async def patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                    patch: Mapping[str, Any], *, subresource: str | None = None) -> Body:
        """A merge patch (RFC 7386)."""
        path = await self.path(api_version, kind, namespace, name, subresource)
        patched: Body = await self.request('PATCH', path, body=patch,
                                           content_type='application/merge-patch+json')
        return patched

    async def patch_status(self, api_version: str, kind: str, namespace: str | None, name: str,
                           status: Mapping[str, Any]) -> Body:
        """Merge ``status`` into the object's status through the /status subresource."""
        return await self.patch(api_version, kind, namespace, name, {'status': status},
                                subresource='status')

    async def json_patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                         ops: Sequence[Mapping[str, Any]], *, subresource: str | None = None,
                         ) -> Body:
        """A JSON patch (RFC 6902)."""
        path = await self.path(api_version, kind, namespace, name, subresource)
        patched: Body = await self.request('PATCH', path, body=list(ops),
                                           content_type='application/json-patch+json')
        return patched

    async def replace(self, obj: Mapping[str, Any], *, subresource: str | None = None) -> Body:
        """PUT the whole object; its metadata.resourceVersion, if any, is a precondition."""
        meta = obj['metadata']
        path = await self.path(obj['apiVersion'], obj['kind'], meta.get('namespace'),
                               meta['name'], subresource)
        replaced: Body = await self.request('PUT', path, body=obj)
        return replaced

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> Body:
        deleted: Body = await self.request('DELETE', await self.path(api_version, kind, namespace,
                                                                     name))
        return deleted

    async def watch(
            self, api_version: str, kind: str, namespace: str | None = None, *,
            resource_version: str | None = None, label_selector: str | None = None,
            field_selector: str | None = None, timeout_seconds: int | None = None,
    ) -> AsyncGenerator[Body, None]:
        """Stream watch events; close it with ``contextlib.aclosing`` or by breaking out."""
        params = {'watch': 'true'}
        for key, value in [('resourceVersion', resource_version),
                           ('labelSelector', label_selector), ('fieldSelector', field_selector),
                           ('timeoutSeconds', timeout_seconds)]:
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
        meta = obj['metadata']
        events = await self.list('v1', 'Event', meta.get('namespace') or 'default',
                                 field_selector=f"involvedObject.uid={meta['uid']}")
        return sorted(events, key=lambda event: int(event['metadata']['resourceVersion']))


# -- the emulated cluster --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class EmulatedCluster:
    emulator: HeraldEmulator  # for kmock's DSL and assertions on requests/objects
    url: str  # http://127.0.0.1:PORT
    kubeconfig: pathlib.Path  # no auth; for kopf and for kubernetes.config.load_kube_config
    client: KubeClient


def write_kubeconfig(path: pathlib.Path, server: str, namespace: str = 'default') -> pathlib.Path:
    name = 'herald-emulator'
    path.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': name,
        'clusters': [{'name': name, 'cluster': {'server': server}}],
        'users': [{'name': name, 'user': {}}],
        'contexts': [{'name': name, 'context': {'cluster': name, 'user': name,
                                                'namespace': namespace}}],
    }))
    return path


@contextlib.asynccontextmanager
async def running_emulator(
        crds: Iterable[Mapping[str, Any]] = (),
        *,
        namespaces: Collection[str] = ('default',),
) -> AsyncIterator[EmulatedCluster]:
    """
    Serve a HeraldEmulator on 127.0.0.1 (a free port) with the builtin resources,
    the given namespaces and CRDs (apiextensions.k8s.io/v1 manifests, created through
    the API as ``kubectl apply`` would), and a kubeconfig in a temporary directory.
    """
    emulator = HeraldEmulator()
    with warnings.catch_warnings():  # kmock 0.8 reads its bundle with a deprecated call
        warnings.simplefilter('ignore', DeprecationWarning)
        emulator.resources.load_bundled()  # namespaces, configmaps, secrets, events, jobs, CRDs…
    with tempfile.TemporaryDirectory(prefix='herald-kube-') as tmpdir:
        async with emulator, kmock.Server(emulator) as server:
            try:
                url = f'http://{server.host}:{server.port}'
                kubeconfig = write_kubeconfig(pathlib.Path(tmpdir) / 'kubeconfig', url)
                async with KubeClient(url) as client:
                    for namespace in namespaces:
                        await client.create({'apiVersion': 'v1', 'kind': 'Namespace',
                                             'metadata': {'name': namespace}})
                    for crd in crds:
                        await client.create(crd)
                    yield EmulatedCluster(emulator, url, kubeconfig, client)
            finally:
                emulator.stop_watches()  # else the server waits for open watches to end


# -- the operator ----------------------------------------------------------------------------

def quick_settings() -> kopf.OperatorSettings:
    """kopf's settings with the waits that matter in tests cut short."""
    settings = kopf.OperatorSettings()
    # kopf SIGKILLs its own process 10 minutes after an unplanned exit: not pytest's.
    settings.process.ultimate_exiting_timeout = None
    # Reconnect watches every few seconds, so resuming from a resourceVersion is exercised.
    settings.watching.server_timeout = 5
    settings.watching.client_timeout = 10
    settings.watching.inactivity_timeout = 10
    # A failing request is a harness or operator bug here: fail after short retries.
    settings.networking.request_timeout = 10
    settings.networking.error_backoffs = [0.1, 0.2, 0.5]
    settings.posting.default_backoffs = [0.1, 0.2, 0.5]
    # Idle event-posting workers outlive the operator's root tasks; kopf waits for them.
    settings.posting.idle_timeout = 0.1
    settings.queueing.exit_timeout = 1.0
    return settings


@dataclasses.dataclass(frozen=True)
class RunningOperator:
    registry: kopf.OperatorRegistry
    settings: kopf.OperatorSettings
    memo: kopf.Memo
    task: asyncio.Task[None]  # done when the operator has stopped


@contextlib.contextmanager
def kubeconfig_env(path: str | os.PathLike[str]) -> Iterator[None]:
    """
    Make ``path`` the default kubeconfig: for kopf's logins (KUBECONFIG) and for the
    official client, which reads KUBECONFIG once at import into a module default.
    """
    import kubernetes.config.kube_config as kube_config

    saved = os.environ.get('KUBECONFIG'), kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    os.environ['KUBECONFIG'] = kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop('KUBECONFIG', None)
        else:
            os.environ['KUBECONFIG'] = saved[0]
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = saved[1]


# Which operator spawned a task, if any. Tasks inherit it from the context they are
# created in, so every task that the operator's own task spawns carries its mark.
_SPAWNER: contextvars.ContextVar[object | None] = contextvars.ContextVar('spawner', default=None)
_SPAWNED: weakref.WeakKeyDictionary[asyncio.Future[Any], object] = weakref.WeakKeyDictionary()
_LOGIN_REGISTERED: weakref.WeakSet[kopf.OperatorRegistry] = weakref.WeakSet()


class _AllTasks(Collection[asyncio.Task[Any]]):
    """
    For kopf.run_tasks(ignored=...): kopf assumes the loop is its own and, on exit, reaps
    every task it did not see at start, after 5 seconds. Here the loop also runs the
    emulator's request handlers and the test; so kopf reaps nothing, and we reap only
    the tasks that the operator spawned, after a shorter grace period.
    """

    def __contains__(self, task: object) -> bool:
        return True

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(())

    def __len__(self) -> int:
        return 0


@contextlib.contextmanager
def _tracking_spawned_tasks(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        context = kwargs.get('context')
        spawner = context.get(_SPAWNER) if context is not None else _SPAWNER.get()
        if previous is not None:
            task = previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        if spawner is not None:
            _SPAWNED[task] = spawner
        return task

    loop.set_task_factory(factory)
    try:
        yield
    finally:
        loop.set_task_factory(previous)


async def _reap(token: object, grace: float) -> None:
    """Let the tasks the operator left behind finish for ``grace`` seconds, then cancel."""
    leftovers = {task for task, spawner in list(_SPAWNED.items())
                 if spawner is token and not task.done() and task is not asyncio.current_task()}
    if leftovers:
        _, pending = await asyncio.wait(leftovers, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


@contextlib.asynccontextmanager
async def running_operator(
        kubeconfig: str | os.PathLike[str],
        *,
        registry: kopf.OperatorRegistry | None = None,
        modules: Sequence[str] = (),
        namespace: str | None = None,
        settings: kopf.OperatorSettings | None = None,
        memo: kopf.Memo | None = None,
        timeout: float = 10,
        grace: float = 0.2,
) -> AsyncIterator[RunningOperator]:
    """
    Run the real kopf operator as a task of this event loop until the block exits.

    Handlers come from ``registry``, or from kopf's default registry after importing
    ``modules`` (e.g. ``['controllers.operator']``). The operator serves ``namespace``,
    or the whole cluster if None; it runs standalone (no peering). It logs in with kopf's
    own ``login_with_kubeconfig`` from ``kubeconfig``, which is also the default kubeconfig
    of the official client meanwhile. Entering waits until kopf reports ready; exiting
    stops it, gives what it spawned ``grace`` seconds to end, and cancels the rest.
    """
    for module in modules:
        importlib.import_module(module)
    registry = registry if registry is not None else kopf.get_default_registry()
    settings = settings if settings is not None else quick_settings()
    memo = memo if memo is not None else kopf.Memo()
    if registry not in _LOGIN_REGISTERED:  # once: kopf calls each login handler anyway
        kopf.on.login(registry=registry, id='herald-harness-kubeconfig')(kopf.login_with_kubeconfig)
        _LOGIN_REGISTERED.add(registry)

    loop = asyncio.get_running_loop()
    ready, stop = asyncio.Event(), asyncio.Event()
    token = object()

    async def operate() -> None:
        try:
            tasks = await kopf.spawn_tasks(
                registry=registry, settings=settings, memo=memo, standalone=True,
                clusterwide=namespace is None, namespaces=[namespace] if namespace else [],
                ready_flag=ready, stop_flag=stop)
            await kopf.run_tasks(tasks, ignored=_AllTasks())
        finally:
            await _reap(token, grace)

    context = contextvars.copy_context()
    context.run(_SPAWNER.set, token)
    with kubeconfig_env(kubeconfig), _tracking_spawned_tasks(loop):
        task = loop.create_task(operate(), name='kopf operator', context=context)
        try:
            ready_waiter = asyncio.ensure_future(ready.wait())
            done, _ = await asyncio.wait({ready_waiter, task}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            ready_waiter.cancel()
            if task in done:
                task.result()  # re-raise why it exited
                raise RuntimeError("The operator exited before it was ready.")
            if not done:
                raise TimeoutError(f"The operator was not ready in {timeout}s.")
            yield RunningOperator(registry, settings, memo, task)
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=timeout + grace)
            finally:
                # kopf adds SIGINT/SIGTERM handlers to the loop and never removes them.
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)
