"""The peer that bench/sender.py measures beside Herald: aiosmpplib 0.7.4 as its README shows.

`ESME(...)` with the library's defaults (SimpleBroker, SimpleCorrelator,
SimpleThrottleHandler, no rate limiter, transceiver bind), `SubmitSm` messages put on
`esme.broker` while `esme.start()` runs, and a hook, which the README asks every user to
write: this one only counts. Nothing else is replaced, so the figures are those of
aiosmpplib as its users meet it, including what its correlator costs.

The README enqueues its messages before `start()`; SimpleBroker holds 2,500, so here a
task enqueues while the ESME sends (the broker's own backpressure). Logs go at WARNING to
a file (or nowhere), never to the terminal.

This module holds no clock and no figures: it reports through `Counts` (bench/sender.py's
`Tally`), so both sides are measured by the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiosmpplib import (
    ESME,
    AbstractHook,
    DeliverSm,
    GenericNack,
    PhoneNumber,
    SmppCommandStatus,
    SmppMessage,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.log import WARNING

STOP_TIMEOUT = 10.0  # seconds for esme.stop() (unbind, drain, close) before it is cancelled


class Counts(Protocol):
    """What the peer reports to: bench/sender.py's Tally."""

    def start(self) -> None: ...
    def written(self) -> None: ...
    def answered(self, ok: bool) -> None: ...
    def send_error(self) -> None: ...
    def receipt(self, matched: bool) -> None: ...
    async def wait(self, timeout: float) -> bool:
        """Until every submit is answered (and, when asked for, every receipt arrived), or
        the receipt wait after the last submit ended; True when `timeout` came first."""
        ...


class CountingHook(AbstractHook):  # type: ignore[misc]  # aiosmpplib is untyped for mypy here
    """The README's hook with the saving left out: it counts, and tells `counts` what settled.

    A submit settles on its submit_sm_resp (or generic_nack), whether or not aiosmpplib
    could still correlate it, since that is what the SMSC did. SimpleCorrelator gives up on
    a request after 15 s and calls `send_error` with a TimeoutError although its response
    may still come; that is counted as `expired` and settles nothing. Any other send error
    means the submit never went out: it settles as rejected.
    """

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.expired = 0
        """send_error(TimeoutError): the application was told these submits failed."""
        self.uncorrelated = 0
        """submit_sm_resp that aiosmpplib could not match to its SubmitSm (no log_id)."""
        self.repeated_receipts = 0
        """Receipts for a message id already seen: the SMSC resends one not acked in time."""
        self._receipted: set[str] = set()

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm):
            self.counts.written()

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes,
                       client_id: str) -> None:
        if isinstance(smpp_message, SubmitSmResp):
            self.uncorrelated += not smpp_message.log_id
            self.counts.answered(smpp_message.command_status == SmppCommandStatus.ESME_ROK)
        elif isinstance(smpp_message, GenericNack):
            self.counts.answered(False)
        elif isinstance(smpp_message, DeliverSm) and smpp_message.is_receipt():
            message_id = str(smpp_message.parse_receipt().get("id", ""))
            if message_id in self._receipted:
                self.repeated_receipts += 1
                return
            self._receipted.add(message_id)
            # log_id is set only when SimpleCorrelator matched the receipt to its SubmitSm.
            self.counts.receipt(bool(smpp_message.log_id))

    async def send_error(self, smpp_message: SmppMessage, error: Exception,
                         client_id: str) -> None:
        if not isinstance(smpp_message, SubmitSm):
            return
        if isinstance(error, TimeoutError):
            self.expired += 1
        else:
            self.counts.send_error()


@dataclass(frozen=True)
class PeerReport:
    """What the peer knows beyond the counts."""

    timed_out: bool
    expired: int
    """Submits SimpleCorrelator reported failed (TimeoutError) to the application."""
    uncorrelated: int
    """submit_sm_resp it could not match to a SubmitSm."""
    repeated_receipts: int
    """Receipts the SMSC sent again (counted once in `counts`)."""
    stop_error: str | None
    """An error aiosmpplib raised while stopping (after the run), if any."""
    log_records: int
    """Lines aiosmpplib logged at WARNING or above (throttle denials, uncorrelated PDUs)."""
    first_log_record: str | None


async def enqueue_all(esme: ESME, workload: Iterable[tuple[str, str, str]],
                      receipts: bool) -> None:
    """One SubmitSm per (source, destination, text), as the README builds them."""
    registered_delivery = 1 if receipts else 0
    for index, (source, destination, text) in enumerate(workload):
        await esme.broker.enqueue(SubmitSm(
            short_message=text, source=PhoneNumber(source),
            destination=PhoneNumber(destination), registered_delivery=registered_delivery,
            log_id=f"bench-{index}"))


async def run_peer(*, host: str, port: int, system_id: str, password: str,
                   workload: Iterable[tuple[str, str, str]], receipts: bool, counts: Counts,
                   timeout: float, log_path: Path | None = None) -> PeerReport:
    """Bind, send the workload, wait for `counts` to settle or `timeout` seconds, unbind."""
    handler: logging.Handler = (logging.FileHandler(log_path) if log_path
                                else logging.NullHandler())
    hook = CountingHook(counts)
    esme = ESME(smsc_host=host, smsc_port=port, system_id=system_id, password=password,
                log_level=WARNING, log_handler=handler, hook=hook)
    await esme.connect()  # the README's "test connection beforehand"; start() reuses the bind
    counts.start()
    starter = asyncio.create_task(esme.start(), name="aiosmpplib ESME")
    producer = asyncio.create_task(enqueue_all(esme, workload, receipts), name="enqueue")
    timed_out = False
    stop_error: str | None = None
    try:
        timed_out = await counts.wait(timeout)
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(esme.stop(), STOP_TIMEOUT)
        starter.cancel()
        try:
            await starter
        except asyncio.CancelledError:
            pass
        except Exception as error:  # aiosmpplib answering a deliver_sm after it closed
            stop_error = f"{type(error).__name__}: {error}"
        handler.close()
    lines = log_path.read_text(errors="replace").splitlines() if log_path else []
    return PeerReport(timed_out, hook.expired, hook.uncorrelated, hook.repeated_receipts,
                      stop_error, len(lines),
                      lines[0][:300] if lines else None)
