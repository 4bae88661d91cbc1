"""Configuration of the SMPP simulator: accounts, timing, outcomes, throttling, drops.

Loaded from a YAML or JSON file (`load_config`), overridden by CLI flags, and changed at run
time through the control API (`merge_config`). Statuses are written by their SMPP names
(`ESME_RTHROTTLED`) or as numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from sender.smpp.codes import CommandStatus


def parse_status(value: object) -> object:
    if isinstance(value, str):
        name = value.strip().upper()
        if name in CommandStatus.__members__:
            return CommandStatus[name]
        return int(name, 0)
    return value


def to_status(value: object) -> CommandStatus:
    """A CommandStatus from its name (any case), its number, or a number in a string."""
    parsed = parse_status(value)
    if not isinstance(parsed, int):
        raise ValueError(f"not a command_status: {value!r}")
    return CommandStatus(parsed)


Status = Annotated[
    CommandStatus,
    BeforeValidator(parse_status),
    PlainSerializer(lambda status: status.name, return_type=str),
]
"""A command_status, written as its SMPP name or its number."""


class Outcome(StrEnum):
    """What becomes of a submit_sm: a final state reported by receipt, or an error at once."""

    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"
    """Accepted at submit, then a receipt with stat:REJECTD (message_state 8)."""
    ERROR = "error"
    """Refused at submit with a permanent command_status; not accepted, no receipt."""


class SimulatorModel(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True,
                              validate_assignment=True)


class Account(SimulatorModel):
    """An ESME allowed to bind."""

    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field(max_length=8)
    max_binds: int = Field(default=8, ge=1)
    """Binds of this system_id open at once; one more gets ESME_RBINDFAIL."""


class OutcomeWeights(SimulatorModel):
    """Relative weights of the outcomes of submits that no prefix rule matched."""

    delivered: float = Field(default=1.0, ge=0)
    undeliverable: float = Field(default=0.0, ge=0)
    expired: float = Field(default=0.0, ge=0)
    rejected: float = Field(default=0.0, ge=0)
    error: float = Field(default=0.0, ge=0)
    error_status: Status = CommandStatus.ESME_RSUBMITFAIL
    """command_status of the `error` outcome."""


class PrefixRule(SimulatorModel):
    """Destinations starting with `prefix` (a leading + ignored) get `outcome`."""

    prefix: str = Field(min_length=1)
    outcome: Outcome
    part: int | None = Field(default=None, ge=1, le=255)
    """Only this part (UDH or SAR seqnum, from 1) of a long message; the other parts, and
    short messages, go by the next matching rule. None: every part and short messages.
    Of two rules with the same prefix, the one naming a part wins."""
    status: Status = CommandStatus.ESME_RINVDSTADR
    """command_status when outcome is `error`."""
    error_code: int | None = Field(default=None, ge=0, le=999)
    """err: of the receipt and network_error_code; default by outcome."""


class ThrottleSettings(SimulatorModel):
    """Throttling bursts: submits number every, 2*every, ... each start `burst` refusals.

    Counted over all submits that reach the outcome decision (not those over the window).
    """

    every: int = Field(default=0, ge=0)
    """0 turns periodic bursts off."""
    burst: int = Field(default=1, ge=1)
    status: Status = CommandStatus.ESME_RTHROTTLED
    """ESME_RTHROTTLED or ESME_RMSGQFUL (any status is allowed)."""


class SimulatorConfig(SimulatorModel):
    """Everything the simulator does; every field can change at run time except addresses."""

    host: str = "127.0.0.1"
    port: int = Field(default=2775, ge=0, le=65535)
    """SMPP port; 0 picks a free one."""
    control_port: int | None = Field(default=None, ge=0, le=65535)
    """HTTP control API port on the same host; None: no control API, 0: a free port."""
    tls_cert_file: str = ""
    """PEM certificate chain to serve TLS with (with tls_key_file); empty: plain TCP."""
    tls_key_file: str = ""
    """PEM private key of tls_cert_file."""
    tls_client_ca_file: str = ""
    """PEM CA bundle; when set, every client must show a certificate it signed (mutual
    TLS)."""
    smsc_system_id: str = Field(default="herald-sim", max_length=15)
    """system_id the simulator gives in bind responses."""
    accounts: list[Account] = Field(
        default_factory=lambda: [Account(system_id="herald", password="herald")], min_length=1)
    """ESMEs allowed to bind; MO messages go to the first unless told otherwise."""
    message_id_format: Literal["hex", "decimal"] = "hex"
    """Form of message ids in submit_sm_resp: 8 hex digits or the same number in decimal."""
    receipt_id_format: Literal["same", "hex", "decimal"] = "same"
    """Form of the id in a receipt's text (some SMSCs answer hex and report decimal)."""
    latency_ms: int = Field(default=0, ge=0)
    """Delay before each submit_sm_resp."""
    window: int = Field(default=100, ge=0)
    """Unanswered submit_sm allowed per bind; beyond it, `window_status`. 0: no limit."""
    window_status: Status = CommandStatus.ESME_RTHROTTLED
    receipt_delay_ms: int = Field(default=100, ge=0)
    """Delay from submit_sm_resp to the receipt's deliver_sm."""
    receipt_ack_timeout_ms: int = Field(default=5000, ge=1)
    """A deliver_sm not answered within this is sent again."""
    receipt_retries: int = Field(default=3, ge=0)
    """Resends of an unanswered deliver_sm (receipt or MO) before giving it up."""
    seed: int = 0
    """Seeds the outcome draw and the first message id: same seed, same run."""
    outcomes: OutcomeWeights = Field(default_factory=OutcomeWeights)
    rules: list[PrefixRule] = Field(default_factory=list)
    """Destination-prefix rules; the longest matching prefix wins over `outcomes`. A rule
    with a `part` gives that part of a long message its own outcome."""
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    drop_every_submits: int = Field(default=0, ge=0)
    """Drop every connection after each such number of accepted submits; 0: never."""
    drops_lose_receipts: bool = False
    """A connection dropped on purpose (drop_every_submits, drop_after, POST /drop) takes
    the receipts owed to it along, as an SMSC that crashed would: those of submits accepted
    on it not yet sent, and those written to it and not yet acknowledged. They are counted
    in `receipts_lost` and never sent. Off: they go to the next bind of the system_id."""
    record_accepted: bool = True
    """Keep a record of each accepted submit (counters are always kept)."""

    def account(self, system_id: str) -> Account | None:
        return next((a for a in self.accounts if a.system_id == system_id), None)


FIXED_AT_START = frozenset({"host", "port", "control_port", "tls_cert_file", "tls_key_file",
                            "tls_client_ca_file"})
"""Fields a running simulator cannot change."""


def load_config(path: str | Path) -> SimulatorConfig:
    """A config from a YAML or JSON file (JSON is YAML)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return SimulatorConfig.model_validate(data)


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_config(config: SimulatorConfig, patch: Mapping[str, Any]) -> SimulatorConfig:
    """config with patch applied (objects merged, lists replaced), validated anew."""
    fixed = FIXED_AT_START & patch.keys()
    if fixed:
        raise ValueError(f"cannot change {', '.join(sorted(fixed))} at run time")
    return SimulatorConfig.model_validate(_deep_merge(config.model_dump(), patch))


def with_account(config: SimulatorConfig, system_id: str, password: str, *,
                 max_binds: int = 8) -> SimulatorConfig:
    """config whose accounts hold (system_id, password), replacing one of that id."""
    accounts = [a for a in config.accounts if a.system_id != system_id]
    accounts.insert(0, Account(system_id=system_id, password=password, max_binds=max_binds))
    return config.model_copy(update={"accounts": accounts})
