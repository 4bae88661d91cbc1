"""The per-recipient export (sender.export): the rows decoded from a run's Redis records,
written as CSV and Parquet to a file and to an S3-compatible server (moto's, over HTTP on
loopback), and the bad inputs it refuses."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from controllers.decisions.campaign_export import (
    ExportPlan,
    build_export_job,
    export_status,
    plan_export,
)
from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.pod_spec import PodSettings
from crds.campaign import CampaignExport, ExportFormat, ExportStatus
from sender.export.destinations import ExportError, S3Credentials, s3_client
from sender.export.process import export_run, job_settings
from sender.export.rows import COLUMNS, Decoded, decode_clicks, decode_state, export_row
from sender.sms.links import LinkRecord
from sender.sms.states import State, Transition, failed, submitted
from sender.store.client import Redis
from sender.store.keys import SENDERS_GROUP, CampaignKeys
from sender.store.lane_moves import Move, move_messages
from sender.store.links import ClickCounter
from sender.store.run_store import write_run
from sender.store.transitions import StateStore
from tests.run_configs import run_config


@pytest.mark.parametrize("code, held, decoded", [
    pytest.param(None, False, Decoded("queued"), id="absent-is-queued"),
    pytest.param("Q", False, Decoded("queued"), id="queued"),
    pytest.param("W", False, Decoded("waiting"), id="waiting"),
    pytest.param("S", False, Decoded("submitting"), id="submitting"),
    pytest.param("s:a1", False, Decoded("submitted", segments=1), id="submitted-one-part"),
    pytest.param("s:a1 a2 a3", False, Decoded("submitted", segments=3), id="submitted-parts"),
    pytest.param("D", False, Decoded("delivered"), id="delivered"),
    pytest.param("F:0x0000000b", False, Decoded("failed", error="0x0000000b"), id="refused"),
    pytest.param("F:receipt", False, Decoded("failed", error="receipt"), id="receipt-failed"),
    pytest.param("F:render", False, Decoded("failed", error="render"), id="not-rendered"),
    pytest.param("E", False, Decoded("expired"), id="expired"),
    pytest.param("U", False, Decoded("unknown"), id="unknown"),
    pytest.param("O", False, Decoded("optedOut"), id="opted-out"),
    pytest.param("C:2/168h Namespace", False, Decoded("capped", error="2/168h Namespace"),
                 id="capped-with-its-cap"),
    pytest.param("X", False, Decoded("cancelled"), id="cancelled"),
    pytest.param("M:1/1-0", False, None, id="moved-is-its-new-lanes-row"),
    pytest.param(None, True, Decoded("awaitingWinner"), id="rest-not-released"),
    pytest.param("D", True, Decoded("delivered"), id="rest-sent-keeps-its-state"),
    pytest.param("Z", False, Decoded("unknownCode:Z"), id="a-code-of-a-later-version"),
    pytest.param("s:a1 a2~2,1764750000,", False,
                 Decoded("submitted", segments=2, submitted=1764750000), id="submitted-stamped"),
    pytest.param("D~2,1764750000,1764750009", False,
                 Decoded("delivered", segments=2, submitted=1764750000, done=1764750009),
                 id="delivered-keeps-its-segments-and-times"),
    pytest.param("F:0x0000000b~,,1764750001", False,
                 Decoded("failed", error="0x0000000b", done=1764750001), id="refused-stamped"),
    pytest.param("C:2/168h Namespace~,,1764750001", False,
                 Decoded("capped", error="2/168h Namespace", done=1764750001),
                 id="capped-stamped"),
])
def test_state_decoding(code: str | None, held: bool, decoded: Decoded | None) -> None:
    assert decode_state(code, held=held) == decoded


@pytest.mark.parametrize("value, expected", [
    (None, (None, 0)), ("", (None, 0)), ("1767225600 3", (1767225600, 3)), ("junk", (None, 0)),
])
def test_click_decoding(value: str | None, expected: tuple[int | None, int]) -> None:
    assert decode_clicks(value) == expected


def test_row_masks_the_number_unless_unmasked() -> None:
    fields = {"n": "+8613800138000", "v": "discount"}
    row = export_row("0/1-0", fields, "D", "1767225600 2", channel="carrier-a")
    assert row is not None
    assert (row.number, row.variant, row.channel, row.state, row.first_click, row.clicks) == (
        "+86*******8000", "discount", "carrier-a", "delivered", 1767225600, 2)
    shown = export_row("0/1-0", fields, "D", None, channel="carrier-a", unmasked=True)
    assert shown is not None and shown.number == "+8613800138000"
    rest = export_row("2/1-0", fields, None, None, channel="carrier-a", variant="winner",
                      held=True)
    assert rest is not None and (rest.variant, rest.state) == ("winner", "awaitingWinner")


# -- a run in a real redis-server ----------------------------------------------------------

KEYS = CampaignKeys("default", "exported")
NUMBERS = [f"+86138{i:08d}" for i in range(7)]


async def two_channel_run(redis: Redis) -> dict[str, tuple[str, str, str, int]]:
    """A run of one shard over carrier-a and carrier-b, its messages in every state the
    transitions script gives, one failed over from a to b and one clicked; what each
    number's row must say: (channel, state, error, clicks)."""
    config = run_config(KEYS.namespace, KEYS.name, port=1)
    config = config.model_copy(update={"channels": [
        config.channels[0], config.channels[0].model_copy(update={"name": "carrier-b"})]})
    await write_run(redis, config)
    ids: list[str] = []
    for lane in (0, 1):
        await redis.xgroup_create(KEYS.shard(lane), SENDERS_GROUP, id="0", mkstream=True)
    for number in NUMBERS:
        ids.append(str(await redis.xadd(KEYS.shard(0), {"n": number, "v": "", "x": "{}"})))
    moved = await move_messages(redis, KEYS, 0, "carrier-a", [Move(ids[6], 1, "carrier-b")])
    new_key = moved[0]
    assert new_key is not None
    now = [SUBMITTED_AT]
    store = StateStore(redis, KEYS, clock=lambda: now[0])
    key = [f"0/{i}" for i in ids]
    await store.apply([Transition(k, State.SUBMITTING, channel="carrier-a") for k in key[:5]]
                      + [Transition(new_key, State.SUBMITTING, channel="carrier-b")])
    await store.apply([
        Transition(key[0], submitted("m0"), channel="carrier-a", segments=1),
        Transition(key[1], submitted("m1", "m1b"), channel="carrier-a", segments=2),
        Transition(key[2], failed("0x0000000b"), channel="carrier-a"),
        Transition(key[3], State.UNKNOWN, channel="carrier-a"),
        Transition(new_key, submitted("m6"), channel="carrier-b", segments=1),
    ])
    now[0] = DONE_AT
    await store.apply([Transition(key[0], State.DELIVERED, channel="carrier-a"),
                       Transition(new_key, failed("receipt"), channel="carrier-b")])
    clicks = ClickCounter(redis)
    record = LinkRecord(KEYS.ref, key[0], "", "carrier-a", "u0", 1_900_000_000)
    await clicks.count(record, 1767225600)
    await clicks.count(record, 1767225700)
    return {NUMBERS[0]: ("carrier-a", "delivered", "", 2),
            NUMBERS[1]: ("carrier-a", "submitted", "", 0),
            NUMBERS[2]: ("carrier-a", "failed", "0x0000000b", 0),
            NUMBERS[3]: ("carrier-a", "unknown", "", 0),
            NUMBERS[4]: ("carrier-a", "submitting", "", 0),
            NUMBERS[5]: ("carrier-a", "queued", "", 0),
            NUMBERS[6]: ("carrier-b", "failed", "receipt", 0)}


SUBMITTED_AT = 1_764_750_000  # 2025-12-03T08:20:00Z
DONE_AT = SUBMITTED_AT + 7
"""The clock of two_channel_run's transitions: at submit, then at the receipts."""


def csv_rows(data: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(data))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


async def test_csv_export_has_one_row_a_recipient_where_it_ended(redis: Redis,
                                                                 tmp_path: Path) -> None:
    expected = await two_channel_run(redis)
    out = tmp_path / "run.csv"
    result = await export_run(redis, KEYS, str(out), ExportFormat.CSV, unmasked=True, page=2)
    rows = csv_rows(out.read_text())
    assert result.rows == len(rows) == len(NUMBERS)
    assert {r["number"]: (r["channel"], r["state"], r["error"], int(r["clicks"]))
            for r in rows} == expected
    by_number = {r["number"]: r for r in rows}
    assert by_number[NUMBERS[0]]["firstClick"] == "2026-01-01T00:00:00Z"
    assert {n: (r["segments"], r["submitted"], r["done"]) for n, r in by_number.items()} == {
        NUMBERS[0]: ("1", "2025-12-03T08:20:00Z", "2025-12-03T08:20:07Z"),
        NUMBERS[1]: ("2", "2025-12-03T08:20:00Z", ""),  # its receipt not in yet
        NUMBERS[2]: ("", "", "2025-12-03T08:20:00Z"),  # refused at submit
        NUMBERS[3]: ("", "", ""),  # unknown: never answered
        NUMBERS[4]: ("", "", ""), NUMBERS[5]: ("", "", ""),
        NUMBERS[6]: ("1", "2025-12-03T08:20:00Z", "2025-12-03T08:20:07Z")}
    assert not (tmp_path / "run.csv.partial").exists()


async def test_parquet_export_masks_numbers_by_default(redis: Redis, tmp_path: Path) -> None:
    expected = await two_channel_run(redis)
    out = tmp_path / "run.parquet"
    result = await export_run(redis, KEYS, str(out), ExportFormat.PARQUET)
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    rows = table.to_pylist()
    assert result.rows == len(rows) == len(NUMBERS)
    masked = {n[:3] + "*" * (len(n) - 7) + n[-4:]: v for n, v in expected.items()}
    assert {r["number"]: (r["channel"], r["state"], r["error"], r["clicks"])
            for r in rows} == masked
    clicked = next(r for r in rows if r["clicks"])
    assert clicked["firstClick"].timestamp() == 1767225600
    assert (clicked["segments"], clicked["submitted"].timestamp(),
            clicked["done"].timestamp()) == (1, SUBMITTED_AT, DONE_AT)
    assert sorted(r["submitted"] is None for r in rows) == [False] * 3 + [True] * 4


async def test_export_of_a_run_that_is_gone_says_so(redis: Redis, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no run in Redis"):
        await export_run(redis, KEYS, str(tmp_path / "x.csv"), ExportFormat.CSV)


async def test_export_url_without_credentials_is_refused(redis: Redis) -> None:
    await two_channel_run(redis)
    with pytest.raises(ExportError, match="an export URL needs credentials"):
        await export_run(redis, KEYS, "s3://exports/run.csv", ExportFormat.CSV)
    with pytest.raises(ExportError, match="s3://BUCKET/KEY"):
        await export_run(redis, KEYS, "https://exports/run.csv", ExportFormat.CSV,
                         credentials=S3Credentials("a", "b"))


# -- an S3-compatible server: moto's, real HTTP on loopback ----------------------------------

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


async def test_export_streams_to_s3(redis: Redis, s3_server: S3Credentials) -> None:
    expected = await two_channel_run(redis)
    client = s3_client(s3_server)
    client.create_bucket(Bucket="exports")
    result = await export_run(redis, KEYS, "s3://exports/runs/exported.csv", ExportFormat.CSV,
                              credentials=s3_server, unmasked=True)
    body = client.get_object(Bucket="exports", Key="runs/exported.csv")["Body"].read()
    rows = csv_rows(body.decode())
    assert result.rows == len(rows) == len(expected)
    assert {r["number"]: r["state"] for r in rows} == {n: v[1] for n, v in expected.items()}


async def test_s3_export_to_a_missing_bucket_leaves_nothing(redis: Redis,
                                                            s3_server: S3Credentials) -> None:
    await two_channel_run(redis)
    with pytest.raises(ExportError, match=r"cannot write s3://no-such-bucket/x\.csv"):
        await export_run(redis, KEYS, "s3://no-such-bucket/x.csv", ExportFormat.CSV,
                         credentials=s3_server)
    assert json.dumps(str(s3_server)).find("herald-secret") == -1  # repr hides the secret


# -- the operator's decisions (controllers.decisions.campaign_export) -------------------------

OWNER = Owner("shop", "sale", "uid-1")
TO_S3 = CampaignExport.model_validate({
    "format": "Parquet", "unmaskedSecretRef": {"name": "s3"},
    "destination": {"url": "s3://exports/sale.parquet", "credentialsSecretRef": {"name": "s3"}}})
TO_CLAIM = CampaignExport.model_validate({"destination": {"persistentVolumeClaim": {
    "claimName": "results", "path": "runs/sale.csv"}}})
RECORD = json.dumps({"rows": 7, "location": "pvc://results/runs/sale.csv", "format": "Csv",
                     "unmasked": False, "completionTime": "2026-12-03T12:00:00+00:00"})


def export_plan(export: CampaignExport | None = TO_CLAIM, old: ExportStatus | None = None,
                **seen: Any) -> ExportPlan:
    world: dict[str, Any] = {"final": True, "record": "", "error": "", "job_failed": False,
             "job_message": "", "job_exists": False} | seen
    return plan_export(OWNER, export, old, pods=PodSettings(), **world)


@pytest.mark.parametrize("plan, jobs, owed, status, events", [
    pytest.param(export_plan(final=False), 0, False, None, [], id="running-no-job-yet"),
    pytest.param(export_plan(None), 0, False, None, [], id="no-export-asked"),
    pytest.param(export_plan(), 1, True, ("pvc://results/runs/sale.csv", None, ""), [],
                 id="finished-the-job-is-created"),
    pytest.param(export_plan(job_exists=True, error="cannot write x"), 0, True,
                 ("pvc://results/runs/sale.csv", None, "cannot write x"), [],
                 id="retrying-shows-the-error"),
    pytest.param(export_plan(record=RECORD), 0, False, ("pvc://results/runs/sale.csv", 7, ""),
                 ["ExportWritten"], id="written"),
    pytest.param(export_plan(record=RECORD, old=ExportStatus(
        completion_time=datetime(2026, 12, 3, 12, tzinfo=UTC))), 0, False,
                 ("pvc://results/runs/sale.csv", 7, ""), [], id="written-event-once"),
    pytest.param(export_plan(job_exists=True, job_failed=True, error="cannot write x"), 0,
                 False, ("pvc://results/runs/sale.csv", None, "cannot write x"),
                 ["ExportFailed"], id="failed-for-good-the-keys-may-go"),
    pytest.param(export_plan(None, final=False, old=ExportStatus(
        location="pvc://results/runs/sale.csv", rows=7,
        completion_time=datetime(2026, 12, 3, 12, tzinfo=UTC))), 0, False,
                 ("pvc://results/runs/sale.csv", 7, ""), [],
                 id="written-status-outlives-the-keys-and-the-spec"),
    pytest.param(export_plan(None, record=RECORD), 0, False,
                 ("pvc://results/runs/sale.csv", 7, ""), ["ExportWritten"],
                 id="spec-dropped-after-the-export-keeps-its-status"),
])
def test_export_plan(plan: ExportPlan, jobs: int, owed: bool,
                     status: tuple[str, int | None, str] | None, events: list[str]) -> None:
    assert (len(plan.create), plan.owed) == (jobs, owed)
    assert (None if plan.status is None else (plan.status.location, plan.status.rows,
                                              plan.status.error)) == status
    assert [e.reason for e in plan.events] == events


def test_export_job_of_a_url_takes_its_credentials_from_the_secret() -> None:
    job = build_export_job(OWNER, TO_S3, PodSettings())
    pod = job["spec"]["template"]["spec"]
    (exporter,) = pod["containers"]
    assert exporter["args"] == ["export", "--campaign", "shop/sale"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in exporter["env"]}
    assert env["HERALD_EXPORT_DESTINATION"] == "s3://exports/sale.parquet"
    assert (env["HERALD_EXPORT_FORMAT"], env["HERALD_EXPORT_UNMASKED"]) == ("Parquet", "true")
    assert env["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "s3",
                                                             "key": "secretAccessKey"}}
    assert env["AWS_ENDPOINT_URL"] == {"secretKeyRef": {"name": "s3", "key": "endpoint",
                                                        "optional": True}}
    assert job["metadata"]["name"] == "sale-export"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_export_job_of_a_claim_mounts_it() -> None:
    pod = build_export_job(OWNER, TO_CLAIM, PodSettings())["spec"]["template"]["spec"]
    (exporter,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in exporter["env"]}
    assert env["HERALD_EXPORT_DESTINATION"] == "/export/runs/sale.csv"
    assert env["HERALD_EXPORT_UNMASKED"] == "false"
    assert {"name": "export", "mountPath": "/export"} in exporter["volumeMounts"]
    assert {"name": "export", "persistentVolumeClaim": {"claimName": "results"}} in pod[
        "volumes"]
    assert not any(name.startswith("AWS_") for name in env)


def test_the_bench_runs_and_reports_both_sides() -> None:
    """bench/export.py stays runnable (no timing asserted)."""
    import subprocess
    import sys

    bench = Path(__file__).resolve().parent.parent / "bench" / "export.py"
    done = subprocess.run([sys.executable, str(bench), "--rows", "2000", "--timeout", "60"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["same_rows"] is True, report
    for side in ("herald_csv", "peer_csv", "herald_parquet", "peer_parquet"):
        assert report[side]["rows"] == 2000 and report[side]["peak_rss_mb"] > 0, report
    assert report["redis_bytes_per_recipient"] > 0


@pytest.mark.parametrize("record", [
    pytest.param("", id="none"), pytest.param("{not json", id="not-json"),
    pytest.param("[1]", id="not-an-object"),
    pytest.param('{"rows": "many"}', id="not-a-status"),
])
def test_an_unreadable_export_record_is_no_status_not_a_crash(record: str) -> None:
    assert export_status(record) is None


def test_an_unknown_export_format_in_the_pod_is_an_export_error() -> None:
    with pytest.raises(ExportError, match="HERALD_EXPORT_FORMAT 'xlsx' is not one of"):
        job_settings({"HERALD_EXPORT_DESTINATION": "/tmp/x.csv",
                      "HERALD_EXPORT_FORMAT": "xlsx"})
