"""What the ingest API decides about a request, without I/O: the token, the event's body,
the message it names, the answer when the queue is full.

    POST /v1/namespaces/NS/campaigns/NAME/messages
        Authorization: Bearer TOKEN
        Idempotency-Key: KEY                  1-255 visible ASCII characters
        {"phone": "+8613800138000", "variables": {"name": "Li"}}

Every refusal is a `Problem`: its HTTP status, a CamelCase reason and a message, sent
as {"error": reason, "message": ...}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_camel

from sender.ingest_run import IngestRun, token_digest
from sender.sms.numbers import DropReason, mask_number, parse_number, shard_of
from sender.sms.states import State, iso_time, parse_state
from sender.sms.variants import VariantPicker

MAX_BODY_BYTES = 16 * 1024
"""An event's body at most (a number and its variables); larger ones get 413."""
MAX_VARIABLES = 32
MAX_VALUE_CHARS = 256
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Problem:
    status: int
    reason: str
    message: str

    def body(self) -> dict[str, str]:
        return {"error": self.reason, "message": self.message}


@dataclass(frozen=True)
class Event:
    """One event as it is queued."""

    number: str
    """E.164."""
    variables: dict[str, str]
    shard: int
    """The lane it is queued in: its shard's, of the channel it is routed to."""
    variant: str
    fingerprint: str
    """Hash of the number and variables: a key reused for another event is told apart."""
    zone: str = ""
    """The number's own IANA zone when the run times recipients by their clocks
    (IngestRun.recipient_zones), "" otherwise or when it has none of its own."""


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, None without one."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(token), digest)


def check_idempotency_key(key: str | None) -> Problem | None:
    if key is None:
        return Problem(400, "MissingIdempotencyKey",
                       "an Idempotency-Key header is required: a retried post with the same"
                       " key is never sent twice")
    if not IDEMPOTENCY_KEY.match(key):
        return Problem(400, "InvalidIdempotencyKey",
                       "the Idempotency-Key is 1 to 255 visible ASCII characters")
    return None


def too_large(content_length: int | None) -> Problem | None:
    if content_length is not None and content_length > MAX_BODY_BYTES:
        return Problem(413, "BodyTooLarge",
                       f"the body is {content_length} bytes; an event takes at most"
                       f" {MAX_BODY_BYTES}")
    return None


def parse_event(raw: bytes, ingest: IngestRun) -> Event | Problem:
    """The event a body posts, or why it is refused (400, or 413 when too large)."""
    if len(raw) > MAX_BODY_BYTES:
        return Problem(413, "BodyTooLarge", f"an event takes at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        return Problem(400, "MalformedBody", f"the body is not JSON: {error}")
    if not isinstance(body, dict):
        return Problem(400, "MalformedBody",
                       'the body is a JSON object: {"phone": ..., "variables": {...}}')
    unknown = sorted(set(body) - {"phone", "variables"})
    if unknown:
        return Problem(400, "MalformedBody", f"unknown fields: {', '.join(unknown)}")
    phone = body.get("phone")
    if not isinstance(phone, str | int) or isinstance(phone, bool):
        return Problem(400, "MissingNumber", "phone (a string) is required")
    parsed = parse_number(str(phone)[:64], ingest.default_region)
    if isinstance(parsed, DropReason):
        return _not_a_number(parsed)
    number = parsed.e164
    zone = parsed.zone() if ingest.recipient_zones else ""
    channel = 0
    if ingest.router is not None:
        country = parsed.region
        name = ingest.router.route(parsed.number, number, kind=parsed.kind, country=country)
        if name is None:
            return Problem(422, "Unroutable", (
                f"no channel of the campaign serves {mask_number(number)}"
                f" ({country or 'no country'}); see the Channels' spec.routing"))
        channel = [c.name for c in ingest.channels].index(name)
    variables = _variables(body.get("variables", {}))
    if isinstance(variables, Problem):
        return variables
    variant = VariantPicker(ingest.variants)(number)
    missing = [name for name in ingest.required.get(variant, []) if name not in variables]
    if missing:
        return Problem(400, "MissingVariables",
                       f"variables missing that the template uses: {', '.join(missing)}")
    canonical = json.dumps([number, variables], sort_keys=True, ensure_ascii=False)
    lane = ingest.lanes.lane(shard_of(number, ingest.shards), channel)
    return Event(number, variables, lane, variant,
                 hashlib.sha256(canonical.encode()).hexdigest()[:16], zone)


def _not_a_number(reason: DropReason) -> Problem:
    return Problem(400, str(reason), f"phone is not a number Herald sends to: {reason}")


def _variables(value: Any) -> dict[str, str] | Problem:
    if not isinstance(value, dict):
        return Problem(400, "MalformedBody", "variables is a JSON object of names to values")
    if len(value) > MAX_VARIABLES:
        return Problem(400, "MalformedBody", f"at most {MAX_VARIABLES} variables")
    variables: dict[str, str] = {}
    for name, item in value.items():
        if not VARIABLE_NAME.match(name):
            return Problem(400, "MalformedBody", f"variable name {name[:64]!r} is not"
                           " letters, digits and underscores (not starting with a digit)")
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            return Problem(400, "MalformedBody",
                           f"variable {name}: a string or a number, not {type(item).__name__}")
        text = str(item)
        if len(text) > MAX_VALUE_CHARS:
            return Problem(400, "MalformedBody",
                           f"variable {name}: at most {MAX_VALUE_CHARS} characters")
        variables[name] = text
    return variables


def retry_after_seconds(queued: int, max_queued: int, rate_per_second: int) -> int:
    """Seconds until a full queue has room again at the campaign's rate: the excess over
    the bound, plus the one event, sent at `rate_per_second`; at least 1."""
    excess = max(0, queued - max_queued) + 1
    return max(1, math.ceil(excess / max(1, rate_per_second)))


def full(queued: int, ingest: IngestRun) -> tuple[Problem, int]:
    """The 429 of a full queue and its Retry-After."""
    wait = retry_after_seconds(queued, ingest.max_queued, ingest.rate_per_second)
    return Problem(429, "QueueFull", (
        f"{queued:,} messages are queued, the campaign's bound is {ingest.max_queued:,}"
        f" (spec.ingest.maxQueuedMessages); retry in {wait} s")), wait


def message_id(key: str) -> str:
    """The API's id of a message key ("3/1764672000000-0" -> "3-1764672000000-0")."""
    return key.replace("/", "-", 1)


def message_key(message: str) -> str | None:
    """The message key of an API id; None when it cannot be one."""
    shard, _, entry = message.partition("-")
    if not shard.isdigit() or not re.fullmatch(r"\d+-\d+", entry):
        return None
    return f"{shard}/{entry}"


STATE_NAMES: Mapping[str, str] = {state.value: to_camel(state.name.lower()) for state in State}
"""State code -> its name in the API (Q queued, s submitted, O optedOut...)."""


def state_view(value: str) -> dict[str, Any]:
    """A message's state as GET shows it: its name, detail, segments and times."""
    found = parse_state(value)
    letter, detail = found.code, found.detail
    view: dict[str, Any] = {"state": STATE_NAMES.get(letter or State.QUEUED, letter)}
    if letter == State.SUBMITTED and detail:
        view["smscMessageIds"] = detail.split(" ")
    elif letter == State.FAILED and detail:
        view["error"] = detail
    elif detail:
        view["detail"] = detail
    if found.segments is not None:
        view["segments"] = found.segments
    for name, unix in (("submitTime", found.submitted_at), ("doneTime", found.done_at)):
        if unix is not None:
            view[name] = iso_time(unix)
    return view
