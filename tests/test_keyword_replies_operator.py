"""Keyword replies end to end on the local stack: a Channel with spec.keywordReplies, the
operator's receiver Deployment run as a `herald receiver` process, MO messages injected
into the SMPP simulator, and the simulator's accepted submits as the judge: HELP and
START round trips, the STOP confirmation once, a label on the number."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from crds.base import API_VERSION
from herald.local.kube.client import wait_for
from herald.local.stack import Stack, running_stack
from sender.simulator.records import AcceptedMessage
from sender.store.client import connect
from sender.store.keys import ChannelKeys
from sender.store.keyword_replies import number_labels
from tests.test_campaign_operator import NS, TIMEOUT, apply_examples
from tests.test_channel_operator import channel_status

pytestmark = pytest.mark.timeout(180)
CHANNEL = "carrier-a"
SHORT_CODE = "10690001"
KEYWORD_REPLIES: dict[str, Any] = {
    "help": {"keywords": ["HELP", "帮助"], "reply": "Acme: reply TD to opt out. 回复TD退订"},
    "optOutReply": "Acme: unsubscribed, no more messages.",
    "optInReply": "Acme: welcome back.",
    "custom": [{"keyword": "JOIN", "reply": "Welcome to Acme VIP.", "label": "vip"}],
}


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        await apply_examples(running)
        yield running


def answers_to(stack: Stack, phone: str) -> list[AcceptedMessage]:
    return [m for m in stack.simulator.accepted if m.destination == phone]


def equals(wanted: int) -> Callable[[int], bool]:
    return lambda count: count == wanted


async def decided(redis: aioredis.Redis, replies: str) -> int:
    """Replies the receiver has read and acked (decided, answered or not)."""
    groups = await redis.xinfo_groups(replies)
    if len(groups) != 1 or groups[0]["pending"]:
        return -1
    return int(groups[0]["entries-read"] or 0)


async def test_keywords_are_answered_through_the_channel_receiver(stack: Stack) -> None:
    kube = stack.kube
    body = await kube.get(API_VERSION, "Channel", NS, CHANNEL)
    body["spec"]["keywordReplies"] = KEYWORD_REPLIES
    body["spec"]["optIn"] = {"keywords": ["START", "UNSTOP"]}
    await kube.replace(body)
    status = await wait_for(
        lambda: channel_status(stack), timeout=TIMEOUT,
        message="KeywordReplies never said Answering, or the receiver never bound",
        until=lambda s: s.get("binds", {}).get("receiverBound") == 1 and any(
            c["type"] == "KeywordReplies" and c["reason"] == "Answering"
            for c in s.get("conditions", [])))
    assert status["binds"]["receiverBound"] == 1
    # The receiver rolled onto a transceiver bind: a Deployment whose pod answers.
    deployment = await kube.get("apps/v1", "Deployment", NS, f"{CHANNEL}-receiver")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "HERALD_CHANNEL_REPLIES" in {e["name"] for e in container["env"]}
    await wait_for(lambda: stack.simulator.bind_counts, timeout=TIMEOUT,
                   until=lambda counts: sum(counts.values()) >= 1,
                   message="the receiver never bound to the simulator")

    help_phone, stop_phone = "8613800000001", "8613800000002"
    stack.simulator.inject_mo(help_phone, SHORT_CODE, "帮助")
    got = await wait_for(lambda: answers_to(stack, help_phone), timeout=TIMEOUT,
                         until=lambda a: len(a) == 1, message="帮助 never answered")
    assert (got[0].source, got[0].text) == (SHORT_CODE, KEYWORD_REPLIES["help"]["reply"])

    redis = connect(stack.redis_url)
    replies = ChannelKeys(NS, CHANNEL).replies
    try:
        # One at a time, as a person types them: each is decided (read and acked) before
        # the next comes, since an answer is decided by the number's standing when it
        # is about to go (a START a moment after a STOP cancels the STOP's confirmation).
        for read, text in enumerate(("TD", "td", "JOIN", "START"), 2):
            stack.simulator.inject_mo(stop_phone, SHORT_CODE, text)
            await wait_for(lambda: decided(redis, replies), timeout=TIMEOUT,
                           message=f"{text} was never decided",
                           until=equals(read))
        # One confirmation for two TD; JOIN came while opted out: no answer, but its label.
        assert [m.text for m in answers_to(stack, stop_phone)] == [
            KEYWORD_REPLIES["optOutReply"], KEYWORD_REPLIES["optInReply"]]
        assert all(m.source == SHORT_CODE for m in answers_to(stack, stop_phone))
        labels = await number_labels(redis, NS, "+" + stop_phone)
        assert list(labels) == ["vip"]
    finally:
        await redis.aclose()
