"""spec.audience.importers through the operator stack (emulated API, local Jobs, real
Redis): a list imported by three importer pods at once, an Indexed Job, counts what one
importer counts."""

from __future__ import annotations

from typing import Any

import pytest

from herald.local.demo import audience_csv
from herald.local.stack import Stack
from tests.test_campaign_bad_input import named
from tests.test_campaign_operator import NS, TIMEOUT, stack

__all__ = ["stack"]  # the fixture, shared with the campaign operator tests
pytestmark = pytest.mark.timeout(180)

ROWS = 2600
"""Three batches of 1,000 rows (the last short): one for each of three importers."""
COUNTED = ("total", "invalid", "suppressed", "optedOut", "queued")


async def planned(stack: Stack, name: str, importers: int) -> dict[str, Any]:
    await stack.kube.create(named(name, dryRun=True, audience={
        "defaultRegion": "CN", "configMapRef": {"name": "audience"},
        "importers": importers}))
    body = await stack.wait_for_phase(NS, name, ("Planned", "Failed"), timeout=TIMEOUT)
    assert body["status"]["phase"] == "Planned", body["status"]
    return body


async def test_importers_split_the_list_and_count_as_one(stack: Stack) -> None:
    await stack.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "audience"},
                             "data": {"recipients.csv": audience_csv(ROWS)}})
    three = await planned(stack, "three-importers", 3)
    one = await planned(stack, "one-importer", 1)

    job = await stack.kube.get("batch/v1", "Job", NS, "three-importers-import")
    assert {k: job["spec"].get(k) for k in ("completionMode", "completions", "parallelism")} \
        == {"completionMode": "Indexed", "completions": 3, "parallelism": 3}
    assert stack.jobs.runs[job["metadata"]["uid"]].attempts == 3  # a pod a part, once each
    single = await stack.kube.get("batch/v1", "Job", NS, "one-importer-import")
    assert "completionMode" not in single["spec"]

    counters = [{k: body["status"]["counters"].get(k) for k in COUNTED} for body in (three, one)]
    assert counters[0] == counters[1] and counters[0]["total"] == ROWS
    assert counters[0]["suppressed"] > 0 and counters[0]["invalid"] > 0  # duplicates, bad rows
    assert three["status"]["plan"]["audience"] == one["status"]["plan"]["audience"]
