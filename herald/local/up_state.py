"""What a running `herald local up` leaves beside its kubeconfig, and `herald local down`,
which reads it to stop that process from another shell: SIGTERM to its pid, then wait
until it has stopped everything it started and exited.

The state file is JSON: pid, the API's URL, the kubeconfig. A pid whose process is gone,
or is no `herald local up`, is a stale file (a crash, a reboot): down says so and removes
it rather than signal a stranger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_SUFFIX = ".local-up.json"
"""Beside its kubeconfig, named after it: two kubeconfigs of one folder, two stacks."""
DOWN_TIMEOUT = 60.0  # what the stack may take to stop its pods (their grace) and itself


@dataclass(frozen=True)
class UpState:
    pid: int
    server: str
    kubeconfig: str

    @staticmethod
    def path(kubeconfig: Path) -> Path:
        return kubeconfig.with_name(kubeconfig.name + STATE_SUFFIX)

    def write(self) -> Path:
        path = self.path(Path(self.kubeconfig))
        path.write_text(json.dumps(asdict(self)) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, kubeconfig: Path) -> UpState | None:
        try:
            data = json.loads(cls.path(kubeconfig).read_text(encoding="utf-8"))
            return cls(int(data["pid"]), str(data["server"]), str(data["kubeconfig"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(Path(self.kubeconfig)).unlink()


def is_local_up(pid: int) -> bool:
    """Whether `pid` is a running `herald local up` (its command line says so)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid)  # no /proc: trust the pid, as pid files do
    words = [arg.decode(errors="replace") for arg in argv]
    return any(w.endswith("herald") or w == "herald" for w in words) and "local" in words \
        and "up" in words


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(kubeconfig: Path) -> UpState | None:
    """The `herald local up` serving this kubeconfig, if one runs."""
    state = UpState.read(kubeconfig)
    return state if state is not None and is_local_up(state.pid) else None


def down(kubeconfig: Path, *, timeout: float = DOWN_TIMEOUT) -> int:
    """`herald local down`: stop the local stack of this kubeconfig; 0 once it is gone."""
    state = UpState.read(kubeconfig)
    if state is None:
        print(f"herald local down: no local stack runs for {kubeconfig}"
              f" (no {UpState.path(kubeconfig)})")
        return 1
    if not is_local_up(state.pid):
        state.remove()
        print(f"herald local down: process {state.pid} is gone; removed its stale state file")
        return 0
    try:
        os.kill(state.pid, signal.SIGTERM)
    except PermissionError:
        print(f"herald local down: process {state.pid} is not yours to stop")
        return 1
    deadline = time.monotonic() + timeout
    while is_local_up(state.pid):
        if time.monotonic() > deadline:
            print(f"herald local down: process {state.pid} did not stop in {timeout:.0f}s")
            return 1
        time.sleep(0.1)
    print(f"Stopped the local stack at {state.server} (process {state.pid}).")
    return 0
