"""The SMPP simulator over real TCP on 127.0.0.1: binds, submits, receipts, throttling, MO,
drops, long messages, the control API and the CLI."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import smpplib.client
import smpplib.gsm

from sender.simulator.config import SimulatorConfig, load_config
from sender.simulator.server import Simulator
from sender.smpp.codes import CommandId, CommandStatus, MessageState, Tag
from sender.smpp.pdu import (
    EnquireLink,
    GenericNack,
    SubmitSmResp,
    Unbind,
    encode_frame,
    int_tlv,
    tlv_int,
    tlv_str,
)
from tests.smpp_esme import Esme, eventually

ROK = CommandStatus.ESME_ROK
StartSmsc = Callable[..., Awaitable[Simulator]]
Connect = Callable[..., Awaitable[Esme]]


@pytest.fixture
async def start() -> AsyncIterator[StartSmsc]:
    running: list[Simulator] = []

    async def start_(**fields: Any) -> Simulator:
        fields = {"port": 0, "receipt_delay_ms": 0} | fields
        smsc = Simulator(SimulatorConfig.model_validate(fields))
        await smsc.start()
        running.append(smsc)
        return smsc

    yield start_
    for smsc in running:
        await smsc.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    clients: list[Esme] = []

    async def connect_(smsc: Simulator, mode: str | None = "transceiver",
                       system_id: str = "herald", password: str = "herald") -> Esme:
        esme = await Esme.connect(smsc.port)
        clients.append(esme)
        if mode:
            resp = await esme.bind(mode, system_id, password)
            assert resp.command_status == ROK
        return esme

    yield connect_
    for esme in clients:
        await esme.close()


# Binds


@pytest.mark.parametrize("mode", ["transmitter", "receiver", "transceiver"])
async def test_bind_ok(start: StartSmsc, connect: Connect, mode: str) -> None:
    smsc = await start()
    esme = await connect(smsc, None)
    resp = await esme.bind(mode)
    assert resp.command_id == {"transmitter": CommandId.BIND_TRANSMITTER_RESP,
                               "receiver": CommandId.BIND_RECEIVER_RESP,
                               "transceiver": CommandId.BIND_TRANSCEIVER_RESP}[mode]
    assert (resp.command_status, resp.system_id) == (ROK, "herald-sim")
    assert resp.tlvs[Tag.SC_INTERFACE_VERSION] == b"\x34"
    assert smsc.bind_counts["herald"] == 1


@pytest.mark.parametrize("system_id, password, status", [
    pytest.param("herald", "wrong", CommandStatus.ESME_RINVPASWD, id="bad-password"),
    pytest.param("nobody", "herald", CommandStatus.ESME_RINVSYSID, id="unknown-system-id"),
])  # fmt: skip
async def test_bind_refused(start: StartSmsc, connect: Connect, system_id: str, password: str,
                            status: CommandStatus) -> None:
    smsc = await start()
    esme = await connect(smsc, None)
    assert (await esme.bind("transmitter", system_id, password)).command_status == status
    assert (await esme.bind("transmitter")).command_status == ROK  # the connection stays usable
    assert (await esme.bind("transmitter")).command_status == CommandStatus.ESME_RALYBND
    assert smsc.counters.bind_failures == 2


async def test_max_binds_per_system_id(start: StartSmsc, connect: Connect) -> None:
    smsc = await start(accounts=[{"system_id": "herald", "password": "herald", "max_binds": 2},
                                 {"system_id": "other", "password": "pw"}])
    first = await connect(smsc, "transmitter")
    await connect(smsc, "receiver")
    third = await connect(smsc, None)
    assert (await third.bind("transceiver")).command_status == CommandStatus.ESME_RBINDFAIL
    await connect(smsc, "transceiver", "other", "pw")  # the limit is per system_id
    await first.close()
    await eventually(lambda: smsc.bind_counts["herald"] == 1, message="bind released")
    assert (await third.bind("transceiver")).command_status == ROK


async def test_peak_binds_is_the_most_open_at_once(start: StartSmsc, connect: Connect) -> None:
    """peak_binds counts binds open together, of every account, not binds ever made; a
    reset starts it again from the binds open then."""
    smsc = await start(accounts=[{"system_id": "herald", "password": "herald"},
                                 {"system_id": "other", "password": "pw"}])
    first = await connect(smsc, "transmitter")
    await connect(smsc, "receiver", "other", "pw")
    await first.close()
    await eventually(lambda: sum(smsc.bind_counts.values()) == 1, message="bind released")
    await connect(smsc, "transceiver")
    assert (smsc.counters.binds, smsc.stats()["peak_binds"]) == (3, 2)
    smsc.reset()
    assert smsc.stats()["peak_binds"] == 2  # both still open
    third = await connect(smsc, None)
    assert (await third.bind("transmitter", "other", "pw")).command_status == ROK
    assert smsc.stats()["peak_binds"] == 3


async def test_commands_need_the_right_bind(start: StartSmsc, connect: Connect) -> None:
    smsc = await start()
    unbound = await connect(smsc, None)
    assert (await unbound.submit()).command_status == CommandStatus.ESME_RINVBNDSTS
    receiver = await connect(smsc, "receiver")
    assert (await receiver.submit()).command_status == CommandStatus.ESME_RINVBNDSTS
    assert smsc.counters.accepted == 0


async def test_enquire_link_unknown_command_and_unbind(start: StartSmsc,
                                                       connect: Connect) -> None:
    smsc = await start()
    esme = await connect(smsc)
    assert (await esme.request(EnquireLink())).command_id == CommandId.ENQUIRE_LINK_RESP
    nack = esme.expect(77)
    esme.writer.write(encode_frame(CommandId.QUERY_SM, 0, 77, b"x\x00\x00\x00\x00"))
    assert await asyncio.wait_for(nack, 5) == GenericNack(
        sequence_number=77, command_status=CommandStatus.ESME_RINVCMDID)
    assert (await esme.request(Unbind())).command_id == CommandId.UNBIND_RESP
    await asyncio.wait_for(esme.closed.wait(), 5)
    await eventually(lambda: not smsc.bind_counts, message="unbound")


async def test_bad_command_length_closes_the_connection(start: StartSmsc,
                                                        connect: Connect) -> None:
    smsc = await start()
    esme = await connect(smsc)
    esme.writer.write(b"\x00\x00\x00\x05junk")
    await asyncio.wait_for(esme.closed.wait(), 5)
    assert isinstance(esme.received[-1], GenericNack)
    assert esme.received[-1].command_status == CommandStatus.ESME_RINVCMDLEN


# Submits and receipts


@pytest.mark.parametrize("id_format, pattern", [("hex", r"[0-9a-f]{8}"), ("decimal", r"\d+")])
async def test_message_id_format(start: StartSmsc, connect: Connect, id_format: str,
                                 pattern: str) -> None:
    smsc = await start(message_id_format=id_format, seed=7)
    esme = await connect(smsc)
    ids = [(await esme.submit(f"+861380000000{n}")).message_id for n in range(3)]
    assert all(re.fullmatch(pattern, i) for i in ids), ids
    numbers = [int(i, 16 if id_format == "hex" else 10) for i in ids]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    assert [m.message_id for m in smsc.accepted] == ids
    record = smsc.accepted[0]
    assert (record.system_id, record.source, record.destination, record.short_message) == (
        "herald", "Herald", "+8613800000000", b"Hello there")


async def test_receipt_text_and_tlvs(start: StartSmsc, connect: Connect) -> None:
    smsc = await start()
    esme = await connect(smsc)
    resp = await esme.submit("+8613800000001", b"Your code is 123456, valid 5 min",
                             registered_delivery=1)
    receipt = await esme.next_deliver()
    assert receipt.esm_class == 0x04
    assert (receipt.source_addr, receipt.destination_addr) == ("+8613800000001", "Herald")
    assert re.fullmatch(
        rf"id:{resp.message_id} sub:001 dlvrd:001 submit date:\d{{10}} done date:\d{{10}} "
        r"stat:DELIVRD err:000 text:Your code is 123456,", receipt.short_message.decode())
    assert tlv_str(receipt.tlvs, Tag.RECEIPTED_MESSAGE_ID) == resp.message_id
    assert tlv_int(receipt.tlvs, Tag.MESSAGE_STATE) == MessageState.DELIVERED
    await eventually(lambda: smsc.counters.receipts_acked == 1, message="receipt acked")


async def test_receipt_text_id_can_differ_in_form(start: StartSmsc, connect: Connect) -> None:
    smsc = await start(receipt_id_format="decimal")
    esme = await connect(smsc)
    resp = await esme.submit(registered_delivery=1)
    receipt = await esme.next_deliver()
    assert f"id:{int(resp.message_id, 16)} " in receipt.short_message.decode()
    assert tlv_str(receipt.tlvs, Tag.RECEIPTED_MESSAGE_ID) == resp.message_id


@pytest.mark.parametrize("destination, status, stat, state, err", [
    pytest.param("+4470001", ROK, "DELIVRD", MessageState.DELIVERED, 0, id="no-rule"),
    pytest.param("+4471001", ROK, "UNDELIV", MessageState.UNDELIVERABLE, 1, id="undeliverable"),
    pytest.param("+4472001", ROK, "EXPIRED", MessageState.EXPIRED, 0, id="expired"),
    pytest.param("+4473002", ROK, "REJECTD", MessageState.REJECTED, 11, id="rejected"),
    pytest.param("+44730019", ROK, "DELIVRD", MessageState.DELIVERED, 0, id="longest-prefix"),
    pytest.param("+4474001", CommandStatus.ESME_RINVDSTADR, None, None, None, id="error"),
])  # fmt: skip
async def test_prefix_outcomes(start: StartSmsc, connect: Connect, destination: str,
                               status: CommandStatus, stat: str | None,
                               state: MessageState | None, err: int | None) -> None:
    smsc = await start(rules=[
        {"prefix": "4471", "outcome": "undeliverable"},
        {"prefix": "+4472", "outcome": "expired"},
        {"prefix": "+4473", "outcome": "rejected", "error_code": 11},
        {"prefix": "+4473001", "outcome": "delivered"},
        {"prefix": "+4474", "outcome": "error"}])
    esme = await connect(smsc)
    resp = await esme.submit(destination, registered_delivery=1)
    assert resp.command_status == status
    if status:
        assert resp.message_id == "" and smsc.accepted == []
        assert smsc.counters.submit_errors == 1
        return
    assert state is not None and err is not None
    receipt = await esme.next_deliver()
    assert f"stat:{stat} err:{err:03d} " in receipt.short_message.decode()
    assert tlv_int(receipt.tlvs, Tag.MESSAGE_STATE) == state
    assert (Tag.NETWORK_ERROR_CODE in receipt.tlvs) == bool(err)
    assert smsc.accepted[0].outcome.value == {2: "delivered", 5: "undeliverable", 3: "expired",
                                              8: "rejected"}[state]


async def test_registered_delivery_decides_receipts(start: StartSmsc,
                                                    connect: Connect) -> None:
    smsc = await start(rules=[{"prefix": "+1555", "outcome": "undeliverable"}])
    esme = await connect(smsc)
    await esme.submit("+1000", b"none", registered_delivery=0)
    await esme.submit("+1001", b"failure only, delivered", registered_delivery=2)
    await esme.submit("+1555", b"failure only, failed", registered_delivery=2)
    await esme.submit("+1002", b"always", registered_delivery=1)
    receipts = [await esme.next_deliver() for _ in range(2)]
    texts = sorted(r.short_message.decode().split(" text:")[1] for r in receipts)
    assert texts == ["always", "failure only, failed"]
    assert smsc.counters.receipts_sent == 2


async def test_receipt_goes_to_a_receiver_of_the_same_system_id(start: StartSmsc,
                                                                connect: Connect) -> None:
    smsc = await start(receipt_delay_ms=200)
    transmitter = await connect(smsc, "transmitter")
    receiver = await connect(smsc, "receiver")
    resp = await transmitter.submit(registered_delivery=1)
    receipt = await receiver.next_deliver()
    assert tlv_str(receipt.tlvs, Tag.RECEIPTED_MESSAGE_ID) == resp.message_id
    # The submitting transceiver is gone when its receipt is due: another bind gets it.
    first = await connect(smsc, "transceiver")
    resp = await first.submit(registered_delivery=1)
    await first.close()
    receipt = await receiver.next_deliver()
    assert tlv_str(receipt.tlvs, Tag.RECEIPTED_MESSAGE_ID) == resp.message_id


async def test_unanswered_receipts_are_resent(start: StartSmsc, connect: Connect) -> None:
    smsc = await start(receipt_ack_timeout_ms=100, receipt_retries=2)
    esme = await connect(smsc)
    esme.auto_ack = False
    resp = await esme.submit(registered_delivery=1)
    receipts = [await esme.next_deliver() for _ in range(3)]
    assert {tlv_str(r.tlvs, Tag.RECEIPTED_MESSAGE_ID) for r in receipts} == {resp.message_id}
    assert len({r.sequence_number for r in receipts}) == 3
    await eventually(lambda: smsc.counters.receipts_given_up == 1, message="given up")
    assert (smsc.counters.receipts_sent, smsc.counters.receipts_retried,
            smsc.counters.receipts_acked) == (3, 2, 0)


# Window, throttling, ratios


@pytest.mark.parametrize("status", [CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL],
                         ids=["throttled", "queue-full"])
async def test_window_is_enforced(start: StartSmsc, connect: Connect,
                                  status: CommandStatus) -> None:
    smsc = await start(latency_ms=200, window=5, window_status=status.name)
    esme = await connect(smsc)
    resps = await esme.submit_many([esme.submit_pdu(f"+86{n}") for n in range(8)])
    assert [r.command_status for r in resps] == [ROK] * 5 + [status] * 3
    assert smsc.counters.accepted == 5 and smsc.counters.window_exceeded == 3
    assert [m.destination for m in smsc.accepted] == [f"+86{n}" for n in range(5)]
    # Answered submits free the window.
    assert (await esme.submit()).command_status == ROK


async def test_throttle_bursts(start: StartSmsc, connect: Connect) -> None:
    smsc = await start(throttle={"every": 4, "burst": 2})
    esme = await connect(smsc)
    statuses = [(await esme.submit(f"+86{n}")).command_status for n in range(1, 11)]
    t = CommandStatus.ESME_RTHROTTLED
    assert statuses == [ROK, ROK, ROK, t, t, ROK, ROK, t, t, ROK]
    assert [m.destination for m in smsc.accepted] == ["+861", "+862", "+863", "+866", "+867",
                                                      "+8610"]
    smsc.configure({"throttle": {"every": 0}})
    smsc.throttle_next(2, CommandStatus.ESME_RMSGQFUL)
    statuses = [(await esme.submit()).command_status for _ in range(3)]
    assert statuses == [CommandStatus.ESME_RMSGQFUL] * 2 + [ROK]
    assert (smsc.counters.throttled, smsc.counters.queue_full, smsc.counters.accepted) == (4, 2, 7)


async def test_ratios_are_deterministic_per_seed(start: StartSmsc, connect: Connect) -> None:
    weights = {"delivered": 5, "undeliverable": 2, "expired": 1, "rejected": 1, "error": 1}

    async def outcomes(seed: int) -> list[str]:
        smsc = await start(seed=seed, outcomes=weights)
        esme = await connect(smsc)
        resps = await esme.submit_many([esme.submit_pdu(f"+86{n}") for n in range(300)])
        errors = [r for r in resps if r.command_status]
        assert {r.command_status for r in errors} == {CommandStatus.ESME_RSUBMITFAIL}
        assert len(smsc.accepted) == 300 - len(errors)
        return [m.outcome.value for m in smsc.accepted]

    first, again, other = await outcomes(1), await outcomes(1), await outcomes(2)
    assert first == again != other
    assert set(first) == {"delivered", "undeliverable", "expired", "rejected"}


# MO, drops, long messages


async def test_mo_injection(start: StartSmsc, connect: Connect) -> None:
    smsc = await start()
    smsc.inject_mo("+8613800000009", "10690000", "退订")  # queued until a receiver binds
    await connect(smsc, "transmitter")
    receiver = await connect(smsc, "receiver")
    mo = await receiver.next_deliver()
    assert (mo.esm_class, mo.source_addr, mo.destination_addr) == (0, "+8613800000009",
                                                                   "10690000")
    assert (mo.data_coding, mo.short_message.decode("utf-16-be")) == (8, "退订")
    smsc.inject_mo("+447700900123", "HERALD", "STOP")
    mo = await receiver.next_deliver()
    assert (mo.data_coding, mo.short_message) == (0, b"STOP")
    await eventually(lambda: smsc.counters.mo_acked == 2, message="MO acked")


async def test_drop_connections_now(start: StartSmsc, connect: Connect) -> None:
    smsc = await start()
    clients = [await connect(smsc, mode) for mode in ("transmitter", "receiver")]
    assert smsc.drop_connections() == 2
    for esme in clients:
        await asyncio.wait_for(esme.closed.wait(), 5)
    await eventually(lambda: not smsc.bind_counts, message="binds released")
    again = await connect(smsc, "transceiver")
    assert (await again.submit()).command_status == ROK


async def test_drop_after_submits_loses_the_responses_in_flight(start: StartSmsc,
                                                                connect: Connect) -> None:
    smsc = await start()
    esme = await connect(smsc)
    smsc.drop_after(3)
    with pytest.raises(ConnectionError):
        await esme.submit_many([esme.submit_pdu(f"+86{n}") for n in range(6)])
    # Three accepted, none answered (they were in one read), the rest never processed.
    assert [m.destination for m in smsc.accepted] == ["+860", "+861", "+862"]
    assert not [p for p in esme.received if isinstance(p, SubmitSmResp)]
    again = await connect(smsc)
    assert (await again.submit()).command_status == ROK


async def test_drop_every_submits(start: StartSmsc, connect: Connect) -> None:
    smsc = await start(drop_every_submits=2)
    for _ in range(2):
        esme = await connect(smsc)
        assert (await esme.submit()).command_status == ROK
        with pytest.raises(ConnectionError):  # accepted, but its response never came
            await esme.submit()
    assert smsc.counters.accepted == 4 and smsc.counters.drops == 2


@pytest.mark.parametrize("lose", [False, True], ids=["kept", "lost"])
async def test_a_drop_keeps_or_loses_the_receipts_owed_to_the_connection(
        start: StartSmsc, connect: Connect, lose: bool) -> None:
    smsc = await start(drops_lose_receipts=lose)
    esme = await connect(smsc)
    esme.auto_ack = False
    written = await esme.submit("+861", registered_delivery=1)
    await esme.next_deliver()  # written, never answered
    smsc.configure({"receipt_delay_ms": 60_000})
    await esme.submit("+862", registered_delivery=1)  # its receipt is due in a minute
    smsc.inject_mo("+863", "10690000", "STOP")  # an MO is owed to no connection: it stays
    await esme.next_deliver()
    assert smsc.drop_connections() == 1
    await eventually(lambda: not smsc.bind_counts, message="bind released")
    assert smsc.counters.receipts_lost == (2 if lose else 0)

    again = await connect(smsc)
    resent = [await again.next_deliver() for _ in range(1 if lose else 2)]
    assert sorted((d.esm_class, tlv_str(d.tlvs, Tag.RECEIPTED_MESSAGE_ID)) for d in resent) \
        == [(0, None)] + ([] if lose else [(0x04, written.message_id)])
    # What is still owed: nothing once lost; kept, the receipt due in a minute.
    await eventually(lambda: smsc.deliveries.pending == (0 if lose else 1),
                     message="deliveries settled")
    assert smsc.counters.receipts_sent == (1 if lose else 2)


async def test_long_messages_udh_and_sar(start: StartSmsc, connect: Connect) -> None:
    smsc = await start()
    esme = await connect(smsc)
    parts = [b"\x05\x00\x03\x2a\x03" + bytes((n,)) + text
             for n, text in enumerate((b"first ", b"second ", b"third"), 1)]
    for part in reversed(parts):
        assert (await esme.submit("+861", part, esm_class=0x40)).command_status == ROK
    for n, text in enumerate((b"sar one ", b"sar two"), 1):
        tlvs = {Tag.SAR_MSG_REF_NUM: int_tlv(Tag.SAR_MSG_REF_NUM, 0x101),
                Tag.SAR_TOTAL_SEGMENTS: int_tlv(Tag.SAR_TOTAL_SEGMENTS, 2),
                Tag.SAR_SEGMENT_SEQNUM: int_tlv(Tag.SAR_SEGMENT_SEQNUM, n)}
        await esme.submit("+862", text, tlvs=tlvs)
    long = {m.destination: m for m in smsc.reassembled()}
    assert long["+861"].complete and long["+861"].text == "first second third"
    assert (long["+862"].reference, long["+862"].text) == (0x101, "sar one sar two")
    assert smsc.accepted[0].concat is not None and smsc.accepted[0].concat.seqnum == 3
    assert smsc.counters.per_destination["+861"] == 3


# Control API and CLI


async def test_control_api(start: StartSmsc, connect: Connect) -> None:
    smsc = await start(control_port=0)
    base = f"http://127.0.0.1:{smsc.control_port}"
    esme = await connect(smsc)
    async with aiohttp.ClientSession() as http:

        async def call(method: str, path: str, json: object = None) -> Any:
            async with http.request(method, base + path, json=json) as resp:
                assert resp.status in (200, 202), await resp.text()
                return await resp.json()

        for n in range(3):
            await esme.submit(f"+86{n}")
        stats = await call("GET", "/stats")
        assert (stats["accepted"], stats["bound"]) == (3, {"herald": 1})
        page = await call("GET", "/accepted?since=1&limit=1")
        assert (page["total"], page["next"]) == (3, 2)
        assert page["items"][0]["destination"] == "+861"
        assert page["items"][0]["text"] == "Hello there"

        config = await call("POST", "/config", {"rules": [{"prefix": "+87", "outcome": "error",
                                                           "status": "ESME_RINVDSTADR"}]})
        assert config["rules"][0]["status"] == "ESME_RINVDSTADR"
        assert (await esme.submit("+870")).command_status == CommandStatus.ESME_RINVDSTADR
        async with http.post(base + "/config", json={"latency_ms": -1}) as resp:
            assert resp.status == 400
        async with http.post(base + "/config", json={"port": 1}) as resp:
            assert resp.status == 400

        await call("POST", "/throttle", {"count": 1, "status": "ESME_RMSGQFUL"})
        assert (await esme.submit()).command_status == CommandStatus.ESME_RMSGQFUL

        await call("POST", "/mo", {"from": "+8613800000000", "to": "1069", "text": "TD"})
        mo = await esme.next_deliver()
        assert (mo.source_addr, mo.short_message) == ("+8613800000000", b"TD")

        assert await call("GET", "/destinations?min=1") == {"+860": 1, "+861": 1, "+862": 1}
        assert await call("GET", "/reassembled") == []
        assert (await call("POST", "/reset"))["accepted"] == 0
        assert (await call("GET", "/accepted"))["items"] == []
        assert (await call("POST", "/drop", {}))["dropped"] == 1
        await asyncio.wait_for(esme.closed.wait(), 5)

        again = await connect(smsc)
        assert (await call("POST", "/drop", {"after_submits": 2}))["after_submits"] == 2
        assert (await again.submit()).command_status == ROK
        with pytest.raises(ConnectionError):
            await again.submit()
        assert (await call("GET", "/stats"))["accepted"] == 2


async def test_config_file(tmp_path: Any) -> None:
    path = tmp_path / "smsc.yaml"
    path.write_text("port: 0\nmessage_id_format: decimal\nthrottle: {every: 3, status: 0x14}\n"
                    "accounts: [{system_id: bank, password: pw, max_binds: 1}]\n")
    config = load_config(path)
    assert config.throttle.status == CommandStatus.ESME_RMSGQFUL
    assert config.account("bank") is not None and config.account("herald") is None
    with pytest.raises(ValueError, match="password"):
        SimulatorConfig.model_validate({"accounts": [{"system_id": "x", "password": "9" * 9}]})


async def test_cli_serves_until_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "herald", "simulator", "--port", "0", "--control-port", "0",
        "--system-id", "cli", "--password", "pw", "--message-id-format", "decimal",
        stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        match = re.fullmatch(r"SMPP simulator listening on 127\.0\.0\.1:(\d+) "
                             r"control http://127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        esme = await Esme.connect(int(match[1]))
        assert (await esme.bind("transceiver", "cli", "pw")).command_status == ROK
        assert (await esme.submit()).message_id.isdigit()
        await esme.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


# A third-party client: python-smpplib (synchronous, so in a thread)


def _smpplib_session(port: int, texts: list[str]) -> tuple[int, list[str], list[Any]]:
    """Bind, submit each text (split into UDH parts by smpplib), read responses and receipts."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    message_ids: list[str] = []
    receipts: list[Any] = []
    client.set_message_sent_handler(lambda pdu: message_ids.append(pdu.message_id.decode()))
    client.set_message_received_handler(lambda pdu: receipts.append(pdu))
    client.connect()
    try:
        client.bind_transceiver(system_id="herald", password="herald")
        submitted = 0
        for text in texts:
            parts, coding, esm_class = smpplib.gsm.make_parts(text)
            for part in parts:
                client.send_message(
                    source_addr_ton=5, source_addr="Herald", dest_addr_ton=1, dest_addr_npi=1,
                    destination_addr="+8613800000000", short_message=part, data_coding=coding,
                    esm_class=esm_class, registered_delivery=1)
                submitted += 1
        deadline = time.monotonic() + 10
        while len(message_ids) < submitted or len(receipts) < submitted:
            assert time.monotonic() < deadline, (message_ids, receipts)
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return submitted, message_ids, receipts


async def test_smpplib_client(start: StartSmsc) -> None:
    smsc = await start()
    long_text = "A long message that smpplib splits into concatenated parts. " * 4
    submitted, message_ids, receipts = await asyncio.to_thread(
        _smpplib_session, smsc.port, ["Hello from smpplib", long_text])
    assert submitted == 3 and len(smsc.accepted) == 3
    assert sorted(message_ids) == sorted(m.message_id for m in smsc.accepted)
    long = smsc.reassembled()
    assert len(long) == 1 and long[0].complete and long[0].text == long_text
    assert sorted(r.receipted_message_id.decode() for r in receipts) == sorted(message_ids)
    assert all(r.message_state == MessageState.DELIVERED for r in receipts)
    assert all(b"stat:DELIVRD err:000" in r.short_message for r in receipts)
    await eventually(lambda: smsc.counters.receipts_acked == 3, message="receipts acked")
