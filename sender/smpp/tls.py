"""Connections to an SMSC, plain TCP or TLS, and what a failed TLS handshake means.

Every SMPP connection Herald makes (a sender's binds, the channel receiver, the
operator's bind check) opens through `open_connection`, so TLS is the same everywhere.
The TCP connect and the TLS handshake are two steps, so a refused port reads
`ConnectFailed` and a certificate the SMSC shows that does not verify reads
`CertificateNotTrusted`, not one vague error.

PEM material is held as text: the operator reads it from Secrets and ConfigMaps
through the API, pods from files the Job mounts. A client key goes to a private
temporary file only for the moment `ssl` loads it (Python's ssl loads a certificate
chain from files alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CONNECT_FAILED = "ConnectFailed"
TLS_HANDSHAKE_FAILED = "TLSHandshakeFailed"
CERTIFICATE_NOT_TRUSTED = "CertificateNotTrusted"
TLS_MATERIAL_INVALID = "TLSMaterialInvalid"


@dataclass(frozen=True)
class TlsClient:
    """How to speak TLS to one SMSC."""

    server_name: str = ""
    """For SNI and the certificate check; empty: the host connected to."""
    ca_pem: str = ""
    """CA certificates to trust; empty: the system trust store."""
    cert_pem: str = field(default="", repr=False)
    """Client certificate chain (mutual TLS); empty: none."""
    key_pem: str = field(default="", repr=False)
    insecure_skip_verify: bool = False
    """Encrypt without checking the SMSC's certificate."""

    def context(self) -> ssl.SSLContext:
        """A client context; raises TlsFailed(TLSMaterialInvalid) on PEM ssl refuses."""
        try:
            context = ssl.create_default_context(cadata=self.ca_pem or None)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if self.insecure_skip_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.cert_pem or self.key_pem:
                _load_client_certificate(context, self.cert_pem, self.key_pem)
        except (ssl.SSLError, ValueError) as error:
            raise TlsFailed(TLS_MATERIAL_INVALID, f"bad TLS material: {_detail(error)}") from None
        return context


class TlsFailed(ConnectionError):
    """The TLS part of a connection failed; `reason` is a Channel condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# Where a name:port is reached instead, as `name:port=host:port[,...]`: what cluster DNS
# and a Service do in a cluster. `herald local up` sets it, so that the example Channel's
# `herald-simulator:2775` reaches the local simulator as it is written; unset in a cluster.
SERVICE_ADDRESSES_ENV = "HERALD_SERVICE_ADDRESSES"


def service_address(host: str, port: int) -> tuple[str, int]:
    """The address host:port is reached at: its own, or the one SERVICE_ADDRESSES_ENV maps
    it to."""
    for entry in os.environ.get(SERVICE_ADDRESSES_ENV, "").split(","):
        name, _, target = entry.strip().partition("=")
        if name == f"{host}:{port}" and target:
            target_host, _, target_port = target.rpartition(":")
            return target_host, int(target_port)
    return host, port


async def open_connection(
    host: str, port: int, tls: TlsClient | None, timeout: float, *, limit: int = 1 << 16,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """TCP to host:port (or where SERVICE_ADDRESSES_ENV sends it), then the TLS handshake
    when `tls` is set, checking the certificate for `host` as written.

    Raises OSError or TimeoutError when the TCP connect fails, TlsFailed when TLS does.
    """
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(*service_address(host, port),
                                                       limit=limit)
    if tls is None:
        return reader, writer
    server_name = tls.server_name or host
    try:
        context = tls.context()
        async with asyncio.timeout(timeout):
            await writer.start_tls(context, server_hostname=server_name)
    except TlsFailed:
        writer.close()
        raise
    except ssl.SSLCertVerificationError as error:
        writer.close()
        raise TlsFailed(CERTIFICATE_NOT_TRUSTED,
                        f"the certificate of {host}:{port} does not verify for"
                        f" {server_name}: {error.verify_message or _detail(error)}") from None
    except (ssl.SSLError, OSError, TimeoutError) as error:
        writer.close()
        detail = "no answer in time" if isinstance(error, TimeoutError) else _detail(error)
        raise TlsFailed(TLS_HANDSHAKE_FAILED,
                        f"TLS handshake with {host}:{port} failed: {detail}"
                        " (is it a TLS port?)") from None
    return reader, writer


def _load_client_certificate(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    with tempfile.TemporaryDirectory(prefix="herald-tls-") as directory:
        path = Path(directory) / "client.pem"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(key_pem.strip() + "\n" + cert_pem.strip() + "\n")
        try:
            context.load_cert_chain(path)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()


def _detail(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return f"{error.reason} ({error.library})" if error.library else str(error.reason)
    return str(error) or type(error).__name__
