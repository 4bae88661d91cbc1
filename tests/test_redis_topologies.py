# mypy: disable-error-code="no-untyped-call"
# (redis-py leaves redis.cluster and redis.sentinel unannotated)
"""The topologies of herald.local.redis_topologies are real: a Redis Cluster spreads hash slots over
three masters and refuses a script across two hash tags; Sentinel replicates to the replica
and, once the master is killed, promotes it and hands clients the new master."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as ClusterClient
from redis.sentinel import Sentinel

from herald.local.redis_topologies import (
    MASTER_NAME,
    RedisCluster,
)

TWO_KEYS = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('SET', KEYS[2], ARGV[1])"


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def cluster_client(redis_cluster: RedisCluster) -> Iterator[ClusterClient]:
    client = ClusterClient(startup_nodes=[ClusterNode(host, port)
                                          for host, port in redis_cluster.nodes],
                           decode_responses=True, socket_timeout=2.0)
    try:
        yield client
    finally:
        client.close()


def campaign_keys_on_each_master(client: ClusterClient, masters: int) -> dict[str, str]:
    """One campaign key per master: {node "host:port": key}."""
    found: dict[str, str] = {}
    for index in range(1000):
        key = f"herald:{{default/campaign-{index}}}:queue"
        found.setdefault(client.get_node_from_key(key).name, key)
        if len(found) == masters:
            return found
    raise AssertionError("no keys found on every master")


def test_cluster_url_names_every_node(redis_cluster):
    addresses = ",".join(f"127.0.0.1:{port}" for _, port in redis_cluster.nodes)
    assert redis_cluster.url == f"redis+cluster://{addresses}"
    assert len(redis_cluster.nodes) == 3


def test_cluster_spreads_hash_slots_over_three_masters(redis_cluster, cluster_client):
    nodes = cluster_client.cluster_nodes()  # CLUSTER NODES, parsed: {"host:port": {...}}
    masters = {address for address, node in nodes.items()
               if "master" in node["flags"].split(",") and node["slots"]}
    assert masters == {f"{host}:{port}" for host, port in redis_cluster.nodes}

    keys = campaign_keys_on_each_master(cluster_client, 3)
    for key in keys.values():
        cluster_client.set(key, "queued")

    slots = {key: int(cluster_client.cluster_keyslot(key)) for key in keys.values()}
    assert len(set(slots.values())) == 3
    for host, port in redis_cluster.nodes:
        with redis.Redis(host, port, decode_responses=True) as node:
            here = {key for key, slot in slots.items()
                    if node.execute_command("CLUSTER COUNTKEYSINSLOT", slot) == 1}
            assert here == {keys[f"{host}:{port}"]}, "each master holds its own key only"
            assert int(node.execute_command("CLUSTER KEYSLOT", keys[f"{host}:{port}"])) \
                == slots[keys[f"{host}:{port}"]]
    assert {cluster_client.get(key) for key in keys.values()} == {"queued"}


def test_cluster_refuses_a_script_across_two_hash_tags(redis_cluster, cluster_client):
    one = "herald:{default/spring}:queue"
    same_tag = "herald:{default/spring}:status"
    other = next(f"herald:{{default/autumn-{i}}}:queue" for i in range(1000)
                 if cluster_client.keyslot(f"herald:{{default/autumn-{i}}}:queue")
                 != cluster_client.keyslot(one))

    assert cluster_client.eval(TWO_KEYS, 2, one, same_tag, "x") == "OK"

    owner = cluster_client.get_node_from_key(one)
    with redis.Redis(owner.host, owner.port, decode_responses=True) as node:  # the server's word
        with pytest.raises(redis.ResponseError, match=r"CROSSSLOT|don't hash to the same slot"):
            node.eval(TWO_KEYS, 2, one, other, "x")
        assert node.get(one) == "x", "the same-tag script ran; the cross-tag one wrote nothing"


def test_sentinel_replicates_to_the_replica(redis_sentinel):
    addresses = ",".join(f"127.0.0.1:{port}" for _, port in redis_sentinel.sentinel_addresses)
    assert redis_sentinel.url == f"redis+sentinel://{addresses}/herald/0"

    sentinel = Sentinel(redis_sentinel.sentinel_addresses, socket_timeout=1.0)
    assert sentinel.discover_master(MASTER_NAME) == redis_sentinel.master.address
    assert sentinel.discover_slaves(MASTER_NAME) == [redis_sentinel.replica.address]

    master = sentinel.master_for(MASTER_NAME, socket_timeout=1.0, decode_responses=True)
    replica = sentinel.slave_for(MASTER_NAME, socket_timeout=1.0, decode_responses=True)
    master.set("herald:{default/spring}:sent", "1")
    eventually(lambda: replica.get("herald:{default/spring}:sent") == "1")
    with pytest.raises(redis.ReadOnlyError):
        replica.set("herald:{default/spring}:sent", "2")
    master.close()
    replica.close()


def test_sentinel_promotes_the_replica_when_the_master_dies(redis_sentinel):
    former_replica = redis_sentinel.replica.address
    sentinel = Sentinel(redis_sentinel.sentinel_addresses, socket_timeout=1.0)
    before = sentinel.master_for(MASTER_NAME, socket_timeout=1.0, decode_responses=True)
    before.set("herald:{default/spring}:sent", "1")
    assert before.wait(1, 2000) == 1, "the replica acknowledged the write"
    before.close()

    killed = redis_sentinel.kill_master()
    started = time.monotonic()
    promoted = redis_sentinel.wait_for_failover(timeout=20.0)
    print(f"failover took {time.monotonic() - started:.1f}s")

    assert promoted == former_replica != killed
    assert redis_sentinel.master.address == promoted
    fresh = Sentinel(redis_sentinel.sentinel_addresses, socket_timeout=1.0)
    assert fresh.discover_master(MASTER_NAME) == promoted
    after = fresh.master_for(MASTER_NAME, socket_timeout=1.0, decode_responses=True)
    assert after.get("herald:{default/spring}:sent") == "1", "the replicated write survived"
    after.set("herald:{default/spring}:sent", "2")
    assert after.get("herald:{default/spring}:sent") == "2"
    assert after.info("replication")["role"] == "master"
    after.close()
