"""`herald demo` (what `make demo` runs) works end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys


def test_demo_prints_reviewed_templates_as_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "herald", "demo", "-o", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)  # -o json prints nothing but the JSON
    templates = output["templates"]["items"]
    phases = {t["metadata"]["name"]: t["status"]["phase"] for t in templates}
    assert set(phases.values()) == {"Approved"} and len(phases) == 3
    assert templates[0]["status"]["approval"] == "delivery-notice-v1"

    counters = output["campaign"]["counters"]
    assert counters["total"] == 10_000
    settled = ("invalid", "suppressed", "optedOut", "submitted", "delivered", "failed",
               "expired", "unknown", "cancelled")
    assert counters["queued"] == 0
    assert sum(counters.get(name, 0) for name in settled) == counters["total"]
    assert counters["delivered"] > 9_000 and counters["invalid"] > 0
    assert counters["optedOut"] > 0
