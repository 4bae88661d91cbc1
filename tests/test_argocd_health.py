"""Argo CD health checks for Herald's kinds, run as Argo CD runs them: each
resource_customizations/<group>/<Kind>/health.lua under a real Lua interpreter (lupa)
with `obj` set to each object of testdata/, against the health_test.yaml beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

from crds.base import GROUP
from crds.campaign import Campaign, CampaignPhase
from crds.campaign_run import CampaignRun
from crds.channel import Channel
from crds.template import Template, TemplatePhase

CUSTOMIZATIONS = (Path(__file__).resolve().parent.parent / "charts" / "herald"
                  / "resource_customizations" / GROUP)
MODELS = {"Channel": Channel, "Template": Template, "Campaign": Campaign}
ARGO_STATES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def cases() -> list[Any]:
    found = []
    for kind in MODELS:
        tests = yaml.safe_load((CUSTOMIZATIONS / kind / "health_test.yaml").read_text())
        for test in tests["tests"]:
            found.append(pytest.param(kind, test, id=f"{kind}-{Path(test['inputPath']).stem}"))
    return found


def health(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute((CUSTOMIZATIONS / kind / "health.lua").read_text(encoding="utf-8"))
    return dict(result.items())


@pytest.mark.parametrize("kind, test", cases())
def test_health(kind: str, test: dict[str, Any]) -> None:
    obj = yaml.safe_load((CUSTOMIZATIONS / kind / test["inputPath"]).read_text())
    MODELS[kind].model_validate(obj)  # the testdata is what the operator would write
    expected = test["healthStatus"]
    assert expected["status"] in ARGO_STATES
    assert health(kind, obj) == expected


@pytest.mark.parametrize("kind, phases", [
    pytest.param("Campaign", {p.value for p in CampaignPhase}, id="campaign"),
    pytest.param("Template", {p.value for p in TemplatePhase}, id="template"),
])
def test_every_phase_has_a_case(kind: str, phases: set[str]) -> None:
    tests = yaml.safe_load((CUSTOMIZATIONS / kind / "health_test.yaml").read_text())["tests"]
    seen = {yaml.safe_load((CUSTOMIZATIONS / kind / t["inputPath"]).read_text())
            .get("status", {}).get("phase") for t in tests}
    assert phases <= seen, phases - seen


def test_every_kind_has_each_generic_case() -> None:
    """Being deleted, never observed, and observed at an older generation: Progressing."""
    for kind in MODELS:
        for name in ("deleting", "new", "stale-generation"):
            obj = yaml.safe_load((CUSTOMIZATIONS / kind / "testdata" / f"{name}.yaml").read_text())
            assert health(kind, obj)["status"] == "Progressing", (kind, name)


@pytest.mark.parametrize("name", sorted(
    p.stem for p in (CUSTOMIZATIONS / "Campaign" / "testdata").glob("*.yaml")
    if "recurring" not in p.stem))
def test_a_campaign_run_is_as_healthy_as_the_campaign_it_would_be(name: str) -> None:
    """The chart gives CampaignRun the Campaign's script: a run has a Campaign's status."""
    campaign = yaml.safe_load((CUSTOMIZATIONS / "Campaign" / "testdata" / f"{name}.yaml")
                              .read_text())
    run = campaign | {"kind": "CampaignRun",
                      "spec": campaign["spec"] | {"scheduledTime": "2026-12-02T02:00:00Z"}}
    CampaignRun.model_validate(run)
    assert health("Campaign", run) == health("Campaign", campaign)
