"""A whole campaign through the operator on a real Redis Cluster, and behind Sentinel with
its master killed in the middle of the send.

The same stack as the operator's end-to-end tests (herald.local.stack: emulated API,
Jobs as local processes, the SMPP simulator), with every process (operator, importer,
two sender pods, the channel's receiver) on the one HERALD_REDIS_URL. The simulator's
record of accepted submits is the judge of duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from herald.local.demo import audience_csv
from herald.local.kube.client import wait_for
from herald.local.redis_topologies import (
    RedisCluster,
    RedisSentinel,
)
from herald.local.stack import Stack, running_stack
from tests.test_campaign_operator import (
    CAMPAIGN,
    NS,
    apply_examples,
    campaign_body,
    counters_add_up,
)

pytestmark = pytest.mark.timeout(240)
TIMEOUT = 90
WINDOW = 100  # examples/channel.yaml: spec.smpp.window


@contextlib.asynccontextmanager
async def stack_on(url: str, workdir: Path) -> AsyncIterator[Stack]:
    async with running_stack(redis_url=url, workdir=workdir) as running:
        await apply_examples(running)
        yield running


def sent_twice(stack: Stack) -> dict[str, int]:
    counts = Counter(m.destination for m in stack.simulator.accepted)
    return {number: n for number, n in counts.items() if n > 1}


async def receipts_in(stack: Stack, workdir: Path) -> dict[str, Any]:
    """The campaign once every message has its outcome (receipts may follow Completed)."""
    try:
        body: dict[str, Any] = await wait_for(
            lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
            until=lambda c: c.get("status", {}).get("counters", {}).get("submitted", 1) == 0,
            message="receipts never all applied")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{pod_logs(workdir)}") from None
    return body


def pod_logs(workdir: Path) -> str:
    """The last lines of every pod's log, to say why when a test fails."""
    return "\n".join(f"== {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:])
                     for log in sorted(workdir.glob("*.log")))


async def test_a_campaign_runs_on_a_redis_cluster(redis_cluster: RedisCluster,
                                                  tmp_path: Path) -> None:
    async with stack_on(redis_cluster.url, tmp_path) as stack:
        await stack.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "audience"},
                                 "data": {"recipients.csv": audience_csv(400)}})
        await stack.kube.create(campaign_body(audience={"defaultRegion": "CN",
                                                        "configMapRef": {"name": "audience"}}))
        done = await stack.wait_for_phase(NS, CAMPAIGN, ("Completed", "Failed"),
                                          timeout=TIMEOUT)
        assert done["status"]["phase"] == "Completed", done["status"]
        status = (await receipts_in(stack, tmp_path))["status"]
        counters_add_up(status)
        c = status["counters"]
        assert c["delivered"] > 0 and c["invalid"] > 0 and c["unknown"] == 0
        assert not sent_twice(stack)
        assert len(stack.simulator.accepted) == c["delivered"] + c["failed"] + c["expired"]
        jobs = await stack.kube.list("batch/v1", "Job", NS)
        sender = next(j for j in jobs if j["metadata"]["name"] == f"{CAMPAIGN}-send")
        assert sender["spec"]["completions"] == 2  # two sender pods, one shard each
    # The keys of the campaign and of the channel each sit in one slot of their own.
    node = redis_cluster.processes[0].client()
    try:
        tags = {f"{{campaign:{NS}/{CAMPAIGN}}}", f"{{channel:{NS}/carrier-a}}"}
        assert len({node.cluster("KEYSLOT", tag) for tag in tags}) == 2
    finally:
        node.close()


async def test_a_campaign_survives_a_sentinel_failover_mid_send(
        redis_sentinel: RedisSentinel, tmp_path: Path) -> None:
    async with stack_on(redis_sentinel.url, tmp_path) as stack:
        # 1,500 rows at 200/s: the master dies about two seconds into the send.
        await stack.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "audience"},
                                 "data": {"recipients.csv": audience_csv(1500)}})
        await stack.kube.create(campaign_body(
            rateLimit={"messagesPerSecond": 200},
            audience={"defaultRegion": "CN", "configMapRef": {"name": "audience"}}))
        await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                       until=lambda c: len(stack.simulator.accepted) >= 300,
                       message="the send never got going")
        killed = redis_sentinel.kill_master()
        promoted = await asyncio.to_thread(redis_sentinel.wait_for_failover)
        assert promoted != killed
        done = await stack.wait_for_phase(NS, CAMPAIGN, ("Completed", "Failed"),
                                          timeout=TIMEOUT)
        assert done["status"]["phase"] == "Completed", done["status"]
        status = (await stack.campaign(NS, CAMPAIGN))["status"]
        counters_add_up(status)
        assert not sent_twice(stack), "a failover resent messages"
        c = status["counters"]
        # Nothing lost: every number reached the SMSC once, or is counted unknown (its
        # submit was on the wire when its sender lost Redis).
        sendable = c["total"] - c["invalid"] - c["suppressed"] - c["optedOut"]
        assert len(stack.simulator.accepted) + c["unknown"] >= sendable, pod_logs(tmp_path)
        # Receipts a sender had answered but not yet written when Redis went away are
        # gone with its process (SMPP has no acknowledgement after deliver_sm_resp):
        # their messages stay `submitted`. At most the senders' windows' worth.
        print("after the failover:", len(stack.simulator.accepted), "accepted,",
              {k: c[k] for k in ("delivered", "submitted", "unknown")})  # pytest -s shows it
        assert c["submitted"] <= 2 * WINDOW, c
