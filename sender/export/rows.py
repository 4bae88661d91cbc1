"""An export's rows: one a recipient, decoded from what the run holds in Redis. Pure.

A message's state code (sender.sms.states) becomes its state's name (the name its
counter has in status.counters), its error code (a failure's detail, or the cap a
capped message met) and, while the SMSC ids are still on it (submitted, awaiting its
receipt), its parts. A message moved to another channel by failover ("M:<new key>") is
not a row of its old lane: its entry in the new lane is, with that lane's channel, so
every recipient is exported once, where it ended.

Its segments and times come from the stamp transitions.lua puts on its value
(sender.sms.states.parse_state): submitted is when the SMSC accepted it, done when it
reached its final state (delivered, failed, expired, opted out, capped, cancelled).
What the run did not record is left empty, not made up: a message the SMSC never took
has no submitted time, an unknown one (its submit unanswered) neither, and one still on
its way no done time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sender.sms.numbers import mask_number
from sender.sms.states import State, parse_state

COLUMNS = ("number", "variant", "channel", "state", "error", "segments", "submitted",
           "done", "firstClick", "clicks", "message")
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
    """Parts the SMSC accepted; None: it took none, or it is not known."""
    submitted: int | None
    """Unix time the SMSC accepted it; None: it did not, or it is not known."""
    done: int | None
    """Unix time it reached its final state; None: not yet."""
    first_click: int | None
    """Unix time of the recipient's first click on its links; None: no click."""
    clicks: int
    message: str
    """The message key "<lane>/<entry id>", as logs and the state hash name it."""

    def values(self) -> tuple[str, str, str, str, str, int | None, int | None, int | None,
                              int | None, int, str]:
        return (self.number, self.variant, self.channel, self.state, self.error,
                self.segments, self.submitted, self.done, self.first_click, self.clicks,
                self.message)


@dataclass(frozen=True)
class Decoded:
    state: str
    error: str = ""
    segments: int | None = None
    submitted: int | None = None
    done: int | None = None


def decode_state(value: str | None, *, held: bool = False) -> Decoded | None:
    """A state value's state, error, segments and times; None for a message that moved
    lanes (its row is its new lane's). `held`: an entry not yet released (a rest lane's)."""
    found = parse_state(value)
    code = found.code
    if code == State.MOVED:
        return None
    if held and code in ("", State.QUEUED):
        return Decoded(AWAITING_WINNER)
    name = STATE_NAMES.get(code)
    if name is None:
        return Decoded(f"unknownCode:{code}")
    segments = found.segments
    if segments is None and code == State.SUBMITTED and found.detail:
        segments = len(found.detail.split())  # written before the stamp was
    error = found.detail if code in (State.FAILED, State.CAPPED) else ""
    return Decoded(name, error, segments, found.submitted_at, found.done_at)


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
        segments=decoded.segments, submitted=decoded.submitted, done=decoded.done,
        first_click=first, clicks=count, message=key)
