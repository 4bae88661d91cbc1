"""compliance.suppressionLists: numbers a campaign never sends to, from a ConfigMap,
Secret or URL file in any form an audience file may take, counted suppressed with
reason SuppressionList; a missing list is said before any pod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from controllers.decisions import reasons
from controllers.decisions.campaign_audience import suppression_problem
from controllers.decisions.campaign_jobs import Owner, build_import_job
from controllers.decisions.campaign_world import AudienceSeen
from controllers.decisions.pod_spec import PodSettings
from crds.campaign import Campaign, SuppressionList
from herald.local.kube.client import wait_for
from herald.local.stack import Stack
from sender.importer.process import run_import
from sender.importer.report import read_import_report
from tests.test_campaign_operator import NS, TIMEOUT, campaign_body, inline, stack
from tests.test_import_process import KEYS, file_server, redis_env, start_run, stored
from tests.test_import_process import xlsx_bytes as xlsx

__all__ = ["file_server", "redis_env", "stack"]  # fixtures
AUDIENCE = {"inline": [{"phone": f"1380013{i:04d}", "variables": [
    {"name": "name", "value": f"n{i}"}, {"name": "code", "value": f"C{i}"}]} for i in range(10)]}


def lists(*items: dict[str, Any]) -> dict[str, Any]:
    return {"compliance": {"suppressionLists": list(items)}}


@pytest.fixture
def suppression_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The importer pod's suppression directory, as its Job mounts it."""
    monkeypatch.setenv("HERALD_SUPPRESSION_DIR", str(tmp_path))
    return tmp_path


async def test_listed_numbers_are_suppressed_from_files_and_urls(
    redis: aioredis.Redis, suppression_dir: Path, file_server: tuple[str, dict[str, bytes]],
) -> None:
    url, files = file_server
    # A GBK CSV from a complaints desk: national, +86 and full-width forms, a bad row.
    (suppression_dir / "complaints").write_bytes(
        "手机,备注\r\n13800130001,投诉\r\n+86 138 0013 0002,员工\r\n１３８００１３０００３,x\r\n"
        "not a number,?\r\n".encode("gbk"))
    files["dnc.xlsx"] = xlsx([["phone"], [13800130004], [13800130004]])
    await start_run(redis, AUDIENCE, **lists(
        {"name": "complaints", "configMapRef": {"name": "c", "key": "k"}, "column": "手机"},
        {"name": "dnc", "url": f"{url}/dnc.xlsx"}))
    result = await run_import(KEYS.ref)
    assert (result["queued"], result["suppressed"]) == (6, 4)
    report = await read_import_report(redis, KEYS)
    assert report.suppressed_reasons == {"SuppressionList": 4}
    assert set(await stored(redis)) == {f"+86138001300{i:02d}" for i in (0, 5, 6, 7, 8, 9)}
    assert not await redis.exists(KEYS.suppressed)  # gone once the import is done


async def test_an_unreadable_list_fails_the_import_rather_than_send(
    redis: aioredis.Redis, suppression_dir: Path,
) -> None:
    await start_run(redis, AUDIENCE, **lists(
        {"name": "gone", "secretRef": {"name": "s", "key": "k"}}))
    with pytest.raises(Exception, match="suppression list gone is not mounted"):
        await run_import(KEYS.ref)
    assert await stored(redis) == {}


@pytest.mark.parametrize("seen, reason", [
    pytest.param({}, None, id="not-looked-at"),
    pytest.param({"dnc": AudienceSeen(keys=None)}, reasons.SUPPRESSION_LIST_NOT_FOUND,
                 id="configmap-missing"),
    pytest.param({"dnc": AudienceSeen(keys=frozenset({"other"}))},
                 reasons.SUPPRESSION_LIST_NOT_FOUND, id="key-missing"),
    pytest.param({"dnc": AudienceSeen(keys=frozenset({"numbers.csv"}))}, None, id="found"),
])
def test_a_missing_list_is_a_reason(seen: dict[str, AudienceSeen], reason: str | None) -> None:
    dnc = SuppressionList.model_validate(
        {"name": "dnc", "configMapRef": {"name": "dnc-list", "key": "numbers.csv"}})
    problem = suppression_problem([dnc], seen)
    assert (problem.reason if problem else None) == reason
    if problem is not None:
        assert "ConfigMap dnc-list" in problem.message and "suppression list dnc" in problem.message


def test_the_import_job_mounts_every_list_in_one_directory() -> None:
    spec = Campaign.model_validate(campaign_body(**lists(
        {"name": "a", "configMapRef": {"name": "cm", "key": "x.csv"}},
        {"name": "b", "secretRef": {"name": "sec", "key": "y.xlsx"}},
        {"name": "c", "url": "https://lists.example/c.csv"}))).spec
    assert spec.audience is not None
    job = build_import_job(Owner(NS, "c", "uid"), spec.audience, PodSettings(),
                           spec.compliance.suppression_lists)
    pod = job["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "suppression"]
    assert volume["projected"]["sources"] == [
        {"configMap": {"name": "cm", "items": [{"key": "x.csv", "path": "a"}]}},
        {"secret": {"name": "sec", "items": [{"key": "y.xlsx", "path": "b"}]}}]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["HERALD_SUPPRESSION_DIR"] == "/var/run/herald/suppression"




@pytest.mark.timeout(180)
async def test_a_campaign_waits_for_its_list_then_skips_its_numbers(stack: Stack) -> None:
    kube = stack.kube
    body = campaign_body(audience=inline(20), **lists(
        {"name": "dnc", "configMapRef": {"name": "dnc", "key": "numbers.csv"}}))
    await kube.create(body)
    waiting = await wait_for(lambda: stack.campaign(NS, body["metadata"]["name"]),
                             timeout=TIMEOUT, message="never said the list is missing",
                             until=lambda c: reasons.SUPPRESSION_LIST_NOT_FOUND in [
                                 c["reason"] for c in c.get("status", {}).get("conditions", [])
                                 if c["type"] == "Ready"])
    ready = next(c for c in waiting["status"]["conditions"] if c["type"] == "Ready")
    assert "ConfigMap dnc" in ready["message"]
    assert await kube.find("batch/v1", "Job", NS, f"{body['metadata']['name']}-import") is None

    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dnc"},
                       "data": {"numbers.csv": "phone\n13800000003\n+8613800000007\n"}})
    done = await stack.wait_for_phase(NS, body["metadata"]["name"], "Completed",
                                      timeout=TIMEOUT)
    counters = done["status"]["counters"]
    assert (counters["total"], counters["suppressed"]) == (20, 2)
    sent = {m.destination for m in stack.simulator.accepted}
    assert len(sent) == 18 and "8613800000003" not in sent and "8613800000007" not in sent
