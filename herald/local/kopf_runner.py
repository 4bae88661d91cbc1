"""The real kopf operator as a task of this event loop: for the local stack and tests.

    async with running_emulator([crd]) as cluster:
        async with running_operator(cluster.kubeconfig, modules=["controllers.operator"]):
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import importlib
import os
import signal
import weakref
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from typing import Any

import kopf

from herald.local.kube.server import kubeconfig_env


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


# Which operator spawned a task, if any. Tasks inherit it from the context they are
# created in, so every task that the operator's own task spawns carries its mark.
_SPAWNER: contextvars.ContextVar[object | None] = contextvars.ContextVar("spawner", default=None)
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
        context = kwargs.get("context")
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
        kopf.on.login(registry=registry, id="herald-harness-kubeconfig")(kopf.login_with_kubeconfig)
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
        task = loop.create_task(operate(), name="kopf operator", context=context)
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
