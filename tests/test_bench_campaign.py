"""bench/campaign.py stays runnable: a small campaign through the operator on the local
stack prints the JSON bench/README.md describes, every recipient delivered once and its
Redis broken down by key kind. No timing is asserted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIGURES = {"import_seconds", "import_rows_per_s", "send_seconds", "send_msg_per_s",
           "submit_seconds", "wall_seconds", "redis", "bytes_per_recipient_after",
           "bytes_per_recipient_peak", "keys_by_kind", "keys_unaccounted_bytes"}

pytestmark = pytest.mark.timeout(180)


def test_a_small_campaign_reports_its_figures() -> None:
    run = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "campaign.py"), "--recipients", "300",
         "--timeout", "90"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)  # the stack's processes go with it if cut short
    try:
        stdout, stderr = run.communicate(timeout=150)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()
    assert run.returncode == 0, stderr[-2000:]
    report = json.loads(stdout)  # one JSON object and nothing else
    assert set(report) >= FIGURES
    assert (report["recipients"], report["phase"], report["frequency_cap"]) == (
        300, "Completed", True)
    assert report["counters"]["delivered"] == 300
    assert report["simulator"] == {"submits": 300, "receipts": 300, "duplicates": 0,
                                   "destinations": 300}
    kinds = report["keys_by_kind"]
    # Final messages left the stream and the state hash for their compact records.
    assert {"campaign:final", "frequency_cap_ledgers"} <= set(kinds)
    # The cap ledgers are buckets of ~40 numbers and a meta hash a slot group, not a key
    # per number.
    assert 0 < kinds["frequency_cap_ledgers"]["keys"] < 300 // 10
    assert report["redis"]["used_memory_peak"] >= report["redis"]["used_memory_after"] > (
        report["redis"]["used_memory_before"])
