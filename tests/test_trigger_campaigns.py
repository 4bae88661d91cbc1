"""A trigger Api campaign through the operator on the local stack: the example
manifests applied, events posted to `herald ingest`, each sent once through the
following sender Job to the simulator (its record is the judge), the token rotated and
deleted, a cancel closing the API."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from herald.local.kube.client import wait_for
from herald.local.stack import Stack
from sender.ingest.process import serving
from sender.store.client import connect
from tests.test_campaign_operator import TIMEOUT, example, stack

__all__ = ["stack"]  # the fixture: the local stack with the examples applied
pytestmark = pytest.mark.timeout(240)
NS = "default"
NAME = "order-shipped"
TOKEN = "example-token-change-me-0123456789"  # examples/ingest-token.yaml
PATH = f"/v1/namespaces/{NS}/campaigns/{NAME}/messages"


class Ingest:
    """A client of the ingest API the test serves beside the stack."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def post(self, phone: str, key: str, *, token: str | None = TOKEN,
                   **variables: str) -> tuple[int, dict[str, Any]]:
        headers = {"Idempotency-Key": key}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = {"phone": phone, "variables": {"name": "李华", "order": key, "eta": "明天"}
                | variables}
        async with self.session.post(self.base + PATH, json=body, headers=headers) as answer:
            return answer.status, await answer.json()

    async def get(self, message_id: str) -> dict[str, Any]:
        async with self.session.get(f"{self.base}{PATH}/{message_id}",
                                    headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
            found: dict[str, Any] = await answer.json()
            return found


@pytest.fixture
async def ingest(stack: Stack) -> AsyncIterator[Ingest]:
    redis = connect(stack.redis_url)
    try:
        async with (serving(redis, "127.0.0.1", 0) as port,
                    aiohttp.ClientSession() as session):
            yield Ingest(session, f"http://127.0.0.1:{port}")
    finally:
        await redis.aclose()


async def campaign(stack: Stack) -> dict[str, Any]:
    return await stack.campaign(NS, NAME)


async def reason_is(stack: Stack, reason: str) -> dict[str, Any]:
    def ready(body: dict[str, Any]) -> str:
        found = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        return str(found[0]["reason"]) if found else ""
    body: dict[str, Any] = await wait_for(
        lambda: campaign(stack), timeout=TIMEOUT, until=lambda c: ready(c) == reason,
        message=f"campaign {NAME} never had reason {reason}")
    return body


def sent_to(stack: Stack) -> list[str]:
    return [m.destination for m in stack.simulator.accepted]


async def test_posted_events_are_sent_once_each_until_cancelled(
    stack: Stack, ingest: Ingest,
) -> None:
    for doc in (example("template-order-shipped.yaml"), example("campaign-order-shipped.yaml")):
        await stack.kube.create(doc)
    # No token Secret yet: the campaign waits, says which, and takes no event.
    await reason_is(stack, "IngestTokenNotFound")
    assert (await ingest.post("+8613800138000", "early"))[0] == 404
    # A Secret without the key tokenSecretRef names (default `token`) is no token either.
    secret = example("ingest-token.yaml")
    await stack.kube.create(secret | {"stringData": {"other": TOKEN}})
    await wait_for(lambda: campaign(stack), timeout=TIMEOUT,
                   until=lambda c: "has no key token" in c["status"].get("message", ""),
                   message="the missing key never named")
    await stack.kube.patch("v1", "Secret", NS, secret["metadata"]["name"], {
        "data": {"token": base64.b64encode(TOKEN.encode()).decode()}})
    body = await reason_is(stack, "AcceptingEvents")
    assert PATH in body["status"]["message"]

    numbers = [f"+86139{i:08d}" for i in range(20)]
    ids = []
    for i, number in enumerate(numbers):
        status, answer = await ingest.post(number, f"order-{i}")
        assert status == 202, answer
        ids.append(answer["id"])
    status, answer = await ingest.post(numbers[0], "order-0")  # a retried post
    assert (status, answer["id"], answer.get("repeated")) == (200, ids[0], True)
    assert (await ingest.post(numbers[1], "x", token=None))[0] == 401
    assert (await ingest.post(numbers[1], "x", token="not-the-token-0123456789"))[0] == 403

    await wait_for(lambda: _async(sent_to(stack)), timeout=TIMEOUT,
                   until=lambda sent: len(sent) >= 20, message="the 20 events not all sent")
    assert sorted(sent_to(stack)) == sorted(n.lstrip("+") for n in numbers)  # once each
    texts = {m.destination: m.text for m in stack.simulator.accepted}
    assert "订单order-3已发货" in texts[numbers[3].lstrip("+")]
    await wait_for(lambda: ingest.get(ids[0]), timeout=TIMEOUT,
                   until=lambda m: m.get("state") == "delivered", message="never delivered")
    body = await wait_for(lambda: campaign(stack), timeout=TIMEOUT,
                          until=lambda c: c["status"].get("counters", {}).get("delivered") == 20,
                          message="status never counted 20 delivered")
    assert body["status"]["counters"]["total"] == 20
    assert body["status"]["phase"] == "Running"  # a trigger campaign does not complete

    # A rotated token holds within the recheck: the old one is refused, the new taken.
    new = "rotated-token-9876543210fedcba"
    await stack.kube.patch("v1", "Secret", NS, "order-shipped-ingest", {
        "data": {"token": base64.b64encode(new.encode()).decode()}})
    await wait_for(lambda: ingest.get(ids[5]), timeout=TIMEOUT,
                   until=lambda answer: answer.get("error") == "Forbidden",
                   message="the old token still taken")
    assert (await ingest.post(numbers[5], "after-rotation", token=TOKEN))[0] == 403
    status, _ = await ingest.post("+8613900000099", "new-token", token=new)
    assert status == 202
    await wait_for(lambda: _async(sent_to(stack)), timeout=TIMEOUT,
                   until=lambda sent: "8613900000099" in sent, message="not sent")

    # Cancel: the API closes first, what is left is counted, the phase is Cancelled.
    await stack.kube.patch("sms.herald.dev/v1alpha1", "Campaign", NS, NAME,
                           {"spec": {"cancel": True}})
    await stack.wait_for_phase(NS, NAME, "Cancelled", timeout=TIMEOUT)
    await reason_is(stack, "Cancelled")
    status, answer = await ingest.post("+8613900000100", "too-late", token=new)
    assert (status, answer["error"]) == (409, "CampaignCancelled")
    assert len(sent_to(stack)) == 21
    events = [e["reason"] for e in await stack.kube.events_for(await campaign(stack))]
    assert "IngestTokenNotFound" in events and "AcceptingEvents" in events
    assert TOKEN not in json.dumps(await campaign(stack))


async def _async(value: Any) -> Any:
    return value
