"""The export end to end: a campaign sent through the local stack (operator, Jobs as
processes, redis-server, the SMPP simulator) with failures, then exported by `kubectl
herald export` (the real kubectl binary) and `herald export`, to a file and to an
S3-compatible server (moto's, real HTTP on loopback); the rows against the simulator's
record of what it accepted."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from sender.export.destinations import S3Credentials, s3_client
from sender.export.rows import COLUMNS
from sender.simulator.config import Outcome, PrefixRule, SimulatorConfig
from sender.sms.numbers import mask_number
from sender.sms.states import iso_time
from sender.store.client import connect
from sender.store.keys import CampaignKeys
from tests.test_campaign_operator import CAMPAIGN, NS, TIMEOUT, apply_examples, campaign_body
from tests.test_kubectl_plugin import KUBECTL

AUDIENCE = 300
UNDELIVERABLE = "861380000010"  # recipients 100-109: their receipts say undeliverable
REFUSED = "861380000020"  # recipients 200-209: the SMSC refuses them (ESME_RINVDSTADR)

pytestmark = pytest.mark.timeout(240)


def audience(count: int) -> dict[str, Any]:
    return {"defaultRegion": "CN", "inline": [
        {"phone": f"138{i:08d}", "variables": [{"name": "name", "value": f"n{i}"},
                                               {"name": "code", "value": f"C{i}"}]}
        for i in range(count)]}


@pytest.fixture(scope="module")
def s3_server() -> Any:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Credentials("herald-test", "herald-secret", f"http://{host}:{port}",
                            "us-east-1")
    finally:
        server.stop()


@pytest.fixture
async def sent() -> AsyncIterator[Stack]:
    """The example campaign sent to AUDIENCE recipients, some failing, every outcome in."""
    rules = [PrefixRule(prefix=UNDELIVERABLE, outcome=Outcome.UNDELIVERABLE),
             PrefixRule(prefix=REFUSED, outcome=Outcome.ERROR)]
    config = SimulatorConfig(port=0, receipt_delay_ms=20, seed=7, rules=rules)
    async with running_stack(simulator=config) as stack:
        await apply_examples(stack)
        await stack.kube.create(campaign_body(audience=audience(AUDIENCE)))
        await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
        await wait_for(lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT,
                       message="outcomes still owed",
                       until=lambda c: sum(c["status"]["counters"].get(k, 0) for k in
                                           ("delivered", "failed")) == AUDIENCE)
        yield stack


def expected_states(stack: Stack) -> dict[str, str]:
    """Each number's state as the simulator's record says: what it accepted, by the
    outcome it gave; what it refused at submit, failed."""
    accepted = {"+" + m.destination.lstrip("+"): m.outcome for m in stack.simulator.accepted}
    assert len(accepted) == len(stack.simulator.accepted)  # each accepted once
    states = {number: "delivered" if outcome == Outcome.DELIVERED else "failed"
              for number, outcome in accepted.items()}
    refused = {f"+{REFUSED}{i}" for i in range(10)}
    assert {n for n, s in states.items() if s == "failed"} == {
        f"+{UNDELIVERABLE}{i}" for i in range(10)}
    assert not refused & set(states)
    return states | dict.fromkeys(refused, "failed")


async def run(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, env=os.environ | env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def plugin_env(stack: Stack) -> dict[str, str]:
    return {"KUBECONFIG": str(stack.cluster.kubeconfig), "HERALD_REDIS_URL": stack.redis_url,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


async def test_export_rows_are_the_simulators_record(sent: Stack, tmp_path: Path,
                                                     s3_server: S3Credentials) -> None:
    stack = sent
    expected = expected_states(stack)
    assert len(expected) == AUDIENCE
    assert sum(state == "failed" for state in expected.values()) == 20

    out = tmp_path / "export.csv"
    code, said, err = await run(str(KUBECTL), "herald", "export", CAMPAIGN, "-o", str(out),
                                env=plugin_env(stack))
    assert code == 0, err
    assert f"exported {AUDIENCE} recipients of campaign {NS}/{CAMPAIGN}" in said
    assert "numbers masked" in said
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == AUDIENCE
    assert {r["number"]: r["state"] for r in rows} == {
        mask_number(n): s for n, s in expected.items()}
    assert {r["channel"] for r in rows} == {"carrier-a"}
    assert {r["variant"] for r in rows} == {"discount", "reminder"}
    failed = {r["number"][-3:]: r["error"] for r in rows if r["state"] == "failed"}
    assert failed == {f"{i}": "001" for i in range(100, 110)} | {  # the receipts' err:
        f"{i}": "0x0000000B" for i in range(200, 210)}  # ESME_RINVDSTADR at submit

    # `herald export`, Parquet, to S3: the same rows.
    client = s3_client(s3_server)
    client.create_bucket(Bucket="exports")
    aws = {"AWS_ACCESS_KEY_ID": s3_server.access_key_id,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key,
           "AWS_ENDPOINT_URL": s3_server.endpoint, "AWS_REGION": s3_server.region}
    code, said, err = await run(sys.executable, "-m", "herald", "export", CAMPAIGN,
                                "-o", "s3://exports/double-eleven.parquet",
                                env=plugin_env(stack) | aws)
    assert code == 0, err
    local = tmp_path / "from-s3.parquet"
    client.download_file("exports", "double-eleven.parquet", str(local))
    table = pq.read_table(local).to_pylist()
    assert [{k: parquet_text(v) for k, v in r.items()} for r in table] == rows


def parquet_text(value: object) -> str:
    """A Parquet cell as the CSV export writes it: times are typed there, text here."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_time(int(value.timestamp()))
    return str(value)


BAD_INPUT = [
    (("-o", "s3://exports/x.csv"), {}, "an export URL needs credentials"),
    (("-o", "x.csv", "--unmasked"), {},
     f"campaign {CAMPAIGN} names no spec.export.unmaskedSecretRef"),
    (("-o", "s3://exports/x.csv", "--credentials-secret", "no-such"), {},
     "secret no-such (which holds the S3 credentials) is not found"),
    (("-o", "x.csv"), {"HERALD_REDIS_URL": "memcached://here"}, "memcached"),
    (("-o", "x.csv", "--redis", "redis://127.0.0.1:9"), {}, "error: Redis: ConnectionError"),
    (("-o", "x.csv", "--format", "xlsx"), {}, "invalid choice: 'xlsx'"),
]
"""(arguments, environment, what stderr says): a URL without credentials, full numbers
the campaign does not offer, a missing Secret, a bad Redis URL, a Redis that does not
answer, an unknown format."""


async def test_bad_export_input_gets_a_clear_message(sent: Stack, tmp_path: Path) -> None:
    for args, extra_env, message in BAD_INPUT:
        env = plugin_env(sent) | {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
        code, _, err = await run(str(KUBECTL), "herald", "export", CAMPAIGN,
                                 *[str(tmp_path / a) if a == "x.csv" else a for a in args],
                                 env=env | extra_env)
        assert code in (1, 2) and message in err, (args, err)
        assert not list(tmp_path.iterdir())  # nothing half-written
    code, _, err = await run(str(KUBECTL), "herald", "export", "no-such", "-o",
                             str(tmp_path / "x.csv"), env=plugin_env(sent))
    assert code == 1 and "campaign no-such not found in namespace default" in err, err


# -- spec.export: the operator's export Job --------------------------------------------------

def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


async def exported(stack: Stack) -> dict[str, Any]:
    """The campaign once status.export says the export was written."""
    body: dict[str, Any] = await wait_for(
        lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT, message="no export written",
        until=lambda c: ((c.get("status") or {}).get("export") or {}).get("completionTime"))
    return body


async def test_spec_export_to_a_claim_is_written_before_the_keys_go(tmp_path: Path) -> None:
    # Retention 0: the run's keys would go the moment the campaign completes; the export
    # holds them until it is written, then they go.
    async with running_stack(workdir=tmp_path, config={"retention_seconds": 0}) as stack:
        await apply_examples(stack)
        await stack.kube.create(campaign_body(audience=audience(50), export={
            "destination": {"persistentVolumeClaim": {"claimName": "results",
                                                      "path": "runs/double-eleven.csv"}}}))
        done = await exported(stack)
        status = done["status"]["export"]
        assert (status["location"], status["format"], status["rows"], status["unmasked"]) == (
            "pvc://results/runs/double-eleven.csv", "Csv", 50, False)
        rows = list(csv.DictReader(io.StringIO(
            (tmp_path / "pvc" / "results" / "runs" / "double-eleven.csv").read_text())))
        assert len(rows) == 50
        assert {r["number"] for r in rows} == {
            mask_number("+" + m.destination.lstrip("+")) for m in stack.simulator.accepted}
        job = await stack.kube.get("batch/v1", "Job", NS, f"{CAMPAIGN}-export")
        assert job["spec"]["template"]["spec"]["volumes"][0] == {
            "name": "export", "persistentVolumeClaim": {"claimName": "results"}}
        redis = connect(stack.redis_url)
        try:
            await wait_for(lambda: redis.exists(CampaignKeys(NS, CAMPAIGN).run),
                           timeout=TIMEOUT, until=lambda n: n == 0,
                           message="the run's keys outlived the retention and the export")
        finally:
            await redis.aclose()
        reasons = [e["reason"] for e in await stack.kube.events_for(done)]
        assert "ExportWritten" in reasons


async def test_spec_export_to_s3_unmasked_through_its_secret(sent_with_export: Stack,
                                                             s3_server: S3Credentials) -> None:
    stack = sent_with_export
    done = await exported(stack)
    status = done["status"]["export"]
    assert (status["location"], status["format"], status["rows"], status["unmasked"]) == (
        "s3://exports/double-eleven.parquet", "Parquet", AUDIENCE, True)
    client = s3_client(s3_server)
    local = Path(tempfile.mkdtemp()) / "export.parquet"
    client.download_file("exports", "double-eleven.parquet", str(local))
    rows = pq.read_table(local).to_pylist()
    assert {r["number"]: r["state"] for r in rows} == expected_states(stack)

    # By hand: the Campaign names the Secret that gates full numbers, and this caller
    # may read it, so --unmasked shows them.
    out = local.with_name("by-hand.csv")
    code, said, err = await run(str(KUBECTL), "herald", "export", CAMPAIGN, "-o", str(out),
                                "--unmasked", env=plugin_env(stack))
    assert code == 0 and "full numbers" in said, err
    by_hand = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["number"]: r["state"] for r in by_hand} == expected_states(stack)


async def test_spec_export_that_cannot_be_written_fails_with_an_event(
        s3_server: S3Credentials) -> None:
    async with running_stack() as stack:
        await apply_examples(stack)
        await stack.kube.create(secret("exports-s3", {
            "accessKeyId": s3_server.access_key_id,
            "secretAccessKey": s3_server.secret_access_key,
            "endpoint": s3_server.endpoint, "region": s3_server.region}))
        await stack.kube.create(campaign_body(audience=audience(20), export={
            "destination": {"url": "s3://no-such-bucket/x.csv",
                            "credentialsSecretRef": {"name": "exports-s3"}}}))
        failed = await wait_for(
            lambda: stack.campaign(NS, CAMPAIGN), timeout=TIMEOUT, message="no export error",
            until=lambda c: ((c.get("status") or {}).get("export") or {}).get("error"))
        assert "cannot write s3://no-such-bucket/x.csv" in failed["status"]["export"]["error"]
        assert s3_server.secret_access_key not in json.dumps(failed)


@pytest.fixture
async def sent_with_export(s3_server: S3Credentials) -> AsyncIterator[Stack]:
    """As `sent`, the campaign with spec.export to S3, full numbers through the Secret
    that holds the bucket's credentials."""
    rules = [PrefixRule(prefix=UNDELIVERABLE, outcome=Outcome.UNDELIVERABLE),
             PrefixRule(prefix=REFUSED, outcome=Outcome.ERROR)]
    client = s3_client(s3_server)
    if "exports" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="exports")
    config = SimulatorConfig(port=0, receipt_delay_ms=20, seed=7, rules=rules)
    async with running_stack(simulator=config) as stack:
        await apply_examples(stack)
        await stack.kube.create(secret("exports-s3", {
            "accessKeyId": s3_server.access_key_id,
            "secretAccessKey": s3_server.secret_access_key,
            "endpoint": s3_server.endpoint, "region": s3_server.region}))
        await stack.kube.create(campaign_body(audience=audience(AUDIENCE), export={
            "format": "Parquet", "unmaskedSecretRef": {"name": "exports-s3"},
            "destination": {"url": "s3://exports/double-eleven.parquet",
                            "credentialsSecretRef": {"name": "exports-s3"}}}))
        await stack.wait_for_phase(NS, CAMPAIGN, "Completed", timeout=TIMEOUT)
        yield stack
