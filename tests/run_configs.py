"""A RunConfig for one campaign whose shards a test fills itself: what the operator would
write to Redis before it starts any sender (sender.run_config)."""

from __future__ import annotations

from typing import Any

from sender.run_config import RunConfig


def run_config(namespace: str, name: str, *, port: int, window: int = 100,
               rate: int = 100_000, body: str = "Your code is {code}.",
               **fields: Any) -> RunConfig:
    """One shard, one channel `carrier-a` on the simulator at `port` (account herald)."""
    return RunConfig.model_validate({
        "campaign": {"namespace": namespace, "name": name}, "uid": f"uid-{name}",
        "generation": 1, "frozen_hash": "test", "shards": 1,
        "templates": {"": {"category": "Notification", "body": body,
                           "variables": [{"name": "code"}]}},
        "channel": {"name": "carrier-a", "rate": rate, "smpp": {
            "host": "127.0.0.1", "port": port, "system_id": "herald", "window": window,
            "response_timeout_seconds": 5, "source_addr": {"address": "Herald"}}},
        "audience": {"source": {"inline": []}},
    } | fields)
