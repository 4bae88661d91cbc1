"""TLS to the SMSC, against the simulator serving real TLS (certificates from trustme):
the bind check's outcome for each way TLS can go wrong, the password never in clear on
the wire, client certificates, and a shard sent with receipts over TLS."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from sender.run_config import TlsMaterial, TlsTarget
from sender.send.process import run_shard
from sender.simulator.config import SimulatorConfig, with_account
from sender.simulator.server import Simulator
from sender.smpp.bind import BindSettings
from sender.smpp.probe import ProbeResult, probe_bind
from sender.smpp.tls import TlsClient
from sender.store.keys import CampaignKeys
from sender.store.transitions import read_counters
from tests.run_configs import fill_shard, run_config
from tests.tls_pki import Pki, make_pki

pytestmark = pytest.mark.timeout(60)
PASSWORD = "Tls5ecr!"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@contextlib.asynccontextmanager
async def smsc(pki: Pki | None, *, mutual: bool = False) -> AsyncIterator[Simulator]:
    config = SimulatorConfig(port=0, receipt_delay_ms=5, seed=1)
    if pki is not None:
        config = config.model_copy(update={
            "tls_cert_file": str(pki.cert_file), "tls_key_file": str(pki.key_file),
            "tls_client_ca_file": str(pki.ca_file) if mutual else ""})
    async with Simulator(with_account(config, "herald", PASSWORD)) as sim:
        yield sim


def settings(port: int, tls: TlsClient | None) -> BindSettings:
    return BindSettings(host="127.0.0.1", port=port, system_id="herald", password=PASSWORD,
                        tls=tls, connect_timeout=5.0, response_timeout=5.0)


# Each row: how the SMSC serves, how Herald connects, the check's reason.
PROBES = [
    pytest.param("plain", None, "Bound", id="plain-tcp"),
    pytest.param("tls", "ca", "Bound", id="tls-with-its-ca"),
    pytest.param("tls", "system-store", "CertificateNotTrusted", id="tls-self-signed-ca"),
    pytest.param("tls", "other-ca", "CertificateNotTrusted", id="tls-ca-that-did-not-sign"),
    pytest.param("tls", "wrong-name", "CertificateNotTrusted", id="tls-name-mismatch"),
    pytest.param("tls", "sni-name", "Bound", id="tls-server-name-in-certificate"),
    pytest.param("tls", "insecure", "Bound", id="tls-insecure-skip-verify"),
    pytest.param("tls", "bad-pem", "TLSMaterialInvalid", id="tls-ca-not-pem"),
    pytest.param("plain", "ca", "TLSHandshakeFailed", id="tls-to-a-plain-port"),
    pytest.param("mutual", "ca", "TLSHandshakeFailed", id="mutual-without-client-cert"),
    pytest.param("mutual", "client-cert", "Bound", id="mutual-with-client-cert"),
]


def client(pki: Pki, how: str | None) -> TlsClient | None:
    match how:
        case None:
            return None
        case "ca":
            return TlsClient(ca_pem=pki.ca_pem)
        case "system-store":
            return TlsClient()
        case "other-ca":
            return TlsClient(ca_pem=pki.other_ca.cert_pem.bytes().decode())
        case "wrong-name":
            return TlsClient(ca_pem=pki.ca_pem, server_name="smsc.other.example")
        case "sni-name":
            return TlsClient(ca_pem=pki.ca_pem, server_name="smsc.example.com")
        case "insecure":
            return TlsClient(insecure_skip_verify=True)
        case "bad-pem":
            return TlsClient(ca_pem="-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        case "client-cert":
            chain, key = pki.client()
            return TlsClient(ca_pem=pki.ca_pem, cert_pem=chain, key_pem=key)
    raise AssertionError(how)


@pytest.mark.parametrize("serves, how, reason", PROBES)
async def test_bind_check_over_tls(pki: Pki, serves: str, how: str | None, reason: str) -> None:
    async with smsc(None if serves == "plain" else pki, mutual=serves == "mutual") as sim:
        result: ProbeResult = await probe_bind(settings(sim.port, client(pki, how)))
    assert (result.reason, result.ok) == (reason, reason == "Bound"), result.message
    assert PASSWORD not in result.message
    if reason == "Bound":
        assert ("TLS" if how else "plain TCP") in result.message


class Tap:
    """A TCP relay between Herald and the SMSC that keeps every byte Herald sends."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.sent = bytearray()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Tap:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if keep:
                        self.sent.extend(data)
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_the_password_is_in_clear_only_without_tls(pki: Pki, tls: bool) -> None:
    """The test that would have caught `tls: true` sending the password in plain text."""
    async with smsc(pki if tls else None) as sim, Tap(sim.port) as tap:
        result = await probe_bind(settings(tap.port, TlsClient(ca_pem=pki.ca_pem) if tls
                                           else None))
    assert result.ok, result.message
    assert tap.sent  # the relay saw the bind go by
    assert (PASSWORD.encode() in tap.sent) is not tls


def pki_material(pki: Pki, *, client_cert: bool) -> TlsMaterial:
    chain, key = pki.client() if client_cert else ("", "")
    return TlsMaterial(ca_pem=pki.ca_pem, cert_pem=chain, key_pem=key)


@pytest.mark.parametrize("mode", ["Transceiver", "TransmitterAndReceiver"])
async def test_a_shard_goes_over_mutual_tls_with_receipts(
    redis: aioredis.Redis, pki: Pki, mode: str,
) -> None:
    """run_shard as a sender pod runs it, with the TLS material its Job mounts."""
    campaign = CampaignKeys("shop", "tls-sale")
    async with smsc(pki, mutual=True) as sim:
        run = run_config("shop", "tls-sale", port=sim.port)
        run.channels[0].smpp.tls = TlsTarget(server_name="smsc.example.com")
        run.channels[0].smpp.mode = mode
        await fill_shard(redis, campaign, 300, "+8613900")
        figures = await run_shard(run, 0, redis, PASSWORD,
                                  tls=pki_material(pki, client_cert=True))
        modes = sorted(sim.binds_by_mode)
    counters = await read_counters(redis, campaign)
    assert (counters.delivered, counters.unknown, counters.queued) == (300, 0, 0), figures
    assert len(sim.accepted) == 300
    assert modes == (["Transceiver"] if mode == "Transceiver" else ["Receiver", "Transmitter"])


def test_material_comes_from_the_files_the_pod_names(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "ca.crt").write_text(pki.ca_pem)
    chain, key = pki.client()
    (tmp_path / "tls.crt").write_text(chain)
    (tmp_path / "tls.key").write_text(key)
    material = TlsMaterial.from_env({
        "HERALD_SMPP_CA_FILE": str(tmp_path / "ca.crt"),
        "HERALD_SMPP_CLIENT_CERT_FILE": str(tmp_path / "tls.crt"),
        "HERALD_SMPP_CLIENT_KEY_FILE": str(tmp_path / "tls.key")})
    assert material == TlsMaterial(pki.ca_pem, chain, key)
    assert key not in repr(material)
    assert TlsMaterial.from_env({}) == TlsMaterial()

