"""`herald import` against its sources: a real HTTP server on loopback (with and without
the headers a Secret supplies), a Redis list, a bad filter; failures recorded in the run
for the operator's status, with no secret in the message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import pytest
import redis.asyncio as aioredis

from controllers.decisions.campaign_jobs import Owner
from controllers.decisions.campaign_run import build_run_config
from crds.campaign import Campaign
from herald.local.redis import RedisServer
from sender.importer.process import AudienceError, run_import
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
    await write_run(redis, build_run_config(owner, campaign.spec, templates, "carrier-a",
                                            CHANNEL_SPEC, 10.0))


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
