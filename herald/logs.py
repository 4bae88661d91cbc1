"""One logging setup for every `herald` process: structlog in front, stdlib behind.

Why one setup: the operator, the sender, the receiver, the importer and the simulator used
to configure logs each their own way (kopf's formatter, `logging.basicConfig`), so the same
cluster wrote three formats and none carried the campaign or shard. Here every log line,
from Herald's structlog loggers and from stdlib loggers alike (kopf, aiohttp, redis,
asyncio, modules using `logging.getLogger(__name__)`), goes through one processor chain on
one stderr handler (structlog's `ProcessorFormatter`; the stdlib records enter through its
`foreign_pre_chain`). That chain:

- merges context variables, so a process binds `campaign="ns/name"`, `channel`, `shard`
  once (`structlog.contextvars.bind_contextvars`) and every line carries them;
- renders exceptions to text before masking, so a traceback cannot leak what a message
  would not;
- drops secrets (`drop_secrets`) and masks phone numbers (`mask_phone_numbers`): logs
  are for operators and end up in shared aggregators, recipients' numbers and SMPP
  passwords must not (STYLE.md section 7, "Logs").

Output is JSON lines for machines (stderr is not a TTY: a pod) and structlog's console
renderer for people (a TTY). kopf's INFO line per successful timer run is dropped unless
verbose (`QuietTimers`): Herald's timers run every second per campaign and drown the rest.

The processes' SIGTERM/SIGINT wiring is sender.signals: the engine's processes need it
and must not import this package.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "REDACTED",
    "QuietTimers",
    "configure_logging",
    "drop_secrets",
    "get_logger",
    "mask_phone_numbers",
    "mask_text",
    "redact_text",
]

LogFormat = Literal["auto", "json", "console"]

REDACTED = "[redacted]"

# -- Phone numbers ------------------------------------------------------------------------

# One pass, one regex. Digits and word characters are spelled out in ASCII on purpose:
# with Unicode `\w`, "发送至13812348000成功" would count the Chinese characters as part of
# the token and leave the number unmasked.
_PHONE_NUMBER = re.compile(
    r"""
    (?<![A-Za-z0-9_.+\-])       # a token's start: not after a letter or digit (hex ids,
                                # longer numbers), "." (decimals), "-" (UUID groups)
    (?:
        \+(?P<e164>[0-9]{8,15}) # E.164-ish: "+" and 8-15 digits
      | (?P<bare>[0-9]{11,15})  # national / MSISDN forms: 11-15 bare digits
    )
    (?![A-Za-z0-9_+\-])         # a token's end: not before a letter or digit, "+" or "-"
                                # (SMPP times "240501123456000+", Redis ids "…123-0")
    """,
    re.VERBOSE,
)


def _mask_digits(digits: str) -> str:
    # Keeping the first five (country and operator prefix) and the last four is what
    # support needs to tell numbers apart; below 11 digits that would hide almost nothing.
    if len(digits) >= 11:
        return f"{digits[:5]}****{digits[-4:]}"
    return f"****{digits[-4:]}"


def _mask_match(match: re.Match[str]) -> str:
    e164 = match["e164"]
    return f"+{_mask_digits(e164)}" if e164 is not None else _mask_digits(match["bare"])


def mask_text(text: str) -> str:
    """Masks the phone numbers in one string; see `mask_phone_numbers` for the rules."""
    return _PHONE_NUMBER.sub(_mask_match, text)


def _mask_value(value: object) -> object:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        # Keys too: per-recipient results are naturally keyed by number.
        return {(mask_text(k) if isinstance(k, str) else k): _mask_value(v)
                for k, v in value.items()}
    # New containers, never in place: the caller still holds the objects it logged.
    if isinstance(value, list):
        return [_mask_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_mask_value(item) for item in value)
    return value


def mask_phone_numbers(_logger: WrappedLogger, _method: str,
                       event_dict: EventDict) -> EventDict:
    """A structlog processor: masks phone numbers in the event and every string value.

    Strings are found recursively in dicts (keys and values), lists and tuples; other
    values (ints, objects rendered later by repr) are left alone, so log numbers as the
    strings Herald keeps them as.

    What counts as a phone number, as a whole token (not preceded by a letter, digit,
    "_", ".", "+" or "-"; not followed by a letter, digit, "_", "+" or "-"):

    - "+" and 8-15 digits (E.164-ish);
    - 11-15 bare digits (national and MSISDN forms: "13812348000", "8613812348000").

    How it is masked: 11 digits or more keep the first 5 and the last 4 around "****"
    ("+8613812348000" -> "+86138****8000", "13812348000" -> "13812****8000"); shorter
    "+" numbers (8-10 digits) keep only the last 4 ("+4930123456" -> "+****3456"). The
    "+" is kept. Masked text does not match again, so masking twice is harmless.

    Not masked, by design: ISO timestamps, UUIDs (groups follow "-"), hex ids (they hold
    letters), ports and counts (too short), epoch seconds (10 digits), decimals, Redis
    stream ids ("1714567890123-0") and SMPP absolute times ("240501123456000+"). Runs of
    16 digits or more are not phone numbers. The price: an 11-15 digit decimal id (a
    DLR "id:12345678901", a large resourceVersion) is masked too; a number written with
    spaces or dashes ("+86 138 1234 8000") is not.
    """
    for key, value in event_dict.items():
        if not key.startswith("_"):  # structlog's own `_record` and `_from_structlog`
            event_dict[key] = _mask_value(value)
    return event_dict


# -- Secrets ------------------------------------------------------------------------------

# Substrings of a lowercased key or text, not a regex: `in` is ten times faster than an
# IGNORECASE alternation, and most strings logged hold none of them.
_SECRET_WORDS = ("password", "passwd", "secret", "token", "authorization",
                 "api_key", "api-key", "apikey")
# A key naming where a secret is (`secret_name`, `secretKeyRef`) holds no secret, and
# hiding it would hide exactly what an operator needs when the Secret is missing.
_REFERENCE_SUFFIXES = ("name", "namespace", "ref")

# `scheme://user:password@host`: the password is what urllib (and so redis-py) reads as
# one: after the user's first ":", up to the netloc's last "@".
# The lookbehind starts a try only where a scheme can start: without it, a long word
# would be scanned again from each of its letters.
_URL_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9+.\-])(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#]*:)[^\s/?#]+@")

# `KEY=value` anywhere (env dumps, logfmt, query strings, `--password=x`), and
# `"KEY": value` when the key is quoted (a dict's repr, JSON). An unquoted `key: value`
# is left alone: "Secret herald/smpp: not found" must stay readable.
_SECRET_ASSIGNMENT = re.compile(
    r"""
    (?<![A-Za-z0-9_.\-])
    (?P<key>(?P<quote>["']?)(?P<name>[A-Za-z0-9_.\-]+)(?P=quote))
    (?P<sep>\s*=\s*|(?<=["'])\s*:\s*)
    (?P<scheme>(?:Bearer|Basic|Token)\s+)?      # keep an Authorization scheme readable
    (?P<value>"[^"]*"|'[^']*'|[^\s&"']+)        # unquoted: to a space, "&" or a quote
    """,
    re.VERBOSE | re.IGNORECASE,
)
# `Authorization: Bearer …` as an HTTP header is written unquoted with a colon.
_AUTHORIZATION_HEADER = re.compile(
    r"(?P<head>\bauthorization\s*:\s*(?:(?:Bearer|Basic|Token)\s+)?)(?P<value>\S+)",
    re.IGNORECASE,
)


def _has_secret_word(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _is_secret_key(key: str) -> bool:
    return _has_secret_word(key) and not key.lower().endswith(_REFERENCE_SUFFIXES)


# Functions, not "\g<head>" templates: half the cost per match.
def _redact_url(match: re.Match[str]) -> str:
    return f"{match['head']}{REDACTED}@"


def _redact_header(match: re.Match[str]) -> str:
    return f"{match['head']}{REDACTED}"


def _redact_assignment(match: re.Match[str]) -> str:
    if not _is_secret_key(match["name"]):
        return match[0]
    value = match["value"]
    quote = value[0] if value[0] in "\"'" else ""
    kept = match["key"] + match["sep"] + (match["scheme"] or "")
    return f"{kept}{quote}{REDACTED}{quote}"


def redact_text(text: str) -> str:
    """Redacts URL passwords and `password=…`-style assignments in one string."""
    # Cheap checks first: most lines hold no URL and no secret's name.
    if "://" in text:
        text = _URL_PASSWORD.sub(_redact_url, text)
    if not _has_secret_word(text):
        return text
    text = _SECRET_ASSIGNMENT.sub(_redact_assignment, text)
    return _AUTHORIZATION_HEADER.sub(_redact_header, text)


def _redact_value(key: object, value: object) -> object:
    if isinstance(key, str) and _is_secret_key(key):
        # None and "" say "not set" and give nothing away; that is worth seeing.
        empty = value is None or (isinstance(value, str) and not value)
        return value if empty else REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(None, item) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(None, item) for item in value)
    return value


def drop_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: redacts secrets in the event dict, recursively.

    - A key (any depth, case-insensitive) containing "password", "passwd", "secret",
      "token", "authorization", "api_key", "api-key" or "apikey" has its value replaced
      by "[redacted]", unless the value is None or "" (unset says nothing), or the key
      ends in "name", "namespace" or "ref" (`secret_name`, `secretKeyRef` point to a
      secret; they are not one).
    - In every string: URL passwords (`smpp://user:pw@host` -> `smpp://user:[redacted]@host`,
      `redis://:pw@host` -> `redis://:[redacted]@host`); `KEY=value` and quoted
      `"KEY": value` assignments whose key is a secret's (`HERALD_SMPP_PASSWORD=x`,
      `?token=x&`, `{'password': 'x'}`), the value being quoted or running to the next
      whitespace, "&" or quote; and `Authorization: Bearer x` headers.
    """
    for key, value in event_dict.items():
        if not key.startswith("_"):
            event_dict[key] = _redact_value(key, value)
    return event_dict


# -- kopf ---------------------------------------------------------------------------------

TIMER_SUCCEEDED = re.compile(r"Timer '[^']*' succeeded\.")


class QuietTimers(logging.Filter):
    """Drops kopf's INFO line for each timer run that succeeded.

    Herald's campaign timer runs every second per campaign and the channel timer every 5 s
    per channel; kopf logs "Timer 'reconcile' succeeded." at INFO each time. Failures and
    retries still log, as do all other handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # structlog's records carry a dict in `msg`; only stdlib strings can be kopf's.
        return not (record.levelno == logging.INFO and isinstance(record.msg, str)
                    and TIMER_SUCCEEDED.fullmatch(record.getMessage()) is not None)


def _add_kopf_object(_logger: WrappedLogger, _method: str,
                     event_dict: EventDict) -> EventDict:
    # kopf's per-object loggers put the object on the record (`k8s_ref`) and leave it to
    # kopf's own formatter to print "[ns/name]"; without that formatter it would be lost.
    ref = getattr(event_dict.get("_record"), "k8s_ref", None)
    if isinstance(ref, dict) and ref.get("name"):
        namespace = ref.get("namespace")
        event_dict.setdefault("object", f"{namespace}/{ref['name']}" if namespace
                              else ref["name"])
    return event_dict


# -- Setup --------------------------------------------------------------------------------

_FIRST_KEYS = ("timestamp", "level", "logger", "event")


def _order_keys(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # A JSON line reads best, and greps alike, with the same four keys first.
    first = {key: event_dict.pop(key) for key in _FIRST_KEYS if key in event_dict}
    return {**first, **event_dict}


def _shared_processors() -> list[Processor]:
    """What every record goes through, structlog's and stdlib's alike, before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_kopf_object,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Exceptions become text here, before the two below, so tracebacks are masked.
        structlog.processors.format_exc_info,
        drop_secrets,
        mask_phone_numbers,
    ]


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _renderer(fmt: LogFormat, stream: TextIO) -> list[Processor]:
    if fmt == "console" or (fmt == "auto" and _is_tty(stream)):
        # Exceptions arrive as text (format_exc_info above), so they print plain.
        return [structlog.dev.ConsoleRenderer(colors=_is_tty(stream))]
    return [_order_keys, structlog.processors.JSONRenderer()]


def configure_logging(*, fmt: LogFormat = "auto", level: int = logging.INFO,
                      verbose: bool = False, stream: TextIO | None = None) -> None:
    """Sets up structlog and stdlib logging for this process; call it first in `main`.

    `fmt`: "json" (one JSON object per line: timestamp in ISO 8601 UTC, level, logger,
    event, then bound and context keys), "console" (structlog's human renderer, colored
    only on a TTY), or "auto": console when `stream` is a TTY, JSON otherwise.
    `level` applies to the root logger, and so to every logger without its own level.
    `verbose` keeps kopf's "Timer '…' succeeded." lines. `stream` defaults to stderr.

    The root logger's handlers are replaced by one (kopf's, `basicConfig`'s would print
    every line twice), so calling this again reconfigures rather than adds.
    """
    stream = sys.stderr if stream is None else stream
    shared = _shared_processors()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *_renderer(fmt, stream)],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    if not verbose:
        handler.addFilter(QuietTimers())

    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)  # not closed: their streams are not ours
    root.addHandler(handler)
    root.setLevel(level)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # skip the work for lines nobody sees
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a cached logger keeps the chain it first saw, and a module-level
        # logger used before (or across) a call to this function would then ignore it.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger writing through stdlib `logging` under `name`.

    Without a name, the calling module's, resolved here and not left to structlog's
    frame guessing, which would happen at the first log call, wherever that is.
    """
    if name is None:
        name = sys._getframe(1).f_globals.get("__name__", "herald")
    return structlog.stdlib.get_logger(name)
