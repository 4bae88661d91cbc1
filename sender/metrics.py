"""The engine's Prometheus metrics, named by Prometheus conventions.

Senders, the channel receiver and the operator each serve metrics on /metrics (port
HERALD_METRICS_PORT, 9090 by default; 0 turns it off); each process fills the ones
that are its own. Labels: `campaign` and `channel` are `namespace/name`, so they do not
collide with the `namespace` label Prometheus adds for the scraped pod.

Sender and receiver pods (PodMonitor):
    herald_messages_submitted_total{campaign,channel}      submits the SMSC accepted
    herald_submit_latency_seconds{channel}                 submit_sm to its response
    herald_submit_errors_total{channel,status}             submit_sm_resp errors by name
    herald_message_outcomes_total{campaign,channel,outcome,error}
                                                           delivered, failed (with the
                                                           error code), expired, unknown,
                                                           optedOut, capped; campaign ""
                                                           for what a receiver applies
    herald_rate_limit_tokens_total{channel,result}         granted, denied, expired
    herald_binds_up{channel,role}                          this process's binds up
The operator's own metrics (campaign and channel gauges read off status, status
writes) are in controllers.metrics; the operator serves both with serve_metrics.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from sender.sms.states import Transition

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9090


class HistogramBatch:
    """One label set's buckets of a BatchHistogram."""

    def __init__(self, bounds: tuple[float, ...], lock: threading.Lock) -> None:
        self._bounds = bounds
        self._lock = lock
        self.counts = [0] * len(bounds)  # per bucket, not cumulative: +Inf's last
        self.sum = 0.0
        self.created = time.time()

    def observe_all(self, amounts: Iterable[float]) -> None:
        """Observe each of `amounts`, as Histogram.observe would one at a time."""
        bounds = self._bounds
        counts = [0] * len(bounds)
        total = 0.0
        for amount in amounts:
            counts[bisect_left(bounds, amount)] += 1  # the first bound >= amount: its le
            total += amount
        with self._lock:  # a scrape reads them from the HTTP server's thread
            self.counts = [a + b for a, b in zip(self.counts, counts, strict=True)]
            self.sum += total


class BatchHistogram(Collector):
    """A histogram a hot path fills a flush at a time (a custom collector).

    prometheus_client's Histogram takes one observation a call, a lock and a search of
    the buckets each: about 1 us a message on the sender's path (bench/README.md). This
    one takes a flush's observations in one call and exports the series a Histogram with
    the same name, labels and buckets would: _bucket (by le), _count, _sum and _created
    (unless PROMETHEUS_DISABLE_CREATED_SERIES, as there). A scrape sees them at most a
    flush late.
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 buckets: Sequence[float], registry: CollectorRegistry = REGISTRY) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._bounds = (*sorted(float(b) for b in buckets if b != math.inf), math.inf)
        self._les = [floatToGoString(b) for b in self._bounds]  # type: ignore[no-untyped-call]
        self._children: dict[tuple[str, ...], HistogramBatch] = {}
        self._lock = threading.Lock()
        self._created = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False"
                                       ).lower() not in ("true", "1", "t")
        registry.register(self)

    def labels(self, *values: str) -> HistogramBatch:
        with self._lock:
            child = self._children.get(values)
            if child is None:
                if len(values) != len(self._labelnames):
                    raise ValueError(f"{self._name}: labels {self._labelnames}, not {values}")
                child = self._children[values] = HistogramBatch(self._bounds, self._lock)
            return child

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self._name, self._documentation,
                                      labels=self._labelnames)]

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation,
                                       labels=self._labelnames)
        with self._lock:
            children = [(values, list(c.counts), c.sum, c.created)
                        for values, c in self._children.items()]
        for values, counts, total, created in children:
            cumulative, buckets = 0, []
            for le, count in zip(self._les, counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            family.add_metric(list(values), buckets, total)
            if self._created:
                family.samples.append(Sample(f"{self._name}_created",
                                             dict(zip(self._labelnames, values, strict=True)),
                                             created))
        yield family


SUBMITTED = Counter(
    "herald_messages_submitted", "Messages the SMSC accepted (every part answered ESME_ROK).",
    ["campaign", "channel"])
SUBMIT_LATENCY = BatchHistogram(
    "herald_submit_latency_seconds", "Time from a submit_sm written to its submit_sm_resp.",
    ["channel"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
SUBMIT_ERRORS = Counter(
    "herald_submit_errors", "submit_sm_resp with an error, by command_status name.",
    ["channel", "status"])
OUTCOMES = Counter(
    "herald_message_outcomes",
    "Messages reaching a final state: delivered, failed (error: its code), expired,"
    " unknown, optedOut, capped.", ["campaign", "channel", "outcome", "error"])
TOKENS = Counter(
    "herald_rate_limit_tokens",
    "Tokens asked of the channel's rate-limit bucket, by result: granted, denied (the"
    " bucket was full), expired (granted but not used in time).", ["channel", "result"])
BINDS_UP = Gauge("herald_binds_up", "Binds this process holds up.", ["channel", "role"])
KEYWORD_ANSWERS = Counter(
    "herald_keyword_answers",
    "Keyword replies the channel receiver decided, by kind (Help and custom ones are"
    " Other, OptOut, OptIn) and outcome: answered, suppressed (opted out, or the opt-out"
    " confirmed before), unanswerable (no answer configured), stale, failed, unknown.",
    ["channel", "kind", "outcome"])

OUTCOME_OF_STATE = {"D": "delivered", "F": "failed", "E": "expired", "U": "unknown",
                    "O": "optedOut", "C": "capped"}


ERROR_CODE = re.compile(r"[0-9A-Za-z_]{1,16}")


def outcome_labels(state: str) -> tuple[str, str] | None:
    """(outcome, error) of a state code, or None for states that are not outcomes.

    The error is a command_status (0x00000045), a receipt's err: field or `render`;
    anything else a carrier sends is `other`, so carriers cannot grow the series.
    """
    outcome = OUTCOME_OF_STATE.get(state[:1])
    if outcome is None:
        return None
    if outcome != "failed":
        return outcome, ""
    error = state[2:]
    return outcome, error if ERROR_CODE.fullmatch(error) else "other"


def count_outcomes(campaign: str, namespace: str, transitions: Sequence[Transition]) -> None:
    """Final states reached, for herald_message_outcomes_total (one inc per label set).

    A flush's transitions are mostly marks and submits (not outcomes): those cost a look
    at their first letter here, the labels are made once per channel and state.
    """
    final = OUTCOME_OF_STATE
    # Counted in C from one comprehension (t[1], t[3]: state and channel, by index as a
    # tuple reads fastest): 0.33 us a message where a loop adding each took 0.48.
    states: Tally[tuple[str, str]] = Tally(
        [(t[3], state) for t in transitions if (state := t[1])[:1] in final])
    counts: Tally[tuple[str, str, str, str]] = Tally()
    for (channel, state), count in states.items():
        outcome = outcome_labels(state)
        if outcome is not None:
            counts[(campaign, f"{namespace}/{channel}", *outcome)] += count
    for labels, count in counts.items():
        OUTCOMES.labels(*labels).inc(count)


def serve_metrics(port: int | None = None) -> int:
    """Serve /metrics on `port` (default: HERALD_METRICS_PORT, else 9090); 0: do not.

    A port already taken is logged, not fatal: metrics must never stop a send.
    """
    if port is None:
        text = os.environ.get("HERALD_METRICS_PORT", str(DEFAULT_PORT))
        if not text.isdigit() or int(text) > 65535:
            raise SystemExit(f"HERALD_METRICS_PORT must be a port number (0 for none),"
                             f" not {text!r}")
        port = int(text)
    if port == 0:
        return 0
    try:
        start_http_server(port)
    except OSError as error:
        logger.warning("metrics: cannot listen on port %d: %s", port, error)
        return 0
    return port
