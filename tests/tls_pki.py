"""Certificates for TLS tests, from trustme: a CA, a server certificate, client
certificates, and a CA that signed none of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Pki:
    ca: trustme.CA
    other_ca: trustme.CA
    cert_file: Path
    key_file: Path
    ca_file: Path

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_pem.bytes().decode()

    def client(self) -> tuple[str, str]:
        """A client certificate chain and key the CA signed."""
        issued = self.ca.issue_cert("herald-client@example.com")
        chain = "".join(blob.bytes().decode() for blob in issued.cert_chain_pems)
        return chain, issued.private_key_pem.bytes().decode()


def make_pki(root: Path) -> Pki:
    """A CA, a server certificate it signed (for smsc.example.com and 127.0.0.1) as
    files in `root`, and another CA that signed nothing of ours."""
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("smsc.example.com", "127.0.0.1", "localhost")
    cert_file, key_file, ca_file = root / "server.pem", root / "server.key", root / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert_file))
    for blob in server.cert_chain_pems[1:]:
        blob.write_to_path(str(cert_file), append=True)
    server.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, other, cert_file, key_file, ca_file)
