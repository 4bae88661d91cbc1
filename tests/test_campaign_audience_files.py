"""Audience files through the whole operator stack (emulated API, local Jobs, real Redis
and the SMPP simulator): an XLSX in a ConfigMap's binaryData and a GBK CSV in a Secret
are sent with their Chinese names intact; a missing ConfigMap, Secret or key is named
before any importer Job exists, and the campaign goes on once it appears; a header
without the phone column and an unknown encoding end in clear conditions."""

from __future__ import annotations

import asyncio
import base64
import io
from collections import defaultdict
from typing import Any

import openpyxl
import pytest

from herald.local.kube.client import wait_for
from herald.local.stack import Stack
from sender.smpp.pdu import split_udh
from tests.test_campaign_bad_input import named, ready, settles
from tests.test_campaign_operator import NS, TIMEOUT, events_include, stack, wait_delivered

__all__ = ["stack"]  # the fixture, shared with the campaign operator tests
pytestmark = pytest.mark.timeout(240)

NAMES = ["王小明", "李华", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽"]
ESM_UDHI = 0x40


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "名单"
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def texts(stack: Stack) -> dict[str, str]:
    """Destination -> the whole text it was sent (parts joined in order)."""
    parts: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for message in stack.simulator.accepted:
        body = message.short_message
        if message.esm_class & ESM_UDHI:
            body = split_udh(body)[1]
        text = body.decode("utf-16-be") if message.data_coding == 8 else body.decode("latin-1")
        seq = message.concat.seqnum if message.concat is not None else 1
        parts[message.destination.lstrip("+")].append((seq, text))
    return {number: "".join(t for _, t in sorted(p)) for number, p in parts.items()}


async def test_files_as_people_have_them_are_sent_with_their_names(stack: Stack) -> None:
    kube = stack.kube
    sheet: list[list[Any]] = [["phone", "name", "code"]]
    sheet += [[13800130000 + i if i % 2 else float(13800130000 + i), NAMES[i], f"X{i}"]
              for i in range(8)]
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "xlsx"},
                       "binaryData": {"list.xlsx": b64(xlsx(sheet))}})
    gbk = "phone,name,code\r\n" + "".join(f"1390013{i:04d},{NAMES[i]},G{i}\r\n"
                                          for i in range(8))
    await kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gbk"},
                       "data": {"recipients.csv": b64(gbk.encode("gbk"))}})
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mobile"},
                       "data": {"recipients.csv": "mobile,name,code\n13700137000,王,C\n"}})
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "xlsx-2"},
                       "binaryData": {"recipients.csv": b64(xlsx([["手机", "姓名"],
                                                                  [13600136000, "王"]]))}})
    region = {"defaultRegion": "CN"}
    await asyncio.gather(
        kube.create(named("from-xlsx", audience={
            **region, "configMapRef": {"name": "xlsx", "key": "list.xlsx"}})),
        kube.create(named("from-gbk", audience={**region, "secretRef": {"name": "gbk"}})),
        kube.create(named("csv-no-phone", audience={**region,
                                                     "configMapRef": {"name": "mobile"}})),
        kube.create(named("xlsx-no-phone", audience={**region, "format": "Xlsx",
                                                      "configMapRef": {"name": "xlsx-2"}})),
        kube.create(named("bad-encoding", audience={**region, "encoding": "klingon",
                                                     "configMapRef": {"name": "mobile"}})),
    )

    failed = {name: await settles(stack, name, reason) for name, reason in [
        ("csv-no-phone", "ImportFailed"), ("xlsx-no-phone", "ImportFailed"),
        ("bad-encoding", "UnknownEncoding")]}
    assert ("the CSV file has no column 'phone' (audience.columns.phone); its header has"
            " 'mobile', 'name', 'code'") in ready(failed["csv-no-phone"])["message"]
    assert ("sheet '名单' of the audience file has no column 'phone' (audience.columns.phone);"
            " its header has '手机', '姓名'") in ready(failed["xlsx-no-phone"])["message"]
    assert "audience.encoding 'klingon' is not a text encoding" in ready(
        failed["bad-encoding"])["message"]
    for body in failed.values():
        await events_include(stack, body, ready(body)["reason"])
    assert await kube.find("batch/v1", "Job", NS, "bad-encoding-import") is None

    for name in ("from-xlsx", "from-gbk"):
        await stack.wait_for_phase(NS, name, "Completed", timeout=TIMEOUT)
        done = await wait_delivered(stack, 8, name)
        assert done["status"]["counters"]["total"] == 8
    sent = texts(stack)
    for i, name in enumerate(NAMES):  # 【Herald】王小明您好，…优惠码X0…
        for number, code in ((f"861380013{i:04d}", f"X{i}"), (f"861390013{i:04d}", f"G{i}")):
            assert sent[number].startswith(f"【Herald】{name}"), sent[number]
            assert code in sent[number], sent[number]
    assert not any("\ufffd" in text for text in sent.values())


async def test_a_missing_audience_is_named_before_the_importer_then_waited_for(
    stack: Stack
) -> None:
    kube = stack.kube
    await kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vip"},
                       "data": {"other.csv": b64(b"phone\n13800138000\n")}})
    await kube.create(named("later", audience={"defaultRegion": "CN",
                                               "configMapRef": {"name": "later-list"}}))
    await kube.create(named("wrong-key", audience={"defaultRegion": "CN", "secretRef": {
        "name": "vip", "key": "vip.csv"}}))

    later = await settles(stack, "later", "AudienceNotFound")
    assert ready(later)["message"] == (
        "waiting for ConfigMap later-list (audience key 'recipients.csv'): it does not exist")
    wrong = await settles(stack, "wrong-key", "AudienceNotFound")
    assert ready(wrong)["message"] == "waiting for key 'vip.csv' in Secret vip: it has 'other.csv'"
    for body in (later, wrong):
        await events_include(stack, body, "AudienceNotFound")
        warnings = [e for e in await kube.events_for(body) if e["reason"] == "AudienceNotFound"]
        assert warnings[0]["type"] == "Warning"
        stalled = [c for c in body["status"]["conditions"] if c["type"] == "Stalled"]
        assert stalled[0]["status"] == "True"
    assert await kube.find("batch/v1", "Job", NS, "later-import") is None
    assert await kube.find("batch/v1", "Job", NS, "wrong-key-import") is None

    rows = "phone,name,code\n" + "".join(f"1350013{i:04d},{NAMES[i]},C{i}\n" for i in range(5))
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later-list"},
                       "data": {"recipients.csv": rows}})
    await stack.wait_for_phase(NS, "later", "Completed", timeout=TIMEOUT)
    await wait_delivered(stack, 5, "later")
    still = await wait_for(lambda: stack.campaign(NS, "wrong-key"), timeout=TIMEOUT,
                           message="wrong-key lost its reason",
                           until=lambda c: ready(c)["reason"] == "AudienceNotFound")
    assert still["status"]["phase"] == "Pending"
