"""bench/sender.py stays runnable: small runs against the simulator print the JSON the
README describes, with every message delivered once. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIGURES = {"messages", "seconds", "msg_per_s", "dlr_per_s", "peak_rss_mb", "duplicates", "lost"}


def bench(side: str) -> dict[str, Any]:
    """The report of a 300-message run of one side."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "sender.py"), "--messages", "300",
         "--sides", side, "--timeout", "60"],
        cwd=REPO, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)  # one JSON object and nothing else
    return report


def test_peer_run_prints_the_report() -> None:
    report = bench("peer")
    assert {"messages": 300, "receipts": True, "smsc": "simulator"}.items() <= report.items()
    assert {"window", "herald", "peer", "ratio_msg_per_s"} <= report.keys()
    assert "skipped" in report["herald"]
    assert report["ratio_msg_per_s"] is None
    peer = report["peer"]
    assert peer.keys() >= FIGURES, peer
    assert (peer["messages"], peer["accepted"], peer["receipts"]) == (300, 300, 300), peer
    assert (peer["duplicates"], peer["lost"], peer["timed_out"]) == (0, 0, False), peer
    assert peer["peak_rss_mb"] > 0


def test_herald_run_prints_the_report() -> None:
    herald = bench("herald")["herald"]
    assert herald.keys() >= FIGURES, herald
    assert (herald["messages"], herald["accepted"], herald["receipts"]) == (300, 300, 300), herald
    assert (herald["duplicates"], herald["lost"], herald["timed_out"]) == (0, 0, False), herald
