"""The ingest API of trigger Api campaigns (sender.ingest, sender.store.ingest_queue).

Its decisions as tables (the token, the key, the body, Retry-After, ids and states), then
the API over real HTTP on a real redis-server, with the campaign's run as the operator
leaves it: a new event is 202 and lands in its number's shard stream; the same key is
the same message, never a second; a reused key for another event is 422; no token 401,
another campaign's token 403, no campaign 404, a campaign that takes no events 409; a
malformed body 400, an oversized one 413; a full queue 429 with Retry-After; a cancelled
campaign 409. Logs never carry the token nor a whole number. And the normal sender,
following its stream, sends what is posted, before and after it started, once each,
as the simulator's record shows."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import pytest

from herald.local.kube.client import wait_for
from sender.ingest.events import (
    MAX_BODY_BYTES,
    Event,
    Problem,
    bearer_token,
    check_idempotency_key,
    message_id,
    message_key,
    parse_event,
    retry_after_seconds,
    state_view,
)
from sender.ingest.process import serving
from sender.ingest_run import IngestRun, token_digest
from sender.send.process import run_shard
from sender.simulator.config import SimulatorConfig
from sender.simulator.server import Simulator
from sender.sms.lanes import Lanes
from sender.sms.numbers import shard_of
from sender.store.client import Redis
from sender.store.ingest_queue import (
    IngestQueue,
    close_ingest,
    open_trigger_run,
    write_ingest,
)
from sender.store.keys import CampaignKeys
from sender.store.transitions import read_counters
from tests.run_configs import run_config

TOKEN = "s3cret-token-of-alerts-0123456789"
OTHER_TOKEN = "another-campaigns-token-9876543210"
NUMBER = "+8613800138000"
PATH = "/v1/namespaces/shop/campaigns/{name}/messages"


def ingest_run(**fields: Any) -> IngestRun:
    return IngestRun.model_validate({
        "token_sha256": token_digest(TOKEN), "shards": 4, "max_queued": 100,
        "retention_seconds": 3600, "rate_per_second": 10,
        "required": {"": ["code"]}} | fields)


# -- decisions ---------------------------------------------------------------------------

@pytest.mark.parametrize("header, token", [
    pytest.param(None, None, id="none"),
    pytest.param("", None, id="empty"),
    pytest.param("Basic dXNlcjpwdw==", None, id="basic"),
    pytest.param("Bearer", None, id="no-token"),
    pytest.param("Bearer abc", "abc", id="bearer"),
    pytest.param("bearer  abc ", "abc", id="case-and-spaces"),
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("key, reason", [
    pytest.param(None, "MissingIdempotencyKey", id="missing"),
    pytest.param("", "InvalidIdempotencyKey", id="empty"),
    pytest.param("has space", "InvalidIdempotencyKey", id="space"),
    pytest.param("x" * 256, "InvalidIdempotencyKey", id="too-long"),
    pytest.param("order-42:sms", None, id="ok"),
    pytest.param("x" * 255, None, id="longest"),
])
def test_idempotency_key(key: str | None, reason: str | None) -> None:
    problem = check_idempotency_key(key)
    assert (problem.reason if problem else None) == reason


def body(**fields: Any) -> bytes:
    return json.dumps({"phone": NUMBER, "variables": {"code": "1234"}} | fields).encode()


@pytest.mark.parametrize("raw, status, reason", [
    pytest.param(b"{", 400, "MalformedBody", id="not-json"),
    pytest.param(b"[]", 400, "MalformedBody", id="not-object"),
    pytest.param(body(extra=1), 400, "MalformedBody", id="unknown-field"),
    pytest.param(json.dumps({"variables": {}}).encode(), 400, "MissingNumber",
                 id="no-phone"),
    pytest.param(body(phone="+86123456"), 400, "InvalidNumber", id="invalid-number"),
    pytest.param(body(phone="+862012345678"), 400, "NotMobile", id="landline"),
    pytest.param(body(variables=[]), 400, "MalformedBody", id="variables-list"),
    pytest.param(body(variables={"code": {"a": 1}}), 400, "MalformedBody", id="nested"),
    pytest.param(body(variables={"1x": "a"}), 400, "MalformedBody", id="bad-name"),
    pytest.param(body(variables={"code": "x" * 257}), 400, "MalformedBody",
                 id="long-value"),
    pytest.param(body(variables={}), 400, "MissingVariables", id="missing-variable"),
    pytest.param(b" " * (MAX_BODY_BYTES + 1), 413, "BodyTooLarge", id="oversized"),
])
def test_refused_bodies(raw: bytes, status: int, reason: str) -> None:
    problem = parse_event(raw, ingest_run())
    assert isinstance(problem, Problem)
    assert (problem.status, problem.reason) == (status, reason)


def test_event_of_a_body() -> None:
    event = parse_event(body(phone="13800138000", variables={"code": 1234}),
                        ingest_run(default_region="CN"))
    assert isinstance(event, Event)
    assert (event.number, event.variables, event.shard, event.zone) == (
        NUMBER, {"code": "1234"}, shard_of(NUMBER, 4), "")
    same = parse_event(body(), ingest_run())
    assert isinstance(same, Event) and same.fingerprint == event.fingerprint


@pytest.mark.parametrize("number, zone", [
    pytest.param(NUMBER, "Asia/Shanghai", id="one-zone"),
    pytest.param("+12125550123", "America/New_York", id="prefix-zone"),
])
def test_event_zone_when_recipients_are_timed(number: str, zone: str) -> None:
    event = parse_event(body(phone=number), ingest_run(recipient_zones=True))
    assert isinstance(event, Event) and event.zone == zone


ROUTED = [{"name": "cn", "routing": {"countries": ["CN"]}},
          {"name": "down", "available": False, "routing": {"prefixes": ["+1", "+61"]}},
          {"name": "us", "routing": {"prefixes": ["+1"]}}]


@pytest.mark.parametrize("number, channel", [
    pytest.param(NUMBER, 0, id="first-that-serves"),
    pytest.param("+12125550123", 2, id="unavailable-passed-over"),
    pytest.param("+61412345678", 1, id="only-the-unavailable-serves-it-waits-for-it"),
])
def test_an_event_is_queued_in_the_lane_of_its_channel(number: str, channel: int) -> None:
    run = ingest_run(channels=ROUTED)
    event = parse_event(body(phone=number), run)
    assert isinstance(event, Event)
    assert event.shard == run.lanes.lane(shard_of(number, 4), channel)


def test_an_event_no_channel_serves_is_refused_unroutable() -> None:
    problem = parse_event(body(phone="+85291234567"), ingest_run(channels=ROUTED))
    assert isinstance(problem, Problem) and (problem.status, problem.reason) == (
        422, "Unroutable")
    assert "HK" in problem.message and "91234567" not in problem.message  # masked


@pytest.mark.parametrize("queued, bound, rate, seconds", [
    pytest.param(100, 100, 10, 1, id="at-bound"),
    pytest.param(150, 100, 10, 6, id="over"),
    pytest.param(100, 100, 1000, 1, id="fast"),
    pytest.param(5, 5, 1, 1, id="slow"),
])
def test_retry_after(queued: int, bound: int, rate: int, seconds: int) -> None:
    assert retry_after_seconds(queued, bound, rate) == seconds


def test_message_ids() -> None:
    assert message_id("3/1764672000000-0") == "3-1764672000000-0"
    assert message_key("3-1764672000000-0") == "3/1764672000000-0"
    assert message_key("x-1-0") is None and message_key("3-abc") is None


@pytest.mark.parametrize("code, view", [
    pytest.param("", {"state": "queued"}, id="queued"),
    pytest.param("s:ab12 cd34", {"state": "submitted", "smscMessageIds": ["ab12", "cd34"]},
                 id="submitted"),
    pytest.param("D", {"state": "delivered"}, id="delivered"),
    pytest.param("F:0x00000045", {"state": "failed", "error": "0x00000045"}, id="failed"),
    pytest.param("s:ab12 cd34~2,1764672000,",
                 {"state": "submitted", "smscMessageIds": ["ab12", "cd34"], "segments": 2,
                  "submitTime": "2025-12-02T10:40:00Z"}, id="submitted-stamped"),
    pytest.param("F:0x00000045~,,1764672005",
                 {"state": "failed", "error": "0x00000045", "doneTime": "2025-12-02T10:40:05Z"},
                 id="refused-stamped"),
    pytest.param("D~1,1764672000,1764672003",
                 {"state": "delivered", "segments": 1, "submitTime": "2025-12-02T10:40:00Z",
                  "doneTime": "2025-12-02T10:40:03Z"}, id="delivered-stamped"),
])
def test_state_view(code: str, view: dict[str, Any]) -> None:
    assert state_view(code) == view


# -- over HTTP, on Redis -----------------------------------------------------------------

class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def post(self, name: str, data: bytes | None = None, *, key: str | None = "k1",
                   token: str | None = TOKEN) -> tuple[int, dict[str, Any], Any]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.post(self.base + PATH.format(name=name),
                                     data=body() if data is None else data,
                                     headers=headers) as response:
            return response.status, await response.json(), response.headers

    async def get(self, name: str, ident: str, token: str = TOKEN
                  ) -> tuple[int, dict[str, Any]]:
        async with self.session.get(self.base + PATH.format(name=name) + "/" + ident,
                                    headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.json()


async def stream(redis: Redis, keys: CampaignKeys, lane: int | None = None
                 ) -> list[tuple[str, dict[str, str]]]:
    """The entries of NUMBER's shard (of a lane, with several channels)."""
    return cast(list[tuple[str, dict[str, str]]], await redis.xrange(
        keys.shard(shard_of(NUMBER, 4) if lane is None else lane)))


async def open_campaign(redis: Redis, name: str, **fields: Any) -> CampaignKeys:
    """A trigger Api campaign's run as the operator opens it."""
    keys = CampaignKeys("shop", name)
    run = ingest_run(**fields)
    await redis.hset(keys.run, "config", "{}")
    await open_trigger_run(redis, keys, run.lanes.streams)
    await write_ingest(redis, keys, run)
    return keys


@pytest.fixture
async def api(redis: Redis) -> AsyncIterator[Api]:
    async with serving(redis, "127.0.0.1", 0) as port, aiohttp.ClientSession() as session:
        yield Api(session, f"http://127.0.0.1:{port}")


async def test_event_is_queued_once_per_key(redis: Redis, api: Api,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sender.ingest")
    keys = await open_campaign(redis, "alerts")
    status, first, headers = await api.post("alerts")
    assert status == 202 and first["state"] == "queued"
    assert headers["Location"].endswith("/messages/" + first["id"])
    status, again, _ = await api.post("alerts")
    assert status == 200 and again["id"] == first["id"] and again["repeated"]
    status, reused, _ = await api.post("alerts", body(variables={"code": "9"}))
    assert status == 422 and reused["error"] == "IdempotencyKeyReused"

    entries = await stream(redis, keys)
    assert [(e[1]["n"], json.loads(e[1]["x"])) for e in entries] == [(NUMBER, {"code": "1234"})]
    assert message_id(f"{shard_of(NUMBER, 4)}/{entries[0][0]}") == first["id"]
    counters = await read_counters(redis, keys)
    assert (counters.total, counters.queued) == (1, 1)

    status, seen = await api.get("alerts", first["id"])
    assert status == 200 and seen["state"] == "queued"
    assert (await api.get("alerts", "0-1-0"))[0] == 404
    assert (await api.get("alerts", first["id"], OTHER_TOKEN))[0] == 403

    status, second, _ = await api.post("alerts", key="k2")
    assert status == 202 and second["id"] != first["id"]
    assert (await read_counters(redis, keys)).total == 2
    logs = caplog.text
    assert TOKEN not in logs and NUMBER not in logs and "+86*******8000" in logs


async def test_a_routed_event_goes_to_its_channels_lane_and_total(redis: Redis,
                                                                  api: Api) -> None:
    keys = await open_campaign(redis, "routed", channels=ROUTED)
    status, answer, _ = await api.post("routed", body(phone="+12125550123"))
    assert status == 202
    lane = Lanes(4, 3).lane(shard_of("+12125550123", 4), 2)  # channel us, the third
    assert answer["id"].startswith(f"{lane}-")
    assert len(await stream(redis, keys, lane)) == 1
    assert await redis.hget(keys.counters, "channel:us:total") == "1"
    status, refused, _ = await api.post("routed", body(phone="+85291234567"),
                                        key="hk-1")
    assert (status, refused["error"]) == (422, "Unroutable")


async def test_key_forgotten_after_retention(redis: Redis) -> None:
    keys = await open_campaign(redis, "alerts")
    queue, run = IngestQueue(redis), ingest_run(retention_seconds=60)
    args = (keys, run, "k", 0, NUMBER, "", {"code": "1"}, "f")
    first = await queue.enqueue(*args, now_ms=1_000_000)
    assert first.outcome == "new"
    assert (await queue.enqueue(*args, now_ms=1_059_000)).message == first.message
    later = await queue.enqueue(*args, now_ms=1_061_000)
    assert later.outcome == "new" and later.message != first.message


async def test_zone_written_as_the_importer_does(redis: Redis, api: Api) -> None:
    keys = await open_campaign(redis, "timed", recipient_zones=True)
    assert (await api.post("timed"))[0] == 202
    (_, entry), = await stream(redis, keys)
    assert entry["z"] == "Asia/Shanghai"
    assert await redis.hget(keys.counters, "zone:ZoneFromNumber") == "1"


@pytest.mark.parametrize("name, token, key, data, status, reason", [
    pytest.param("alerts", None, "k", None, 401, "Unauthenticated", id="no-token"),
    pytest.param("alerts", OTHER_TOKEN, "k", None, 403, "Forbidden", id="wrong-token"),
    pytest.param("nothing", TOKEN, "k", None, 404, "CampaignNotFound", id="no-campaign"),
    pytest.param("audience", TOKEN, "k", None, 409, "NotTriggerApi", id="not-trigger"),
    pytest.param("alerts", TOKEN, None, None, 400, "MissingIdempotencyKey", id="no-key"),
    pytest.param("alerts", TOKEN, "k", b"{nope", 400, "MalformedBody", id="malformed"),
    pytest.param("alerts", TOKEN, "k", b"{" + b" " * MAX_BODY_BYTES + b"}", 413,
                 "BodyTooLarge", id="oversized"),
])
async def test_refusals(redis: Redis, api: Api, name: str, token: str | None,
                        key: str | None, data: bytes | None, status: int,
                        reason: str) -> None:
    keys = await open_campaign(redis, "alerts")
    await redis.hset(CampaignKeys("shop", "audience").run, "config", "{}")
    answer, problem, headers = await api.post(name, data, key=key, token=token)
    assert (answer, problem["error"]) == (status, reason)
    assert problem["message"]
    if status == 401:
        assert headers["WWW-Authenticate"].startswith("Bearer")
    assert (await read_counters(redis, keys)).total == 0


async def test_full_queue_is_429_with_retry_after(redis: Redis, api: Api) -> None:
    keys = await open_campaign(redis, "alerts", max_queued=3, rate_per_second=2)
    for i in range(3):
        assert (await api.post("alerts", key=f"k{i}"))[0] == 202
    status, problem, headers = await api.post("alerts", key="k3")
    assert (status, problem["error"], headers["Retry-After"]) == (429, "QueueFull", "1")
    assert (await read_counters(redis, keys)).total == 3
    # One sent: room for one more, and the refused key was not taken.
    await redis.hincrby(keys.counters, "delivered", 1)
    assert (await api.post("alerts", key="k3"))[0] == 202


async def test_cancelled_campaign_takes_no_events(redis: Redis, api: Api) -> None:
    keys = await open_campaign(redis, "alerts")
    status, first, _ = await api.post("alerts")
    await close_ingest(redis, keys)
    status, problem, _ = await api.post("alerts", key="k2")
    assert (status, problem["error"]) == (409, "CampaignCancelled")
    assert (await api.get("alerts", first["id"]))[0] == 200


async def test_a_following_sender_sends_what_is_posted(redis: Redis, api: Api) -> None:
    """The campaign's sender (run_shard, following its stream as a trigger campaign's
    Job does) sends each event once: those posted before it started and after, a
    repeated key not again; GET follows the message to delivered; a stop ends it."""
    async with Simulator(SimulatorConfig(port=0, receipt_delay_ms=5, window=0,
                                         seed=7)) as smsc:
        keys = await open_campaign(redis, "alerts", shards=1)
        numbers = [f"+86138000{i:05d}" for i in range(6)]
        ids = []
        for i, number in enumerate(numbers[:3]):
            status, answer, _ = await api.post("alerts", body(phone=number), key=f"e{i}")
            assert status == 202
            ids.append(answer["id"])
        run = run_config("shop", "alerts", port=smsc.port, follow=True)
        stop = asyncio.Event()
        sending = asyncio.create_task(run_shard(run, 0, redis, "herald", stop))
        try:
            await wait_for(lambda: len(smsc.accepted) >= 3, timeout=20,
                           message="the first three sent")
            for i, number in enumerate(numbers[3:], 3):
                assert (await api.post("alerts", body(phone=number), key=f"e{i}"))[0] == 202
            assert (await api.post("alerts", body(phone=numbers[0]), key="e0"))[0] == 200
            await wait_for(lambda: len(smsc.accepted) >= 6, timeout=20,
                           message="the three posted later sent")

            async def state() -> str:
                return str((await api.get("alerts", ids[0]))[1]["state"])
            await wait_for(state, timeout=20, message="delivered",
                           until=lambda s: s == "delivered")
        finally:
            stop.set()
            figures = await asyncio.wait_for(sending, 30)
        assert figures["stopped"]
        assert sorted(m.destination for m in smsc.accepted) == [n[1:] for n in numbers]
        counters = await read_counters(redis, keys)
        assert (counters.total, counters.queued, counters.sent) == (6, 0, 6)
