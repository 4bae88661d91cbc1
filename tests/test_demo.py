"""`herald demo` (what `make demo` runs) works end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys


def test_demo_runs_the_example_campaign_through_the_operator() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "herald", "demo", "-o", "json"],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, result.stderr
    campaign = json.loads(result.stdout)  # -o json prints nothing but the Campaign
    assert campaign["kind"] == "Campaign"
    status = campaign["status"]
    assert status["phase"] == "Completed", status.get("message")
    counters = status["counters"]
    assert counters["total"] == 10_000
    settled = ("invalid", "suppressed", "optedOut", "submitted", "delivered", "failed",
               "expired", "unknown", "cancelled")
    assert counters.get("queued", 0) == 0
    assert sum(counters.get(name, 0) for name in settled) == counters["total"]
    assert counters["delivered"] > 9_000 and counters["invalid"] > 0
    assert counters["optedOut"] > 0
    assert {v["name"] for v in status["variants"]} == {"discount", "reminder"}
    plan = status["plan"]  # the example Channel prices CN numbers
    assert plan["rows"] == 10_000 and 0 < plan["audience"] < 10_000
    assert plan["currency"] == "CNY" and plan["estimatedCost"] and plan["eta"]
    # kopf's bookkeeping stays out of what the demo prints.
    assert not any(k.startswith("sms.herald.dev/")
                   for k in campaign["metadata"].get("annotations", {}))
