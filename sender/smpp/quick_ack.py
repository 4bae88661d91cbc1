"""Acknowledge the SMSC's segments at once (Linux TCP_QUICKACK) instead of up to 40 ms late.

An SMSC that writes each response on its own with Nagle's algorithm on (node-smpp's
server does; so may a carrier's) holds its next small segment until the previous one is
acknowledged. Linux delays that ACK, hoping to ride it on data going the other way; when
the client has nothing to send until the responses free its window, both sides wait for
the delayed-ACK timer and a bind crawls at a few thousand messages a second
(bench/README.md, "TCP_QUICKACK"). Quick-ACK mode is not sticky: the kernel may leave it
after any segment, so the bind arms it again after every read (one setsockopt, per read,
not per PDU).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def raw_socket(writer: asyncio.StreamWriter) -> Any:
    """The connection's socket (beneath TLS too), or None where the transport has none."""
    return writer.get_extra_info("socket")


def arm(sock: Any) -> None:
    """Ask for the next ACKs to go out at once; a no-op off Linux or on a closed socket."""
    if QUICKACK is None or sock is None:
        return
    with contextlib.suppress(OSError):  # closed under us: the read that follows says so
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
