"""A message's life: its states, as one-letter codes, and the transitions between them.

    queued --> submitting --> submitted(smsc id) --> delivered | failed | expired
       |            |  \\--> failed (permanent error)  \\--> queued (temporary error, retry)
       |            \\--> unknown (on the wire when a bind dropped or the sender died)
       \\--> optedOut | cancelled

`unknown` messages may still resolve: a receipt proves the SMSC took them. States are
one-letter codes in the campaign's state hash (absent = queued); submitted carries the
SMSC's message id and failed the error code. `transitions.lua` applies batches of
transitions atomically and idempotently (sender.store.transitions); this module has
no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    QUEUED = "Q"
    SUBMITTING = "S"
    SUBMITTED = "s"
    DELIVERED = "D"
    FAILED = "F"
    EXPIRED = "E"
    UNKNOWN = "U"
    OPTED_OUT = "O"
    CANCELLED = "X"


_FIELD_SAFE = str.maketrans("\t\n", "  ")  # fields travel tab- and line-separated


def submitted(smsc_id: str) -> str:
    return f"{State.SUBMITTED}:{smsc_id.translate(_FIELD_SAFE)}"


def failed(code: str) -> str:
    return f"{State.FAILED}:{code.translate(_FIELD_SAFE)}"


def receipt_state(state: State, error: str) -> str:
    """The state code a final receipt (delivered, expired, failed) moves its message to."""
    return failed(error or "receipt") if state == State.FAILED else state.value


def message_key(shard: int, entry_id: str) -> str:
    """The state-hash field of a shard entry."""
    return f"{shard}/{entry_id}"


@dataclass(frozen=True)
class Transition:
    key: str
    """message_key(shard, entry id)."""
    state: str
    """A State code, with its detail for submitted (smsc id) and failed (error code)."""
    variant: str = ""
    channel: str = ""


