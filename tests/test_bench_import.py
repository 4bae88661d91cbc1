"""bench/import.py stays runnable: a small run prints the JSON its docstring describes,
with both sides agreeing on every count of every list. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_small_run_prints_each_list_side_and_process_count() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "import.py"), "--rows", "3000", "--rounds", "1",
         "--processes", "1,2", "--memory"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["rows"], report["shards"]) == (3000, 4)
    assert set(report["lists"]) == {"clean", "national", "messy"}
    for kind, by_processes in report["lists"].items():
        assert set(by_processes) == {"1", "2"}
        # Two importers of one list in parts count what one counts.
        assert {k: by_processes["2"]["herald"][k] for k in ("queued", "invalid", "suppressed")} \
            == {k: by_processes["1"]["herald"][k] for k in ("queued", "invalid", "suppressed")}
        for figures in by_processes.values():
            herald, peer = figures["herald"], figures["phonenumbers"]
            counts = [herald[c] for c in ("queued", "invalid", "suppressed")]
            assert counts == [peer[c] for c in ("queued", "invalid", "suppressed")]
            assert sum(counts) == 3000, (kind, herald)
            assert herald["rows_per_s"] > 0 and figures["ratio_rows_per_s"] > 0
            assert herald["redis_cpu_us_per_row"] > 0  # Redis did the XADDs
    # Clean and national lists are valid throughout; the messy one has every outcome.
    assert report["lists"]["clean"]["1"]["herald"]["queued"] == 3000
    assert report["lists"]["national"]["1"]["herald"]["queued"] == 3000
    messy = report["lists"]["messy"]["1"]["herald"]
    assert messy["invalid"] > 0 and messy["suppressed"] > 0 and messy["queued"] > 0
    assert report["memory"]["rows"] == [3000, 30000]
    assert all(peak > 0 for peak in report["memory"]["peak_rss_mib"])
