"""Check a carrier account with one real bind: connect, bind, unbind. For Channel status."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sender.smpp.bind import BIND_PDUS, BindSettings, bind_modes
from sender.smpp.codes import HEADER, CommandStatus
from sender.smpp.errors import status_name
from sender.smpp.pdu import Unbind
from sender.smpp.stream import FrameBuffer
from sender.smpp.tls import TLS_HANDSHAKE_FAILED, TlsFailed, open_connection


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str
    """Bound, ConnectFailed, BindRefused, BindTimeout, or with TLS TLSHandshakeFailed,
    CertificateNotTrusted or TLSMaterialInvalid (sender.smpp.tls)."""
    message: str
    """Detail for status and Events; never the password."""
    seconds: float = 0.0


async def probe_bind(settings: BindSettings) -> ProbeResult:
    started = time.monotonic()
    where = f"{settings.host}:{settings.port}"
    try:
        reader, writer = await open_connection(settings.host, settings.port, settings.tls,
                                               settings.connect_timeout)
    except TlsFailed as error:
        return ProbeResult(False, error.reason, error.message)
    except (OSError, TimeoutError) as error:
        detail = str(error) or type(error).__name__
        return ProbeResult(False, "ConnectFailed", f"cannot connect to {where}: {detail}")
    try:
        mode = bind_modes(settings.mode)[0]  # of a pair, the transmitter that senders use
        pdu = BIND_PDUS[mode](
            sequence_number=1, system_id=settings.system_id, password=settings.password,
            system_type=settings.system_type)
        writer.write(pdu.encode())
        buffer = FrameBuffer()
        async with asyncio.timeout(settings.response_timeout):
            while True:
                data = await reader.read(65536)
                if not data and settings.tls is not None:
                    # Under TLS 1.3 a server checks the client's certificate after the
                    # handshake, and asyncio servers close without the alert: this EOF
                    # is how a refused (or missing) client certificate looks.
                    return ProbeResult(False, TLS_HANDSHAKE_FAILED, (
                        f"{where} closed the TLS connection before answering the bind:"
                        " it may require a client certificate"
                        " (smpp.tls.clientCertSecretRef) or refuse the one sent"))
                if not data:
                    return ProbeResult(False, "BindRefused",
                                       f"{where} closed the connection during bind")
                for frame in buffer.feed(data):
                    _, command_id, status, _ = HEADER.unpack_from(frame)
                    if command_id == pdu.command_id | 0x80000000:
                        if status != CommandStatus.ESME_ROK:
                            return ProbeResult(False, "BindRefused",
                                               f"{where} refused the bind: {status_name(status)}")
                        writer.write(Unbind(sequence_number=2).encode())
                        await writer.drain()
                        seconds = time.monotonic() - started
                        over = "TLS" if settings.tls is not None else "plain TCP"
                        return ProbeResult(True, "Bound", f"bound to {where} as"
                                           f" {settings.system_id} ({mode},"
                                           f" {over})", seconds)
    except TimeoutError:
        return ProbeResult(False, "BindTimeout", f"no bind_resp from {where} in"
                                                 f" {settings.response_timeout:.0f}s")
    except OSError as error:
        return ProbeResult(False, "ConnectFailed", f"{where}: {error}")
    finally:
        writer.close()
