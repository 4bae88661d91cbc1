"""What the simulator remembers: every accepted submit, its counters, reassembled long messages.

Tests count duplicates and losses from these records, so they hold exactly what was accepted
(a throttled or refused submit is counted, never recorded). `per_destination` counts
accepted submit_sm PDUs, so each part of a long message counts once.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sender.simulator.config import Outcome
from sender.smpp.codes import ESM_UDHI, PduError
from sender.smpp.pdu import Concat, split_udh
from sender.sms.text import ESCAPE, GSM7_BASIC_TABLE, GSM7_EXTENSION_TABLE

_GSM7_EXTENSION_CHARS = {code: char for char, code in GSM7_EXTENSION_TABLE.items()}
_GSM7_DECODE = str.maketrans({code: char for code, char in enumerate(GSM7_BASIC_TABLE)})


def decode_gsm7_unpacked(data: bytes) -> str:
    """One septet per byte (SMPP data_coding 0), ESC + code for the extension table."""
    if ESCAPE not in data:
        return data.decode("latin-1").translate(_GSM7_DECODE)
    chars: list[str] = []
    escaped = False
    for septet in data:
        if escaped:
            chars.append(_GSM7_EXTENSION_CHARS.get(septet, " "))
            escaped = False
        elif septet == ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_BASIC_TABLE[septet & 0x7F])
    return "".join(chars)


def decode_text(data: bytes, data_coding: int) -> str:
    """Best-effort text of user data (without UDH) for reports and receipts. A GSM 03.38
    coding with a message class (0x1X, as a flash message) reads by its alphabet bits."""
    if data_coding & 0xF0 == 0x10:
        data_coding = {0: 0, 2: 8}.get((data_coding >> 2) & 3, data_coding)
    if data_coding == 8:
        return data.decode("utf-16-be", "replace")
    if data_coding == 0:
        return decode_gsm7_unpacked(data)
    if data_coding in (1, 3):
        return data.decode("latin-1")
    return data.hex()


@dataclass(slots=True)
class AcceptedMessage:
    """One accepted submit_sm."""

    index: int
    """Position in the record, from 0; GET /accepted?since= pages by it."""
    system_id: str
    message_id: str
    source: str
    destination: str
    data_coding: int
    short_message: bytes
    """As submitted: UDH included; message_payload if the submit used it."""
    esm_class: int
    registered_delivery: int
    concat: Concat | None
    outcome: Outcome
    timestamp: float
    """Unix time of acceptance."""

    @property
    def user_data(self) -> bytes:
        """short_message without its UDH."""
        if self.esm_class & ESM_UDHI:
            try:
                return split_udh(self.short_message)[1]
            except PduError:
                return self.short_message
        return self.short_message

    @property
    def text(self) -> str:
        return decode_text(self.user_data, self.data_coding)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "system_id": self.system_id, "message_id": self.message_id,
            "source": self.source, "destination": self.destination,
            "data_coding": self.data_coding, "short_message": self.short_message.hex(),
            "text": self.text, "esm_class": self.esm_class,
            "registered_delivery": self.registered_delivery,
            "concat": dataclasses.asdict(self.concat) if self.concat else None,
            "outcome": self.outcome.value, "timestamp": self.timestamp,
        }  # fmt: skip


@dataclass(slots=True)
class Counters:
    """Totals since start or the last reset."""

    submits: int = 0
    """submit_sm received on a transmitter or transceiver bind."""
    accepted: int = 0
    throttled: int = 0
    """Answered ESME_RTHROTTLED, by burst or window."""
    queue_full: int = 0
    """Answered ESME_RMSGQFUL, by burst or window."""
    window_exceeded: int = 0
    """Of throttled and queue_full: refused for exceeding the window."""
    submit_errors: int = 0
    """Refused with a permanent status (outcome `error`)."""
    receipts_sent: int = 0
    """deliver_sm receipts written, resends included."""
    receipts_acked: int = 0
    receipts_retried: int = 0
    receipts_given_up: int = 0
    receipts_lost: int = 0
    """Receipts forgotten with a connection dropped on purpose (drops_lose_receipts)."""
    mo_sent: int = 0
    mo_acked: int = 0
    binds: int = 0
    """Successful binds."""
    peak_binds: int = 0
    """Most binds open at once, all accounts together: what a carrier's cap on binds
    (a Channel's maxBinds across sender pods) is checked against."""
    bind_failures: int = 0
    unbinds: int = 0
    drops: int = 0
    """Connections the simulator dropped on purpose."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """Accepted submits by outcome."""
    per_destination: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("outcomes", "per_destination")}
        data["outcomes"] = dict(self.outcomes)
        data["destinations"] = len(self.per_destination)
        data["duplicates"] = sum(n - 1 for n in self.per_destination.values() if n > 1)
        return data


@dataclass(slots=True)
class ReassembledMessage:
    """The parts of one concatenated message, in order of seqnum."""

    system_id: str
    source: str
    destination: str
    reference: int
    total: int
    parts: list[AcceptedMessage]

    @property
    def complete(self) -> bool:
        return sorted({p.concat.seqnum for p in self.parts if p.concat}) == list(
            range(1, self.total + 1))

    @property
    def text(self) -> str:
        """The parts' text in order; a part accepted twice counts once here."""
        unique = {p.concat.seqnum if p.concat else 0: p for p in reversed(self.parts)}
        return "".join(unique[seqnum].text for seqnum in sorted(unique))

    def to_json(self) -> dict[str, Any]:
        return {
            "system_id": self.system_id, "source": self.source,
            "destination": self.destination, "reference": self.reference,
            "total": self.total, "complete": self.complete, "text": self.text,
            "seqnums": [p.concat.seqnum for p in self.parts if p.concat],
            "message_ids": [p.message_id for p in self.parts],
        }  # fmt: skip


def reassemble(records: list[AcceptedMessage]) -> list[ReassembledMessage]:
    """Group concatenated parts by (system_id, source, destination, reference, total).

    A part accepted twice (a resend) appears twice, so `complete` still holds and the
    duplicate stays visible in `parts`.
    """
    groups: dict[tuple[str, str, str, int, int], ReassembledMessage] = {}
    for record in records:
        concat = record.concat
        if concat is None:
            continue
        key = (record.system_id, record.source, record.destination, concat.reference,
               concat.total)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ReassembledMessage(*key, parts=[])
        group.parts.append(record)
    for group in groups.values():
        group.parts.sort(key=lambda p: p.concat.seqnum if p.concat else 0)
    return list(groups.values())
