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
import os
import re
from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from sender.sms.states import Transition

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9090

SUBMITTED = Counter(
    "herald_messages_submitted", "Messages the SMSC accepted (every part answered ESME_ROK).",
    ["campaign", "channel"])
SUBMIT_LATENCY = Histogram(
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
    """Final states reached, for herald_message_outcomes_total (one inc per label set)."""
    counts: Tally[tuple[str, str, str, str]] = Tally()
    for t in transitions:
        outcome = outcome_labels(t.state)
        if outcome is not None:
            counts[(campaign, f"{namespace}/{t.channel}", *outcome)] += 1
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
