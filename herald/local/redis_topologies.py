"""
Real multi-process Redis topologies on loopback, for the Cluster and Sentinel tests and for
`herald demo --redis`.

    cluster = start_redis_cluster()     # 3 masters, all 16384 slots assigned, cluster_state:ok
    sentinel = start_redis_sentinel()   # master + replica, 3 sentinels watching master "herald"
    try: ...                            # cluster.url, sentinel.url: the URLs a user configures
    finally: cluster.stop(); sentinel.stop()

Every process is a `redis-server` from PATH bound to 127.0.0.1 in its own temporary
directory, with no RDB snapshots or AOF; ports come from bind(0) and a start that loses its
port to another process is retried on a new one. Readiness is polled with a deadline: a
node is up when this very process answers INFO, a topology when every node agrees on it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

import redis

from herald.local.redis import free_port as any_free_port

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
"""Seconds for one process to answer, and for a topology to settle."""
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 5  # a port found free by bind(0) may be taken before redis-server binds it
MAX_PORT = 55535  # a cluster node's bus listens on port + 10000
POLL = 0.02

CLUSTER_SLOTS = 16384
CLUSTER_NODE_TIMEOUT_MS = 3000  # small, yet a node stalled on a busy 2-core machine is not failed

MASTER_NAME = "herald"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000  # a failed leader election is retried after twice this
SENTINELS = 3


class RedisTopologyError(RuntimeError):
    """A binary is missing, a process did not start, or a topology did not settle in time."""


class Address(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


# -- processes ----------------------------------------------------------------------------

def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RedisTopologyError(
            f"{name} is not on PATH: run `bash tools/ensure-redis.sh` (Debian's redis-server "
            "and redis-tools) or install any Redis >= 7")
    return path


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port(bus: bool = False) -> int:
    """A loopback port free now; with `bus`, below 55535 and port + 10000 free too."""
    while True:
        port = any_free_port()
        if not bus or (port < MAX_PORT and _bindable(port + 10000)):
            return port


@dataclass
class RedisProcess:
    """One redis-server (data node or sentinel) started by this module."""

    address: Address
    dir: Path
    process: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return self.address.port

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def client(self, timeout: float = 1.0) -> redis.Redis:
        return redis.Redis(HOST, self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout, decode_responses=True)

    def kill(self) -> None:
        """SIGKILL, as a crash would; reaped at once."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def failure(self) -> str:
        text = ""
        for name in ("stderr.log", "redis.log"):
            log = self.dir / name
            if log.exists():
                text += log.read_text(errors="replace")
        tail = "\n".join(text.strip().splitlines()[-5:])
        code = self.process.poll()
        state = "is running" if code is None else f"exited with {code}"
        return f"redis-server on port {self.port} {state}: {tail}"


def _answers(port: int, pid: int) -> bool:
    """This very process answers INFO on the port (not another one that won the port)."""
    try:
        with redis.Redis(HOST, port, socket_timeout=0.5, socket_connect_timeout=0.5,
                         decode_responses=True) as client:
            return str(client.info("server").get("process_id")) == str(pid)
    except (redis.RedisError, OSError):
        return False


def _spawn(directory: Path, command: Sequence[str]) -> subprocess.Popen[bytes]:
    with open(directory / "stderr.log", "wb") as stderr:
        return subprocess.Popen(list(command), cwd=directory, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr)


def _launch(directory: Path, command: Callable[[int], Sequence[str]], *, bus: bool = False,
            timeout: float = START_TIMEOUT) -> RedisProcess:
    """Start `command(port)` on a free port, retried on a new port if it exits early."""
    directory.mkdir(parents=True, exist_ok=True)
    error = ""
    for _ in range(PORT_ATTEMPTS):
        port = free_port(bus)
        node = RedisProcess(Address(HOST, port), directory, _spawn(directory, command(port)))
        deadline = time.monotonic() + timeout
        while node.alive and time.monotonic() < deadline:
            if _answers(port, node.process.pid):
                return node
            time.sleep(POLL)
        error = node.failure()
        _stop([node], STOP_TIMEOUT)
    raise RedisTopologyError(error)


def _stop(nodes: Sequence[RedisProcess], timeout: float) -> None:
    """SIGTERM all, wait together; SIGKILL what is left at the deadline."""
    for node in nodes:
        if node.alive:
            node.process.terminate()
    deadline = time.monotonic() + timeout
    for node in nodes:
        try:
            node.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            node.kill()


def _data_node(port: int, *extra: str) -> list[str]:
    return [binary("redis-server"), "--port", str(port), "--bind", HOST,
            "--protected-mode", "yes", "--daemonize", "no", "--save", "",
            "--appendonly", "no", "--logfile", "redis.log", *extra]


def _settle(condition: Callable[[], bool], nodes: Sequence[RedisProcess], what: str,
            timeout: float) -> None:
    """Poll `condition` until true; fail at the deadline or as soon as a node has died."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        for node in nodes:
            if not node.alive:
                raise RedisTopologyError(f"while waiting for {what}: {node.failure()}")
        try:
            if condition():
                return
        except (redis.RedisError, OSError) as exc:
            last = f" (last error: {exc})"
        if time.monotonic() >= deadline:
            raise RedisTopologyError(f"{what} not reached in {timeout:g}s{last}")
        time.sleep(POLL * 5)


@dataclass
class _Topology:
    root: Path
    processes: list[RedisProcess] = field(default_factory=list)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every process, SIGKILL after `timeout`, remove the directories. Idempotent."""
        _stop(self.processes, timeout)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


# -- Redis Cluster -------------------------------------------------------------------------

@dataclass
class RedisCluster(_Topology):
    """Masters of a Redis Cluster with no replicas, every slot assigned."""

    @property
    def nodes(self) -> list[Address]:
        return [node.address for node in self.processes]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(str(address) for address in self.nodes)


def _cluster_ok(node: RedisProcess, masters: int) -> bool:
    with node.client() as client:
        info: dict[str, Any] = client.cluster("INFO")
    return (str(info.get("cluster_state")) == "ok"
            and int(info.get("cluster_slots_assigned", 0)) == CLUSTER_SLOTS
            and int(info.get("cluster_slots_ok", 0)) == CLUSTER_SLOTS
            and int(info.get("cluster_known_nodes", 0)) == masters)


def _cluster_command(directory: Path) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        # A start that lost its port may have written nodes.conf already: begin afresh.
        (directory / "nodes.conf").unlink(missing_ok=True)
        return _data_node(port, "--cluster-enabled", "yes", "--cluster-config-file",
                          "nodes.conf", "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS))
    return command


def start_redis_cluster(masters: int = 3, *, timeout: float = START_TIMEOUT) -> RedisCluster:
    """Start `masters` (at least 3) cluster nodes, create the cluster, and return once every
    node reports cluster_state:ok with all 16384 slots assigned. Call `.stop()` when done."""
    if masters < 3:
        raise ValueError("redis-cli --cluster create needs at least 3 masters")
    cli = binary("redis-cli")
    cluster = RedisCluster(Path(tempfile.mkdtemp(prefix="herald-redis-cluster-")))
    try:
        for index in range(masters):
            cluster.processes.append(_launch(
                cluster.root / f"node-{index}",
                _cluster_command(cluster.root / f"node-{index}"),
                bus=True, timeout=timeout))
        created = subprocess.run(
            [cli, "--cluster", "create", *map(str, cluster.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout * 3,
            check=False)
        if created.returncode != 0:
            raise RedisTopologyError(
                f"redis-cli --cluster create exited with {created.returncode}: "
                f"{(created.stdout + created.stderr).strip()[-2000:]}")
        _settle(lambda: all(_cluster_ok(node, masters) for node in cluster.processes),
                cluster.processes, "cluster_state:ok on every node", timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


# -- Redis Sentinel ------------------------------------------------------------------------

def _sentinel_conf(port: int, master: Address) -> str:
    return "\n".join([
        f"port {port}", f"bind {HOST}", "daemonize no", "logfile redis.log",
        f"sentinel monitor {MASTER_NAME} {master.host} {master.port} {QUORUM}",
        f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
        f"sentinel parallel-syncs {MASTER_NAME} 1", ""])


def _sentinel_command(directory: Path, master: Address) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        # Sentinel rewrites its config file with what it learns, so it must be writable.
        conf = directory / "sentinel.conf"
        conf.write_text(_sentinel_conf(port, master))
        return [binary("redis-server"), str(conf), "--sentinel"]
    return command


def _role(node: RedisProcess) -> dict[str, Any]:
    with node.client() as client:
        info: dict[str, Any] = client.info("replication")
    return info


def _sentinel_master(sentinel: RedisProcess) -> Address | None:
    with sentinel.client() as client:
        reply = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
    if not reply:
        return None
    host, port = reply
    return Address(str(host), int(port))


def _flags(entry: dict[str, Any]) -> set[str]:
    return set(str(entry.get("flags", "")).split(","))


def _sentinel_knows_all(sentinel: RedisProcess, master: Address) -> bool:
    with sentinel.client() as client:
        state: dict[str, Any] = client.execute_command("SENTINEL", "MASTER", MASTER_NAME)
        replicas: list[dict[str, Any]] = client.execute_command(
            "SENTINEL", "REPLICAS", MASTER_NAME)
    unwell = {"disconnected", "s_down", "o_down"}
    return (Address(str(state["ip"]), int(state["port"])) == master
            and _flags(state) == {"master"}
            and int(state["num-slaves"]) == 1
            and int(state["num-other-sentinels"]) == SENTINELS - 1
            and all(not _flags(replica) & unwell and replica["master-link-status"] == "ok"
                    for replica in replicas))


@dataclass
class RedisSentinel(_Topology):
    """A master, its replica and three sentinels monitoring it as `herald` (quorum 2)."""

    data: list[RedisProcess] = field(default_factory=list)
    sentinels: list[RedisProcess] = field(default_factory=list)
    master_index: int = 0
    killed: RedisProcess | None = None

    @property
    def master(self) -> RedisProcess:
        return self.data[self.master_index]

    @property
    def replica(self) -> RedisProcess:
        return self.data[1 - self.master_index]

    @property
    def sentinel_addresses(self) -> list[Address]:
        return [sentinel.address for sentinel in self.sentinels]

    @property
    def url(self) -> str:
        addresses = ",".join(str(address) for address in self.sentinel_addresses)
        return f"redis+sentinel://{addresses}/{MASTER_NAME}/0"

    def kill_master(self) -> Address:
        """SIGKILL the current master process; returns its address."""
        self.killed = self.master
        self.killed.kill()
        return self.killed.address

    def wait_for_failover(self, timeout: float = 20.0) -> Address:
        """Wait until every sentinel names the former replica as master and it reports
        role:master; returns its address."""
        if self.killed is None:
            raise RuntimeError("kill_master() first")
        promoted = self.replica
        live = [sentinel for sentinel in self.sentinels if sentinel.alive]
        _settle(lambda: (all(_sentinel_master(s) == promoted.address for s in live)
                         and _role(promoted).get("role") == "master"),
                [*live, promoted], f"failover to {promoted.address}", timeout)
        self.master_index = self.data.index(promoted)
        self.killed = None
        return promoted.address


def start_redis_sentinel(*, timeout: float = START_TIMEOUT) -> RedisSentinel:
    """Start a master, a replica in sync with it and three sentinels that know both and
    each other. Call `.stop()` when done."""
    topology = RedisSentinel(Path(tempfile.mkdtemp(prefix="herald-redis-sentinel-")))
    try:
        # Diskless full sync waits 5 s by default for more replicas; there is one.
        quick_sync = ("--repl-diskless-sync-delay", "0")
        master = _launch(topology.root / "master",
                         lambda port: _data_node(port, *quick_sync), timeout=timeout)
        topology.processes.append(master)
        replica = _launch(topology.root / "replica", lambda port: _data_node(
            port, *quick_sync, "--replicaof", HOST, str(master.port)), timeout=timeout)
        topology.processes.append(replica)
        topology.data = [master, replica]
        _settle(lambda: _role(replica).get("master_link_status") == "up",
                topology.processes, "replica in sync", timeout)
        for index in range(SENTINELS):
            directory = topology.root / f"sentinel-{index}"
            directory.mkdir()
            sentinel = _launch(directory, _sentinel_command(directory, master.address),
                               timeout=timeout)
            topology.processes.append(sentinel)
            topology.sentinels.append(sentinel)
        _settle(lambda: all(_sentinel_knows_all(s, master.address) for s in topology.sentinels),
                topology.processes, "sentinels that know the master, replica and each other",
                timeout)
    except BaseException:
        topology.stop()
        raise
    return topology
