"""sender.store.client: every HERALD_REDIS_URL form, read and then used for real.

The parsing is a table; then the same Herald store calls (a state transition through
transitions.lua, a rate-limit grant through gcra.lua, a stream read through the
senders' group) run on one redis-server, on a three-master Redis Cluster and through
Sentinel, with one client each from `connect`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.cluster import RedisCluster as ClusterClient
from redis.asyncio.connection import Connection
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError

from herald.local.redis import RedisServer
from herald.local.redis_topologies import (
    RedisCluster,
    RedisSentinel,
)
from sender.sms.states import State, Transition, message_key, submitted
from sender.store.client import (
    PackedConnection,
    PackedSentinelConnection,
    PackedSSLConnection,
    Redis,
    RedisUrlError,
    connect,
    connect_from_env,
    kernel_timeouts,
    parse_url,
)
from sender.store.keys import SENDERS_GROUP, CampaignKeys
from sender.store.rate_limit import RateLimiter, campaign_bucket, channel_bucket
from sender.store.shard_stream import NEW, ShardStream
from sender.store.transitions import StateStore, read_counters


@pytest.mark.parametrize("url, password, hosts, describe, expected", [
    pytest.param("redis://127.0.0.1:6380/2", None, [("127.0.0.1", 6380)],
                 "redis://127.0.0.1:6380/2", {"db": 2, "password": None}, id="redis"),
    pytest.param("redis://:s3cret@redis.herald:6379/0", "other", [("redis.herald", 6379)],
                 "redis://redis.herald:6379/0", {"password": "s3cret"},
                 id="the-url-password-wins"),
    pytest.param("rediss://user:p%40ss@cache:6390", None, [("cache", 6390)],
                 "rediss://cache:6390/0", {"username": "user", "password": "p@ss"},
                 id="rediss-user-and-escaped-password"),
    pytest.param("redis://redis", "fromsecret", [("redis", 6379)], "redis://redis:6379/0",
                 {"password": "fromsecret"}, id="password-from-the-secret"),
    pytest.param("redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster", "pw",
                 [("s1", 26379), ("s2", 26379), ("s3", 26379)],
                 "redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0",
                 {"master": "mymaster", "db": 0, "password": "pw"}, id="sentinel"),
    pytest.param("redis+sentinel://:pw@[::1]:26379/herald/3", None, [("::1", 26379)],
                 "redis+sentinel://::1:26379/herald/3", {"master": "herald", "db": 3,
                                                         "password": "pw"},
                 id="sentinel-ipv6-db-password"),
    pytest.param("redis+sentinel://s1:26379/m", "pw", [("s1", 26379)],
                 "redis+sentinel://s1:26379/m/0", {"sentinel_password": "pw"},
                 id="sentinels-get-the-password"),
    pytest.param("redis+sentinel://:pw@s1:26379/m?sentinel_password=", None, [("s1", 26379)],
                 "redis+sentinel://s1:26379/m/0", {"password": "pw", "sentinel_password": None},
                 id="sentinels-without-a-password"),
    pytest.param("redis+sentinel://s1:26379/m?sentinel_password=other", "pw", [("s1", 26379)],
                 "redis+sentinel://s1:26379/m/0", {"sentinel_password": "other"},
                 id="sentinels-with-their-own-password"),
    pytest.param("redis+cluster://n1:7000,n2:7001", None, [("n1", 7000), ("n2", 7001)],
                 "redis+cluster://n1:7000,n2:7001", {"db": 0}, id="cluster"),
])
def test_url_forms(url, password, hosts, describe, expected) -> None:
    target = parse_url(url, password)
    assert list(target.hosts) == hosts
    assert target.describe() == describe
    for name, value in expected.items():
        assert getattr(target, name) == value, name


@pytest.mark.parametrize("url, words", [
    pytest.param("http://redis:6379", "scheme 'http'", id="scheme"),
    pytest.param("redis+sentinel://:hunter2@s1:26379", "ends in /MASTER", id="no-master"),
    pytest.param("redis+sentinel://:hunter2@s1:26379/m/0/x", "ends in /MASTER", id="long-path"),
    pytest.param("redis+sentinel://:hunter2@s1/m", "is not HOST:PORT", id="no-port"),
    pytest.param("redis+cluster://:hunter2@", "names no HOST:PORT", id="no-hosts"),
    pytest.param("redis+cluster://:hunter2@n1:7000/1", "takes no path", id="cluster-db"),
    pytest.param("redis+sentinel://:hunter2@s1:26379/m/x", "is not a number", id="bad-db"),
])
def test_bad_urls_say_why_without_the_password(url, words) -> None:
    with pytest.raises(RedisUrlError) as error:
        parse_url(url)
    assert words in str(error.value)
    assert "hunter2" not in str(error.value)


def test_a_target_shows_no_password() -> None:
    target = parse_url("redis+sentinel://:hunter2@s1:26379/m?sentinel_password=hunter3")
    assert "hunter" not in repr(target) and "hunter" not in target.describe()


def test_a_bad_url_in_a_pod_is_one_clear_line() -> None:
    with pytest.raises(SystemExit) as stop:
        connect_from_env({"HERALD_REDIS_URL": "redis+sentinel://:hunter2@s1:26379"})
    assert str(stop.value).startswith("HERALD_REDIS_URL: ") and "MASTER" in str(stop.value)
    assert "hunter2" not in str(stop.value)


async def test_clients_decode_replies(redis_server: RedisServer) -> None:
    client = connect_from_env({"HERALD_REDIS_URL": redis_server.url})
    try:
        await client.hset("herald:{t}:h", "k", "值")
        assert await client.hgetall("herald:{t}:h") == {"k": "值"}
    finally:
        await client.delete("herald:{t}:h")
        await client.aclose()


# -- commands packed in C ------------------------------------------------------------------

ARGUMENT = st.one_of(st.text(), st.binary(), st.integers(), st.floats(allow_nan=False),
                     st.binary().map(bytearray), st.binary().map(lambda b: memoryview(b)))


@given(st.sampled_from(["EVAL", "CONFIG GET", b"XADD", b"CLIENT SETNAME"]),
       st.lists(ARGUMENT, max_size=20))
def test_hiredis_packs_every_command_as_redis_py_does(name: str | bytes,
                                                      args: list[str | bytes | int | float
                                                                 | bytearray | memoryview]
                                                      ) -> None:
    packed = b"".join(PackedConnection().pack_command(name, *args))
    assert packed == b"".join(Connection().pack_command(name, *args))


def test_packing_refuses_what_redis_py_refuses() -> None:
    with pytest.raises(DataError):
        PackedConnection().pack_command("SET", "k", None)


@pytest.mark.parametrize("url, connection", [
    ("redis://127.0.0.1:6380/0", PackedConnection),
    ("rediss://127.0.0.1:6380/0", PackedSSLConnection),
    ("redis+sentinel://127.0.0.1:26379/m", PackedSentinelConnection),
])
async def test_clients_pack_in_c(url: str, connection: type) -> None:
    client = connect(url)
    try:
        assert client.connection_pool.connection_class is connection
    finally:
        await client.aclose()


# -- the store's calls on each topology ----------------------------------------------------

CAMPAIGN = CampaignKeys("shop", "spring")
OTHER = CampaignKeys("shop", "autumn")  # another hash tag: likely another cluster node


async def exercise_the_store(client: Redis) -> None:
    """One of each thing Herald asks of Redis, for two campaigns and a channel."""
    for keys in (CAMPAIGN, OTHER):
        await client.xgroup_create(keys.shard(0), SENDERS_GROUP, id="0", mkstream=True)
        entry = await client.xadd(keys.shard(0), {"n": "+8613800138000", "v": ""})
        stream = ShardStream(client, keys, 0, "shard-0")
        assert [e[0] for e in await stream.read(NEW)] == [entry]
        assert await stream.opted_out(["+8613800138000"]) == [False]
        store = StateStore(client, keys)
        key = message_key(0, str(entry))
        assert await store.apply([Transition(key, State.SUBMITTING),
                                  Transition(key, submitted("5f3a")),
                                  Transition(key, State.DELIVERED)], ack_shard=0) == 3
        assert (await read_counters(client, keys)).delivered == 1
        assert await client.xpending(keys.shard(0), SENDERS_GROUP) == {
            "pending": 0, "min": None, "max": None, "consumers": []}
    limiter = RateLimiter(client, channel_bucket("shop", "carrier-a", 1000),
                          campaign=campaign_bucket("shop", "spring", 500))
    assert await asyncio.wait_for(limiter.acquire(3), 5) >= 1


async def test_a_senders_client_leaves_timeouts_to_the_kernel(
        redis_server: RedisServer) -> None:
    """No timer per call; the connection's socket carries the partition guard."""
    client = connect(redis_server.url, **kernel_timeouts())
    try:
        await exercise_the_store(client)
        connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            assert connection.socket_timeout is None
            sock = connection._writer.get_extra_info("socket")
            if hasattr(socket, "TCP_USER_TIMEOUT"):
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        finally:
            await client.connection_pool.release(connection)
    finally:
        await client.flushall()
        await client.aclose()


@pytest.fixture(params=[{}, kernel_timeouts()], ids=["call-timeouts", "kernel-timeouts"])
async def cluster_client(redis_cluster: RedisCluster, request: pytest.FixtureRequest
                         ) -> AsyncIterator[Redis]:
    client = connect(redis_cluster.url, **request.param)
    try:
        yield client
    finally:
        await client.flushall(target_nodes=ClusterClient.PRIMARIES)
        await client.aclose()


async def test_the_store_runs_on_a_redis_cluster(cluster_client: Redis,
                                                 redis_cluster: RedisCluster) -> None:
    slots = {key_slot(k.tag.encode()) for k in (CAMPAIGN, OTHER)}
    assert len(slots) == 2  # two hash tags, two slots: no script may span them
    await exercise_the_store(cluster_client)


async def test_the_store_runs_through_sentinel_and_follows_a_failover(
        redis_sentinel: RedisSentinel) -> None:
    client = connect(redis_sentinel.url)
    try:
        await exercise_the_store(client)
        await client.execute_command("WAIT", 1, 5000)  # type: ignore[no-untyped-call]  # the replica has it all
        old = redis_sentinel.kill_master()
        new = redis_sentinel.wait_for_failover()
        assert new != old
        # The same client finds the new master on its next command (a retry on the
        # connection error is the caller's: the processes retry their Redis loops).
        for _ in range(50):
            try:
                counters = await read_counters(client, CAMPAIGN)
                break
            except (RedisConnectionError, OSError) as error:
                last: BaseException = error
        else:
            raise AssertionError(f"no answer after the failover: {last}")
        assert counters.delivered == 1
        await client.hset(CAMPAIGN.run, "after", "failover")
    finally:
        await client.aclose()
