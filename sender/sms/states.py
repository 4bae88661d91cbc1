"""A message's life: its states, as one-letter codes, and the transitions between them.

    queued --> submitting --> submitted(smsc ids) --> delivered | failed | expired
     |   |          |  \\--> failed (permanent error)  \\--> queued (temporary error, retry)
     |   |          \\--> unknown (on the wire when a bind dropped or the sender died)
     |   \\--> optedOut | capped (compliance.frequencyCap) | cancelled
     \\<--> waiting (outside its recipient's send window or in its quiet hours; it goes
                on as a queued one does once they allow: sender.store.waiting_room)

`unknown` messages may still resolve: a receipt proves the SMSC took them. States are
one-letter codes in the campaign's state hash (absent = queued); submitted carries the
SMSC's message ids (one per part), failed the error code and capped the cap it met.
Once the SMSC takes a message, and when a message reaches a final state, transitions.lua
adds a stamp to its value: the segments the SMSC accepted, when it accepted them, and
when the message became final (`StateValue`, `parse_state`), so an export can say so
after the SMSC ids are gone.
`transitions.lua` applies batches of transitions atomically and idempotently
(sender.store.transitions); this module has no I/O.

A long message goes as several parts, each with its own SMSC id and its own receipt.
Its outcome comes from its parts' (`message_outcome`): each part receipt is recorded,
and the message moves once they decide it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, NamedTuple


class State(StrEnum):
    QUEUED = "Q"
    WAITING = "W"
    SUBMITTING = "S"
    SUBMITTED = "s"
    DELIVERED = "D"
    FAILED = "F"
    EXPIRED = "E"
    UNKNOWN = "U"
    OPTED_OUT = "O"
    CAPPED = "C"
    CANCELLED = "X"
    MOVED = "M"
    """Failed over to another channel: M:<the message's key in its new lane>. Counted
    nowhere (the new key is the message now)."""


STAMP = "~"
"""Where a state value's stamp begins: "<code>[:<detail>]~<segments>,<submitted>,<done>",
the times in unix seconds, each part empty when not known. Details never hold it."""
_FIELD_SAFE = str.maketrans("\t\n" + STAMP, "   ")  # fields travel tab- and line-separated


_SUBMITTED = f"{State.SUBMITTED.value}:"


def submitted(*smsc_ids: str) -> str:
    """The submitted state with the SMSC id of each part, in part order, space-separated."""
    if len(smsc_ids) == 1:  # once a message: the general form takes 1.1 us
        smsc_id = smsc_ids[0]
        if "\t" in smsc_id or "\n" in smsc_id or STAMP in smsc_id:
            return _SUBMITTED + smsc_id.translate(_FIELD_SAFE)
        return _SUBMITTED + smsc_id  # nothing to replace: 0.07 us, translate's 0.44
    return _SUBMITTED + " ".join(i.translate(_FIELD_SAFE) for i in smsc_ids)


RENDER_FAILED = "render"
"""Failure detail of a message its template could not render (never submitted)."""
NO_SEND_TIME = "NoSendTime"
"""Failure detail of a message whose send window never opens (never submitted)."""
NOT_SUBMITTED = (RENDER_FAILED, NO_SEND_TIME)
"""The failure details of messages that never reached the SMSC."""


def failed(code: str) -> str:
    return f"{State.FAILED}:{code.translate(_FIELD_SAFE)}"


def capped(cap: str) -> str:
    """The capped state with the cap the message met (e.g. "2/168h Namespace")."""
    return f"{State.CAPPED}:{cap.translate(_FIELD_SAFE)}"


def receipt_state(state: State, error: str) -> str:
    """The state code a final receipt (delivered, expired, failed) moves its message to."""
    return failed(error or "receipt") if state == State.FAILED else state.value


FINAL_PRECEDENCE = (State.FAILED, State.EXPIRED, State.DELIVERED)
"""Which part outcome decides a long message's: any part failed, the message failed;
else any expired, expired; else every part delivered, delivered. transitions.lua reads
this order from here, so the sender and the receiver decide alike."""


def message_outcome(parts: Sequence[State | None]) -> State | None:
    """A long message's outcome from its parts' receipts so far (None: no receipt yet).

    None while it is not decided. The first of FINAL_PRECEDENCE decides at once (a
    failed part fails the message before the other receipts come), the others once
    every part's receipt is in.
    """
    if FINAL_PRECEDENCE[0] in parts:
        return FINAL_PRECEDENCE[0]
    if None in parts:
        return None
    return next((state for state in FINAL_PRECEDENCE if state in parts), None)


@dataclass(frozen=True)
class StateValue:
    """A state hash value, read: its code, its detail and its stamp."""

    code: str
    """The State code ("" while queued: no value yet)."""
    detail: str = ""
    """Submitted: the SMSC ids, space-separated; failed: the error code; capped: the
    cap; moved: the new message key."""
    segments: int | None = None
    """Parts the SMSC accepted (stamped when it accepted them); None: not known."""
    submitted_at: int | None = None
    """Unix time the SMSC accepted it; None: never, or not known (an unknown one)."""
    done_at: int | None = None
    """Unix time it reached its final state; None while it has not."""


def parse_state(value: str | None) -> StateValue:
    """A state hash value as transitions.lua writes it (None or "": queued)."""
    head, _, stamp = (value or "").partition(STAMP)
    code, _, detail = head.partition(":")
    if not stamp:
        return StateValue(code, detail)
    segments, submitted_at, done_at = (*stamp.split(",", 2), "", "")[:3]
    return StateValue(code, detail, _number(segments), _number(submitted_at),
                      _number(done_at))


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def iso_time(unix: int | None) -> str:
    """A stamp's time as exports and the API show it: ISO 8601 in UTC; "" for None."""
    if unix is None:
        return ""
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def message_key(shard: int, entry_id: str) -> str:
    """The state-hash field of a shard entry."""
    return f"{shard}/{entry_id}"


class Transition(NamedTuple):
    """One message's move to a state, as transitions.lua applies it. A named tuple, not a
    frozen dataclass: a sender makes three a message, and a frozen dataclass costs 1 us to
    build (a setattr call a field), a tuple 0.3."""

    key: str
    """message_key(shard, entry id)."""
    state: str
    """A State code, with its detail for submitted (smsc ids) and failed (error code)."""
    variant: str = ""
    channel: str = ""
    segments: int = 0
    """Parts the SMSC accepted in the attempt this transition ends (segmentsSubmitted)."""
    part: int = 0
    """A receipt for one part of a long message: which (from 1); 0, the whole message."""
    parts: int = 1
    """How many parts that message has."""
    country: str = ""
    """A failure's: the number's ISO 3166 region, for the error counts per country
    (country:<CC>:error:<code>); "" when not known or not a failure."""


def receipt_transition(key: str, state: State, error: str, variant: str, channel: str,
                       part: int = 0, parts: int = 1, country: str = "") -> Transition:
    """What a final receipt for part `part` of `parts` (0: the whole message) asks of its
    message; the sender and the receiver both build them here. `country`: the number's,
    counted with a failure's error code."""
    if parts <= 1:
        part, parts = 0, 1
    if state is _DELIVERED:  # nearly every receipt: no enum's `value` or `==` to look up
        # Built as the tuple it is: the named tuple's __new__ is a Python call (280 ->
        # 150 ns a receipt).
        return _new_tuple(Transition, (key, _DELIVERED_CODE, variant, channel, 0, part, parts,
                                       ""))
    return Transition(key, receipt_state(state, error), variant, channel, 0, part, parts,
                      country if state == State.FAILED else "")


_DELIVERED: Final = State.DELIVERED
_new_tuple: Final = tuple.__new__
_DELIVERED_CODE: Final = State.DELIVERED.value


