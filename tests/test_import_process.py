"""`herald import` against its sources: a real HTTP server on loopback (with and without
the headers a Secret supplies, CSV and XLSX), mounted files in other encodings and
XLSX, a Redis list and stream, a bad filter; failures recorded in the run for the
operator's status, with no secret in the message."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import openpyxl
import pytest
import redis.asyncio as aioredis

from controllers.decisions.campaign_jobs import AUDIENCE_FILE, Owner
from controllers.decisions.campaign_run import build_run_config
from crds.campaign import Campaign
from herald.local.redis import RedisServer
from sender.importer.process import AudienceError, import_part, run_import
from sender.importer.report import read_import_report
from sender.sms.numbers import DropReason
from sender.store.keys import CampaignKeys
from sender.store.run_store import read_run, write_run
from sender.store.transitions import read_counters
from tests.http_server import serving
from tests.test_campaign_plan import CHANNEL_SPEC, TEMPLATES

KEYS = CampaignKeys("shop", "spring")
TOKEN = "Bearer s3cr3t-token"
CSV = "phone,name,code\n" + "".join(f"1380013{i:04d},n{i},C{i}\n" for i in range(30))


@pytest.fixture
async def csv_server() -> AsyncIterator[str]:
    """Serves CSV at /list.csv to requests that carry the Authorization header."""
    async def serve(request: aiohttp.web.Request) -> aiohttp.web.Response:
        if request.headers.get("Authorization") != TOKEN:
            return aiohttp.web.Response(status=401, reason="Unauthorized")
        return aiohttp.web.Response(text=CSV, content_type="text/csv")

    async with serving("/list.csv", serve) as url:
        yield url


@pytest.fixture(autouse=True)
def redis_env(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_REDIS_URL", redis_server.url)


async def start_run(redis: aioredis.Redis, audience: dict[str, Any], **spec: Any) -> None:
    campaign = Campaign.model_validate({
        "apiVersion": "sms.herald.dev/v1alpha1", "kind": "Campaign",
        "metadata": {"name": KEYS.name, "namespace": KEYS.namespace, "uid": "u1",
                     "generation": 1},
        "spec": {"templateRef": {"name": "double-eleven"}, "channels": [{"name": "carrier-a"}],
                 "audience": {"defaultRegion": "CN", **audience}, **spec}})
    owner = Owner(KEYS.namespace, KEYS.name, "u1", 1)
    templates = {"": TEMPLATES["double-eleven"].spec}
    await write_run(redis, build_run_config(owner, campaign.spec, templates,
                                            [("carrier-a", CHANNEL_SPEC)], 10.0))


async def test_an_http_csv_is_imported_with_the_secret_headers(
    redis: aioredis.Redis, csv_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Authorization").write_text(TOKEN + "\n")
    monkeypatch.setenv("HERALD_URL_HEADERS_DIR", str(tmp_path))
    await start_run(redis, {"url": {"url": f"{csv_server}/list.csv",
                                    "headersSecretRef": {"name": "list-auth"}}})
    report = await run_import(KEYS.ref)
    assert report["queued"] == 30
    assert (await read_counters(redis, KEYS)).total == 30
    assert (await read_run(redis, KEYS)).import_error == ""


async def test_a_refused_download_is_recorded_without_the_query(
    redis: aioredis.Redis, csv_server: str
) -> None:
    await start_run(redis, {"url": {"url": f"{csv_server}/list.csv?sig=topsecret"}})
    with pytest.raises(AudienceError) as raised:
        await run_import(KEYS.ref)
    recorded = (await read_run(redis, KEYS)).import_error
    assert recorded == str(raised.value)
    assert "401" in recorded and "/list.csv" in recorded and "topsecret" not in recorded


async def test_a_server_that_is_not_there_is_recorded(redis: aioredis.Redis) -> None:
    await start_run(redis, {"url": {"url": "http://127.0.0.1:9/list.csv?sig=topsecret"}})
    with pytest.raises(AudienceError, match="failed") as raised:
        await run_import(KEYS.ref)
    assert "topsecret" not in str(raised.value)


async def test_a_redis_list_is_imported(redis: aioredis.Redis) -> None:
    await redis.rpush("crm:vip", "13800138000", "13900139000", "12")
    await start_run(redis, {"redisKey": "crm:vip"})
    # The template uses {name} and {code}: a bare list of numbers has neither.
    report = await run_import(KEYS.ref)
    assert (report["queued"], report["invalid"]) == (0, 3)


async def test_a_filter_that_is_not_cel_fails_with_the_reason(
    redis: aioredis.Redis, csv_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Authorization").write_text(TOKEN)
    monkeypatch.setenv("HERALD_URL_HEADERS_DIR", str(tmp_path))
    await start_run(redis, {"url": {"url": f"{csv_server}/list.csv",
                                    "headersSecretRef": {"name": "list-auth"}},
                            "filter": "city == "})
    with pytest.raises(AudienceError, match="not valid CEL"):
        await run_import(KEYS.ref)


# -- audience files: mounted, downloaded, Redis streams ------------------------------------

NAMES = ["王小明", "李华", "张伟", "刘洋", "陈静", "杨帆"]


async def stored(redis: aioredis.Redis, shards: int = 2) -> dict[str, dict[str, str]]:
    """Number -> variables, as the shard entries in Redis hold them."""
    found: dict[str, dict[str, str]] = {}
    for i in range(shards):
        entries: Any = await redis.xrange(KEYS.shard(i))
        for _, fields in entries:
            found[fields["n"]] = json.loads(fields["x"])
    return found


def xlsx_bytes(rows: list[list[Any]], title: str = "名单") -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The importer pod's audience directory, with the file the Job mounts."""
    monkeypatch.setenv("HERALD_AUDIENCE_DIR", str(tmp_path))
    return tmp_path / AUDIENCE_FILE


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "big5", "utf-16", "utf-8-sig"])
async def test_a_mounted_csv_in_any_encoding_stores_the_names(
    redis: aioredis.Redis, mounted: Path, encoding: str
) -> None:
    names = NAMES if encoding != "big5" else ["王小明", "李華", "張偉", "劉洋", "陳靜", "楊帆"]
    text = "phone,name,code\r\n" + "".join(
        f"1380013{i:04d},{names[i % 6]},C{i}\r\n" for i in range(30))
    mounted.write_bytes(text.encode(encoding))
    await start_run(redis, {"configMapRef": {"name": "list"}})
    report = await run_import(KEYS.ref)
    assert (report["queued"], report["invalid"]) == (30, 0)
    got = await stored(redis)
    assert got["+8613800130007"] == {"name": names[1], "code": "C7"}
    assert {v["name"] for v in got.values()} == set(names)


async def test_undecodable_rows_are_counted_and_the_rest_imported(
    redis: aioredis.Redis, mounted: Path
) -> None:
    lines = [f"1380013{i:04d},{NAMES[i % 6]},C{i}\n".encode() for i in range(30)]
    lines[3] = "13800130003,王小明,C3\n".encode("gbk")  # one row from another file
    mounted.write_bytes(b"phone,name,code\n" + b"".join(lines))
    await start_run(redis, {"secretRef": {"name": "list"}})
    await run_import(KEYS.ref)
    report = await read_import_report(redis, KEYS)
    assert (report.total, report.queued, dict(report.reasons)) == (
        30, 29, {DropReason.UNDECODABLE: 1})
    assert "+8613800130003" not in await stored(redis)
    assert all("\ufffd" not in v["name"] for v in (await stored(redis)).values())


async def test_a_mounted_xlsx_with_number_cells_is_imported(
    redis: aioredis.Redis, mounted: Path
) -> None:
    rows: list[list[Any]] = [["2026 双十一名单"], ["phone", "name", "code"]]
    rows += [[13800130000 + i if i % 2 else float(13800130000 + i), NAMES[i % 6], f"C{i}"]
             for i in range(30)]
    mounted.write_bytes(xlsx_bytes(rows))  # named audience.csv, as the Job mounts it
    await start_run(redis, {"secretRef": {"name": "list", "key": "list.xlsx"},
                            "sheet": "名单"})
    report = await run_import(KEYS.ref)
    assert (report["total"], report["queued"]) == (30, 30)
    assert (await stored(redis))["+8613800130004"] == {"name": "陈静", "code": "C4"}


@pytest.mark.parametrize("body, audience, message", [
    pytest.param("手机,姓名\n13800138000,王\n".encode("gbk"), {},
                 "the CSV file has no column 'phone' (audience.columns.phone); its header has"
                 " '手机', '姓名'", id="csv"),
    pytest.param(xlsx_bytes([["mobile", "name"], [13800138000, "王"]]), {},
                 "sheet '名单' of the audience file has no column 'phone'"
                 " (audience.columns.phone); its header has 'mobile', 'name'", id="xlsx"),
    pytest.param(xlsx_bytes([["phone"], [13800138000]]), {"sheet": "Sheet2"},
                 "the audience file has no sheet 'Sheet2' (audience.sheet); its sheets are"
                 " '名单'", id="no-such-sheet"),
    pytest.param(b"phone\n13800138000\n", {"format": "Xlsx"},
                 "the audience file is not an XLSX file", id="csv-said-xlsx"),
    pytest.param(b"phone\n13800138000\n", {"encoding": "klingon"},
                 "audience.encoding 'klingon' is not a text encoding", id="unknown-encoding"),
])
async def test_a_file_that_cannot_be_read_is_recorded_with_the_reason(
    redis: aioredis.Redis, mounted: Path, body: bytes, audience: dict[str, Any], message: str
) -> None:
    mounted.write_bytes(body)
    await start_run(redis, {"configMapRef": {"name": "list"}, **audience})
    with pytest.raises(AudienceError):
        await run_import(KEYS.ref)
    recorded = (await read_run(redis, KEYS)).import_error
    assert recorded.startswith(message), recorded
    assert (await read_counters(redis, KEYS)).total == 0  # nothing half-imported


@pytest.fixture
async def file_server() -> AsyncIterator[tuple[str, dict[str, bytes]]]:
    """Serves the bytes put in the dict at /<name>, streamed in 1000-byte chunks."""
    files: dict[str, bytes] = {}

    async def serve(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        body = files[request.match_info["name"]]
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/csv"})
        await response.prepare(request)
        for i in range(0, len(body), 1000):
            await response.write(body[i:i + 1000])
        await response.write_eof()
        return response

    async with serving("/{name}", serve) as url:
        yield url, files


@pytest.mark.parametrize("file_format", ["Auto", "Xlsx"])
async def test_an_xlsx_over_http_is_imported(
    redis: aioredis.Redis, file_server: tuple[str, dict[str, bytes]], file_format: str
) -> None:
    url, files = file_server
    # Text cells in many rows, so the file is larger than the sniffed sample.
    files["list.xlsx"] = xlsx_bytes(
        [["phone", "name", "code"]]
        + [[13800000000 + i, NAMES[i % 6], f"D11-{i:06d}"] for i in range(5000)])
    assert len(files["list.xlsx"]) > 64 * 1024
    await start_run(redis, {"url": {"url": f"{url}/list.xlsx"}, "format": file_format})
    report = await run_import(KEYS.ref)
    assert (report["total"], report["queued"]) == (5000, 5000)
    assert (await stored(redis))["+8613800004999"] == {"name": NAMES[4999 % 6],
                                                       "code": "D11-004999"}


async def test_an_xlsx_too_large_for_the_pods_disk_is_refused_with_the_reason(
    redis: aioredis.Redis, file_server: tuple[str, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sender.importer import audience_sources

    url, files = file_server
    files["list.xlsx"] = xlsx_bytes([["phone", "code"]]
                                    + [[13800000000 + i, f"D11-{i:06d}"] for i in range(9000)])
    monkeypatch.setattr(audience_sources, "MAX_SPOOLED_BYTES", 100 * 1024)
    await start_run(redis, {"url": {"url": f"{url}/list.xlsx"}})
    with pytest.raises(AudienceError, match="an XLSX file larger than 0 MiB"):
        await run_import(KEYS.ref)


async def test_a_gb18030_csv_over_http_is_imported(
    redis: aioredis.Redis, file_server: tuple[str, dict[str, bytes]]
) -> None:
    url, files = file_server
    files["list.csv"] = ("phone,name,code\r\n" + "".join(
        f"1380013{i:04d},{NAMES[i % 6]},C{i}\r\n" for i in range(5000))).encode("gb18030")
    await start_run(redis, {"url": {"url": f"{url}/list.csv"}})
    report = await run_import(KEYS.ref)
    assert report["queued"] == 5000
    assert (await stored(redis))["+8613800134999"]["name"] == NAMES[4999 % 6]


async def test_a_redis_stream_of_rows_is_imported(redis: aioredis.Redis) -> None:
    for i in range(2500):  # more than one XRANGE page
        await redis.xadd("crm:rows", {"mobile": f"1380013{i:04d}", "name": NAMES[i % 6],
                                      "code": f"C{i}"})
    await start_run(redis, {"redisKey": "crm:rows", "columns": {"phone": "mobile"}})
    report = await run_import(KEYS.ref)
    assert (report["total"], report["queued"]) == (2500, 2500)
    assert (await stored(redis))["+8613800132499"] == {"name": NAMES[2499 % 6],
                                                       "code": "C2499"}


async def test_a_redis_stream_without_the_phone_field_says_so(redis: aioredis.Redis) -> None:
    await redis.xadd("crm:rows", {"tel": "13800138000", "name": "王"})
    await start_run(redis, {"redisKey": "crm:rows"})
    with pytest.raises(AudienceError, match="the first entry of the Redis stream 'crm:rows'"
                                            " has no column 'phone'"):
        await run_import(KEYS.ref)


@pytest.mark.parametrize("parts, index, part", [
    (1, None, 0), (1, "5", 0), (3, "0", 0), (3, "2", 2),
    (3, None, "none"), (3, "3", "'3'"), (3, "x", "'x'"),
])
def test_an_importer_pod_knows_its_part(monkeypatch: pytest.MonkeyPatch, parts: int,
                                        index: str | None, part: int | str) -> None:
    if index is None:
        monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    else:
        monkeypatch.setenv("JOB_COMPLETION_INDEX", index)
    if isinstance(part, int):
        assert import_part(parts) == part
    else:
        with pytest.raises(AudienceError, match=f"needs JOB_COMPLETION_INDEX 0..2.*not {part}"):
            import_part(parts)


def test_the_hot_processes_tune_their_garbage_collector() -> None:
    # In a process of its own: the collector is the whole process's.
    probe = ("import gc; from sender.collector import tune_collector;"
             " tune_collector(); print(gc.get_threshold()[0], gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent).stdout
    assert out.split() == ["10000", "True"]
