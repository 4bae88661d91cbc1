"""An export's rows: one a recipient, decoded from what the run holds in Redis. Pure.

A message's state code (sender.sms.states) becomes its state's name (the name its
counter has in status.counters), its error code (a failure's detail, or the cap a
capped message met) and, while the SMSC ids are still on it (submitted, awaiting its
receipt), its parts. A message moved to another channel by failover ("M:<new key>") is
not a row of its old lane: its entry in the new lane is, with that lane's channel, so
every recipient is exported once, where it ended.

What the run does not keep per message is not made up: submit and done times are not
recorded per message (the export has no column for them), and a settled message's
segments are gone with its SMSC ids (the column is empty then; the run's total is
status.counters.segmentsSubmitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sender.sms.numbers import mask_number
from sender.sms.states import State

COLUMNS = ("number", "variant", "channel", "state", "error", "segments", "firstClick",
           "clicks", "message")
"""The export's columns, in order."""

STATE_NAMES = {
    "": "queued", State.QUEUED: "queued", State.WAITING: "waiting",
    State.SUBMITTING: "submitting", State.SUBMITTED: "submitted",
    State.DELIVERED: "delivered", State.FAILED: "failed", State.EXPIRED: "expired",
    State.UNKNOWN: "unknown", State.OPTED_OUT: "optedOut", State.CAPPED: "capped",
    State.CANCELLED: "cancelled",
}
"""State code -> the state's name, as status.counters names its count."""
AWAITING_WINNER = "awaitingWinner"
"""The state of a rest entry not yet released (spec.winner, spec.canary)."""


@dataclass(frozen=True)
class ExportRow:
    number: str
    """E.164; masked (sender.sms.numbers.mask_number) unless the export may show it."""
    variant: str
    channel: str
    state: str
    error: str
    """A failed message's error code (e.g. ESME_RINVDSTADR's 0x0000000b, or the receipt's
    err:), a capped one's cap; else empty."""
    segments: int | None
    """Parts the SMSC accepted, while its ids are on the message (submitted); else None."""
    first_click: int | None
    """Unix time of the recipient's first click on its links; None: no click."""
    clicks: int
    message: str
    """The message key "<lane>/<entry id>", as logs and the state hash name it."""

    def values(self) -> tuple[str, str, str, str, str, int | None, int | None, int, str]:
        return (self.number, self.variant, self.channel, self.state, self.error,
                self.segments, self.first_click, self.clicks, self.message)


@dataclass(frozen=True)
class Decoded:
    state: str
    error: str = ""
    segments: int | None = None


def decode_state(code: str | None, *, held: bool = False) -> Decoded | None:
    """A state code's state, error and segments; None for a message that moved lanes
    (its row is its new lane's). `held`: an entry not yet released (a rest lane's)."""
    code = code or ""
    letter, _, detail = code.partition(":")
    if letter == State.MOVED:
        return None
    if held and letter in ("", State.QUEUED):
        return Decoded(AWAITING_WINNER)
    name = STATE_NAMES.get(letter)
    if name is None:
        return Decoded(f"unknownCode:{letter}")
    if letter == State.SUBMITTED:
        return Decoded(name, segments=len(detail.split()) if detail else None)
    if letter in (State.FAILED, State.CAPPED):
        return Decoded(name, error=detail)
    return Decoded(name)


def decode_clicks(value: str | None) -> tuple[int | None, int]:
    """(first click unix time, clicks) from a clicks-hash value ("FIRST_UNIX COUNT")."""
    if not value:
        return None, 0
    first, _, count = value.partition(" ")
    try:
        return int(first), int(count or 0)
    except ValueError:
        return None, 0


def export_row(key: str, fields: dict[str, str], state: str | None, clicks: str | None, *,
               channel: str, variant: str | None = None, held: bool = False,
               unmasked: bool = False) -> ExportRow | None:
    """The row of one lane entry; None for one that moved to another lane. `variant`:
    the run's winner for a rest entry (None: the entry's own)."""
    decoded = decode_state(state, held=held)
    if decoded is None:
        return None
    number = fields.get("n", "")
    first, count = decode_clicks(clicks)
    return ExportRow(
        number=number if unmasked else mask_number(number),
        variant=fields.get("v", "") if variant is None else variant,
        channel=channel, state=decoded.state, error=decoded.error,
        segments=decoded.segments, first_click=first, clicks=count, message=key)


def iso_time(unix: int | None) -> str:
    """A unix time as the CSV shows it: ISO 8601 in UTC; empty for None."""
    if unix is None:
        return ""
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")
