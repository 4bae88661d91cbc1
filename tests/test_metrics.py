"""Metrics: a running `herald send` process scraped over HTTP has every sender metric,
the operator's gauges follow the status it writes, and every metric the chart's alerts
and dashboard use is one Herald exports."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from controllers.metrics import export_campaign, export_channel, forget_campaign
from crds.campaign import CampaignStatus
from crds.channel import ChannelStatus
from herald.local.kube.client import wait_for
from herald.local.redis import RedisServer
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.store.keys import CampaignKeys
from sender.store.run_store import write_run
from tests.run_configs import fill_shard, run_config, start_send

CAMPAIGN = CampaignKeys("shop", "metrics")
SENDER_METRICS = {
    "herald_messages_submitted", "herald_submit_latency_seconds", "herald_submit_errors",
    "herald_message_outcomes", "herald_rate_limit_tokens", "herald_binds_up",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(port=0, latency_ms=2, receipt_delay_ms=5, window=0,
                                         seed=5)) as sim:
        yield sim


def scrape(port: int) -> dict[str, set[str]]:
    """Metric family names (without _total) -> the sample names seen, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {family.name: {sample.name for sample in family.samples}
            for family in text_string_to_metric_families(text) if family.samples}


async def test_a_running_sender_serves_its_metrics(
    tmp_path: Path, redis: aioredis.Redis, redis_server: RedisServer, simulator: Simulator
) -> None:
    await fill_shard(redis, CAMPAIGN, 3000, "+86137")
    simulator.throttle_next(5)  # some submit_sm_resp errors
    # About 3 s of sending at 1,000/s: time to scrape it mid-run.
    await write_run(redis, run_config(CAMPAIGN.namespace, CAMPAIGN.name, port=simulator.port,
                                      window=50, rate=1000, body="Code {code}."))
    port = free_port()
    process = start_send(redis_server.url, CAMPAIGN, HERALD_METRICS_PORT=str(port))
    try:
        def sampled() -> dict[str, set[str]]:
            try:
                return scrape(port)
            except OSError:
                return {}

        families = await wait_for(
            lambda: asyncio.to_thread(sampled), timeout=30, interval=0.2,
            until=lambda f: f.keys() >= SENDER_METRICS,
            message="the sender's /metrics never showed every sender metric")
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 30)
    assert "herald_messages_submitted_total" in families["herald_messages_submitted"]
    assert "herald_submit_latency_seconds_bucket" in families["herald_submit_latency_seconds"]
    assert process.returncode in (0, 143)


def sample(name: str, **labels: str) -> float | None:
    value: float | None = REGISTRY.get_sample_value(name, labels)
    return value


def test_operator_gauges_follow_status_and_go_with_the_object() -> None:
    status = CampaignStatus.model_validate({
        "counters": {"total": 10, "queued": 4, "delivered": 6},
        "conditions": [{"type": "Stalled", "status": "True", "reason": "NoProgress",
                        "message": "no progress", "lastTransitionTime": "2026-11-23T00:00:00Z"}],
    })
    export_campaign("shop/gauge", status)
    assert sample("herald_campaign_messages", campaign="shop/gauge", state="queued") == 4
    assert sample("herald_campaign_condition", campaign="shop/gauge", condition="Stalled") == 1
    forget_campaign("shop/gauge")
    assert sample("herald_campaign_messages", campaign="shop/gauge", state="queued") is None

    export_channel("shop/carrier-z", ChannelStatus.model_validate({
        "binds": {"bound": 3},
        "conditions": [{"type": "Ready", "status": "False", "reason": "BindRefused",
                        "message": "refused", "lastTransitionTime": "2026-11-23T00:00:00Z"}]}))
    assert sample("herald_channel_ready", channel="shop/carrier-z") == 0
    assert sample("herald_channel_binds", channel="shop/carrier-z") == 3


@pytest.mark.parametrize("state, labels", [
    pytest.param("D", ("delivered", ""), id="delivered"),
    pytest.param("F:0x00000045", ("failed", "0x00000045"), id="command-status"),
    pytest.param("F:render", ("failed", "render"), id="render"),
    pytest.param("F:no such number; call us", ("failed", "other"), id="carrier-text"),
    pytest.param("F:" + "9" * 40, ("failed", "other"), id="too-long"),
    pytest.param("s:1a2b", None, id="submitted-is-no-outcome"),
    pytest.param("Q", None, id="queued"),
])
def test_outcome_labels_stay_bounded(state: str, labels: tuple[str, str] | None) -> None:
    from sender.metrics import outcome_labels

    assert outcome_labels(state) == labels


def test_a_bad_metrics_port_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from sender.metrics import serve_metrics

    monkeypatch.setenv("HERALD_METRICS_PORT", "nine-thousand")
    with pytest.raises(SystemExit, match="HERALD_METRICS_PORT must be a port number"):
        serve_metrics()
    monkeypatch.setenv("HERALD_METRICS_PORT", "0")
    assert serve_metrics() == 0  # off: nothing listens


@pytest.mark.parametrize("amounts", [
    pytest.param([], id="none"),
    pytest.param([0.001, 0.005, 0.0051, 0.3, 7.0, 31.0, 0.005], id="edges-and-beyond"),
    pytest.param([0.002] * 1000 + [2.5], id="many"),
])
def test_a_batch_histogram_exports_what_a_histogram_would(amounts: list[float]) -> None:
    """Observed in two batches, the series and values of prometheus_client's Histogram
    fed one at a time (_created aside: each its own time)."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from sender.metrics import BatchHistogram

    buckets = (0.005, 0.01, 0.5, 1.0, 30.0)
    batched_registry, plain_registry = CollectorRegistry(), CollectorRegistry()
    batched = BatchHistogram("h_seconds", "h.", ["channel"], buckets, batched_registry)
    plain = Histogram("h_seconds", "h.", ["channel"], buckets=buckets, registry=plain_registry)
    batch, child = batched.labels("shop/a"), plain.labels("shop/a")
    half = len(amounts) // 2
    batch.observe_all(amounts[:half])
    batch.observe_all(amounts[half:])
    for amount in amounts:
        child.observe(amount)

    def series(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        return {(s.name, s.labels.get("le", "")): s.value
                for f in text_string_to_metric_families(generate_latest(registry).decode())
                for s in f.samples if not s.name.endswith("_created")}

    ours, theirs = series(batched_registry), series(plain_registry)
    assert ours.keys() == theirs.keys() and len(ours) == len(buckets) + 3
    assert ours == pytest.approx(theirs)
    assert {s.name for f in batched.collect() for s in f.samples} >= {"h_seconds_created"}
