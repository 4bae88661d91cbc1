"""
A real ``redis-server`` on a loopback port, for the tests, the demo and the benchmarks.

    async with running_redis() as server:
        client = connect(server.url)        # sender.store.client

    server = start_redis()          # from synchronous code, e.g. a benchmark driver
    try: ...
    finally: server.stop()

Configuration goes on the command line (no config file): loopback only, protected
mode, no RDB snapshots, AOF only when asked for. The server is ready when it answers
INFO (this very process, its data loaded); it is stopped with SIGTERM and waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 5  # a free port found by bind(0) may be taken before redis-server binds it


class RedisServerError(RuntimeError):
    """redis-server is missing, or did not start."""


@dataclass
class RedisServer:
    """One running redis-server process."""

    port: int
    dir: Path
    process: subprocess.Popen[bytes]
    _own_dir: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> Path:
        return self.dir / "redis.log"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self._own_dir = False


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RedisServerError(
            "redis-server is not on PATH: install Debian's redis-server "
            "(sudo apt-get install redis-server) or any Redis >= 6.2")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _command(binary: str, port: int, directory: Path, appendonly: bool) -> list[str]:
    return [binary, "--port", str(port), "--bind", HOST, "--save", "",
            "--appendonly", "yes" if appendonly else "no", "--dir", str(directory),
            "--daemonize", "no", "--protected-mode", "yes", "--logfile", "redis.log"]


def _spawn(binary: str, port: int, directory: Path,
           appendonly: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(_command(binary, port, directory, appendonly),
                            cwd=directory, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


PROBE = b"INFO server persistence\r\n"


def _answered(reply: bytes, pid: int) -> bool:
    """The INFO reply is from this process and it has finished loading its data."""
    fields = dict(line.split(":", 1) for line in reply.decode(errors="replace").splitlines()
                  if ":" in line)
    return fields.get("process_id") == str(pid) and fields.get("loading") == "0"


def _complete(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n")
    if not head.startswith(b"$"):
        return bool(head)  # an error reply, or not Redis
    return len(body) >= int(head[1:]) if head[1:].isdigit() else True


def probe(port: int, pid: int, timeout: float = 0.5) -> bool:
    """True when the redis-server with this pid answers on the port, data loaded."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(PROBE)
            reply = b""
            while not _complete(reply):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
            return _answered(reply, pid)
    except OSError:
        return False


def _failure(server: RedisServer) -> str:
    stderr = server.process.stderr.read().decode(errors="replace") if server.process.stderr else ""
    log = server.log.read_text(errors="replace") if server.log.exists() else ""
    tail = "\n".join((stderr + log).strip().splitlines()[-5:])
    return f"redis-server on port {server.port} exited with {server.process.returncode}: {tail}"


def _prepare(tmpdir: str | Path | None) -> tuple[Path, bool]:
    if tmpdir is None:
        return Path(tempfile.mkdtemp(prefix="herald-redis-")), True
    directory = Path(tmpdir)
    directory.mkdir(parents=True, exist_ok=True)
    return directory, False


def _launch(binary: str, directory: Path, own: bool, appendonly: bool,
            port: int | None) -> RedisServer:
    chosen = port or free_port()
    return RedisServer(chosen, directory, _spawn(binary, chosen, directory, appendonly), own)


def _give_up(server: RedisServer, last: bool) -> str:
    """Stop a server that did not come up; its directory goes only after the last attempt."""
    if server.process.poll() is not None:
        error = _failure(server)
    else:
        error = f"redis-server on port {server.port} did not answer in time"
    server._own_dir = server._own_dir and last
    server.stop()
    return error


def start_redis(tmpdir: str | Path | None = None, *, appendonly: bool = False,
                port: int | None = None, timeout: float = START_TIMEOUT) -> RedisServer:
    """Start redis-server and return once it answers. Call `.stop()` when done.

    `port=None` picks a free port; give one to restart a server where it was (same
    `tmpdir` too, to find its AOF).
    """
    binary = redis_server_binary()
    directory, own = _prepare(tmpdir)
    attempts = 1 if port is not None else PORT_ATTEMPTS
    error = ""
    for attempt in range(attempts):
        server = _launch(binary, directory, own, appendonly, port)
        deadline = time.monotonic() + timeout
        while server.process.poll() is None and time.monotonic() < deadline:
            if probe(server.port, server.pid):
                return server
            time.sleep(0.01)
        error = _give_up(server, last=attempt == attempts - 1)
    raise RedisServerError(error)


@contextlib.contextmanager
def redis_server(tmpdir: str | Path | None = None, *, appendonly: bool = False,
                 port: int | None = None) -> Iterator[RedisServer]:
    """`start_redis` as a context manager for synchronous code."""
    server = start_redis(tmpdir, appendonly=appendonly, port=port)
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def running_redis(tmpdir: str | Path | None = None, *, appendonly: bool = False,
                        port: int | None = None,
                        timeout: float = START_TIMEOUT) -> AsyncIterator[RedisServer]:
    """A redis-server for the duration of the block; the loop is never blocked on it
    (starting and stopping run in a worker thread)."""
    server = await asyncio.to_thread(
        start_redis, tmpdir, appendonly=appendonly, port=port, timeout=timeout
    )
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
