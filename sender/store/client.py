"""The one way every Herald process reaches Redis: a URL (and a password) to a client.

    HERALD_REDIS_URL        where Redis is, in one of these forms:
        redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]          one server
        rediss://[[USER]:PASSWORD@]HOST[:PORT][/DB]         one server, over TLS
        redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB][?sentinel_password=P]
                                                            the master that these
                                                            Sentinels name, followed
                                                            through failovers
        redis+cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT...]
                                                            a Redis Cluster (or Valkey
                                                            cluster): any nodes of it
    HERALD_REDIS_PASSWORD   the password (from a Secret), for a URL that carries none.
                            With Sentinel it is also sent to the Sentinels, as the
                            common charts (Bitnami's) configure them, unless the URL's
                            ?sentinel_password= says otherwise (empty: none).

Every client decodes replies to `str`, so no caller converts bytes, and packs commands
in C (hiredis), as redis-py's own synchronous client does and its asyncio one does not:
packing in Python cost the importer 3.2 µs a row against 0.4 (one batch's EVAL of
5,000 arguments), and the sender's every command pays it too. The cluster client keeps
redis-py's packing: it takes no connection class. Herald's keys are
built so that the same code runs on all three (sender.store.keys: one hash tag per
campaign and per channel, no script or MULTI across two), and the Cluster client is
handed out as a `Redis`: it offers the commands Herald uses with the same signatures.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.exceptions import DataError

Redis = aioredis.Redis
"""What the store's functions take: a client from `connect` (any of the three kinds)."""

DEFAULT_URL = "redis://127.0.0.1:6379/0"
SENTINEL, CLUSTER = "redis+sentinel", "redis+cluster"
SCHEMES = ("redis", "rediss", SENTINEL, CLUSTER)


class RedisUrlError(ValueError):
    """HERALD_REDIS_URL is not one of the forms Herald reads. The message never shows the
    password."""


@dataclass(frozen=True)
class RedisTarget:
    """A parsed HERALD_REDIS_URL, the password apart."""

    scheme: str
    hosts: tuple[tuple[str, int], ...]
    """One for redis:// and rediss://; the Sentinels or the cluster's seed nodes."""
    db: int = 0
    master: str = ""
    """The Sentinel master's name."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)
    """What the Sentinels are asked with: the password unless the URL says otherwise."""
    url: str = field(default="", repr=False)
    """For redis:// and rediss://: the URL as given, for redis-py's own parser."""

    def describe(self) -> str:
        """Where it points, without the password: for logs and status."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.hosts)
        match self.scheme:
            case "redis+sentinel":
                return f"{self.scheme}://{hosts}/{self.master}/{self.db}"
            case "redis+cluster":
                return f"{self.scheme}://{hosts}"
            case _:
                return f"{self.scheme}://{hosts}/{self.db}"


def parse_url(url: str, password: str | None = None) -> RedisTarget:
    """Read one of the URL forms above; `password` serves when the URL has none (as in
    redis-py's own `from_url`, where the URL's wins)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise RedisUrlError(f"Redis URL scheme {parts.scheme or '(none)'!r} is not one of"
                            f" {', '.join(s + '://' for s in SCHEMES)}")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    user, _, url_password = userinfo.partition(":")
    chosen = unquote(url_password) if url_password else (password or None)
    if scheme in ("redis", "rediss"):
        # redis-py parses these itself (query options such as ssl_cert_reqs included).
        host = parts.hostname or "localhost"
        try:
            port = parts.port or 6379
        except ValueError as error:
            raise RedisUrlError(f"bad Redis port in {_without_password(url)}: {error}") from None
        return RedisTarget(scheme, ((host, port),), db=_db(parts.path.strip("/") or "0", url),
                           username=unquote(user) or None, password=chosen, url=url)
    hosts = tuple(_host_port(item, url) for item in hostlist.split(",") if item)
    if not hosts:
        raise RedisUrlError(f"{_without_password(url)} names no HOST:PORT")
    path = [p for p in parts.path.split("/") if p]
    if scheme == SENTINEL:
        if not 1 <= len(path) <= 2:
            raise RedisUrlError(f"{_without_password(url)}: a Sentinel URL ends in /MASTER or"
                                " /MASTER/DB")
        db = _db(path[1], url) if len(path) == 2 else 0
        query = parse_qs(parts.query, keep_blank_values=True)
        sentinel_password = query["sentinel_password"][-1] if "sentinel_password" in query \
            else chosen
        return RedisTarget(scheme, hosts, db=db, master=unquote(path[0]),
                           username=unquote(user) or None, password=chosen,
                           sentinel_password=sentinel_password or None)
    if path:
        raise RedisUrlError(f"{_without_password(url)}: a cluster has one database; the URL"
                            " takes no path")
    return RedisTarget(scheme, hosts, username=unquote(user) or None, password=chosen)


class _PackedInC:
    """A connection whose commands hiredis packs (redis-py's HiredisRespSerializer)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py: a command name given with its subcommand ("CONFIG GET") is split.
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            pass  # a bytearray or memoryview (packed as bytes, below), or what redis-py refuses
        try:
            return [hiredis.pack_command(tuple(  # type: ignore[arg-type]
                bytes(arg) if isinstance(arg, (bytearray, memoryview)) else arg
                for arg in args))]
        except TypeError as error:  # what redis-py's encoder raises for None and the like
            raise DataError(str(error)) from error


class PackedConnection(_PackedInC, Connection):
    """redis://"""


class PackedSSLConnection(_PackedInC, SSLConnection):
    """rediss://"""


class PackedSentinelConnection(_PackedInC, SentinelManagedConnection):
    """redis+sentinel:// (without TLS)"""


class _PackedPool(ConnectionPool):
    """A pool of packed connections: redis-py's URL parsing picks the class (SSL for
    rediss://, its query options win over arguments), this swaps it for its packed twin."""

    _PACKED: ClassVar[Mapping[type, type[Connection]]] = {
        Connection: PackedConnection, SSLConnection: PackedSSLConnection}

    def __init__(self, connection_class: type[Connection] = Connection, **kwargs: Any) -> None:
        super().__init__(connection_class=self._PACKED.get(connection_class, connection_class),
                         **kwargs)


CALL_TIMEOUT_SECONDS = 30.0
"""How long a call may go unanswered before the client gives up on the connection."""


def kernel_timeouts() -> dict[str, Any]:
    """Client options for a process whose every Redis call is on its hot path (a
    sender): the partition guard left to the kernel instead of a timer per call.

    A per-call socket_timeout costs redis-py an asyncio.wait_for (a task) for every write
    and an asyncio.timeout for every read, some 2 us of a sender's 55 us a message
    (bench/sender.py). The kernel gives the same guard for free: TCP_USER_TIMEOUT drops a
    connection whose data goes unacknowledged that long, and keepalive probes (redis-py's
    defaults, 30 s idle, then 3 probes 5 s apart) one that went silent while idle; the
    call then fails with a ConnectionError as it would have with a TimeoutError. What it
    does not catch is a server that acknowledges and never answers (a frozen process on
    a live host): such a call waits for the server.
    """
    keepalive: dict[int, int] = {}
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3),
                        ("TCP_USER_TIMEOUT", int(CALL_TIMEOUT_SECONDS * 1000))):
        option = getattr(socket, name, None)  # Linux's; elsewhere what the platform has
        if option is not None:
            keepalive[option] = value
    return {"socket_timeout": None, "socket_keepalive": True,
            "socket_keepalive_options": keepalive}


def connect(url: str, password: str | None = None, **options: Any) -> Redis:
    """A client for `url`, replies decoded. `options` go to redis-py (timeouts...)."""
    return connect_to(parse_url(url, password), **options)


def connect_to(target: RedisTarget, **options: Any) -> Redis:
    # Timeouts, so a partition (no reset, no answer) raises instead of hanging a pod; no
    # Herald command blocks on the server.
    options = {"decode_responses": True, "username": target.username,
               "password": target.password, "socket_timeout": CALL_TIMEOUT_SECONDS,
               "socket_connect_timeout": 10.0, **options}
    if target.scheme == SENTINEL:
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.hosts), sentinel_kwargs={"password": target.sentinel_password},
            **options)
        packed: dict[str, Any] = (
            {} if options.get("ssl") else {"connection_class": PackedSentinelConnection})
        return cast(Redis, sentinel.master_for(target.master, db=target.db, **packed))
    if target.scheme == CLUSTER:
        nodes = [ClusterNode(host, port) for host, port in target.hosts]
        # Same commands, same signatures, for all Herald uses (module docstring).
        return cast(Redis, RedisCluster(startup_nodes=nodes, **options))
    client: Redis = aioredis.Redis.from_pool(_PackedPool.from_url(target.url, **options))
    return client


def one_server(redis: Redis) -> bool:
    """Whether a pipeline on `redis` runs its commands on one server, in order: not on a
    cluster, whose nodes keep no order between them (the Cluster client is handed out as
    a `Redis`, see `connect_to`)."""
    return not isinstance(redis, RedisCluster)


def connect_from_env(env: Mapping[str, str] | None = None, **options: Any) -> Redis:
    """The client of a Herald process: HERALD_REDIS_URL and HERALD_REDIS_PASSWORD."""
    env = os.environ if env is None else env
    try:
        return connect(env.get("HERALD_REDIS_URL") or DEFAULT_URL,
                       env.get("HERALD_REDIS_PASSWORD") or None, **options)
    except RedisUrlError as error:  # a pod's configuration: one line, no traceback
        raise SystemExit(f"HERALD_REDIS_URL: {error}") from None


def _host_port(item: str, url: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RedisUrlError(f"{_without_password(url)}: {item!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _db(text: str, url: str) -> int:
    if not text.isdigit():
        raise RedisUrlError(f"{_without_password(url)}: database {text!r} is not a number")
    return int(text)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{hosts}" if ":" in userinfo else url
