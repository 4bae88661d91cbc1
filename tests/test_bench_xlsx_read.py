"""bench/xlsx_read.py stays runnable: a small run prints the JSON bench/README.md
describes, both readers reading the same rows. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_small_run_prints_the_report() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "xlsx_read.py"), "--rows", "300",
         "--columns", "6", "--timeout", "60"],
        cwd=REPO, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # one JSON object and nothing else
    assert {"rows": 300, "columns": 6, "dimension": True, "same_rows": True}.items() \
        <= report.items(), report
    for side in ("herald", "peer"):
        assert report[side]["rows"] == 300, report
        assert report[side]["peak_rss_mb"] >= report["baseline_rss_mb"] * 0.9, report
    assert report["ratio_seconds"] > 0 and report["ratio_peak_rss"] > 0
