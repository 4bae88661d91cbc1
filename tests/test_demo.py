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
    listing = json.loads(result.stdout)  # -o json prints nothing but the JSON
    phases = {t["metadata"]["name"]: t["status"]["phase"] for t in listing["items"]}
    assert phases == {"delivery-notice": "Approved", "double-eleven": "Approved"}
    approval = listing["items"][0]["status"]["approval"]
    assert approval == "delivery-notice-v1"
