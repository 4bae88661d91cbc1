"""One campaign's shard as the operator and the importer leave it in Redis, for tests that
run `herald send` on it: the RunConfig (sender.run_config) and the shard's entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from sender.run_config import RunConfig
from sender.store.client import Redis
from sender.store.keys import SENDERS_GROUP, CampaignKeys


def run_config(namespace: str, name: str, *, port: int, window: int = 100,
               rate: int = 100_000, body: str = "Your code is {code}.",
               **fields: Any) -> RunConfig:
    """One shard, one channel `carrier-a` on the simulator at `port` (account herald)."""
    return RunConfig.model_validate({
        "campaign": {"namespace": namespace, "name": name}, "uid": f"uid-{name}",
        "generation": 1, "frozen_hash": "test", "shards": 1,
        "templates": {"": {"category": "Notification", "body": body,
                           "variables": [{"name": "code"}]}},
        "channels": [{"name": "carrier-a", "rate": rate, "smpp": {
            "host": "127.0.0.1", "port": port, "system_id": "herald", "window": window,
            "response_timeout_seconds": 5, "source_addr": {"address": "Herald"}}}],
        "audience": {"source": {"inline": []}},
    } | fields)


async def fill_shard(redis: Redis, campaign: CampaignKeys, count: int, prefix: str) -> None:
    """Shard 0 of `campaign` as the importer leaves it: `count` numbers `prefix`NNNNNNNN,
    each with a `code` variable, and the senders' group."""
    stream = campaign.shard(0)
    await redis.xgroup_create(stream, SENDERS_GROUP, id="0", mkstream=True)
    pipe = redis.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(stream, {"n": f"{prefix}{i:08d}", "v": "", "x": json.dumps({"code": f"{i}"})})
    pipe.hset(campaign.counters, "total", count)
    await pipe.execute()


def start_send(redis_url: str, campaign: CampaignKeys, **env: str) -> subprocess.Popen[str]:
    """`herald send` for shard 0, as a sender Job's pod runs it (the run is in Redis)."""
    return subprocess.Popen(
        [sys.executable, "-m", "herald", "send", "--campaign", campaign.ref, "--shard", "0"],
        env=os.environ | {"HERALD_SMPP_PASSWORD": "herald", "HERALD_REDIS_URL": redis_url} | env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
