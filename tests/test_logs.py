"""herald.logs: phone masking and secret dropping as tables, then the whole setup (JSON and
console lines from structlog and stdlib loggers, context, kopf's timer lines) and the stop
signals."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import structlog

from herald.logs import (
    REDACTED,
    QuietTimers,
    configure_logging,
    drop_secrets,
    get_logger,
    mask_phone_numbers,
    mask_text,
    redact_text,
)
from sender.signals import install_stop_signals


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Every test here reconfigures the root logger and structlog; the others must not see it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# -- Masking ------------------------------------------------------------------------------

MASKED = [
    ("+8613812348000", "+86138****8000", "e164-cn"),
    ("+14155550123", "+14155****0123", "e164-us-11-digits"),
    ("+123456789012345", "+12345****2345", "e164-15-digits"),
    ("+4930123456", "+****3456", "e164-10-digits-tail-only"),
    ("+12345678", "+****5678", "e164-8-digits-tail-only"),
    ("8613812348000", "86138****8000", "msisdn"),
    ("13812348000", "13812****8000", "national-11"),
    ("123456789012345", "12345****2345", "bare-15"),
    ("sent to +8613812348000.", "sent to +86138****8000.", "sentence-end"),
    ("to=13812348000", "to=13812****8000", "logfmt"),
    ('{"to": "8613812348000"}', '{"to": "86138****8000"}', "json-text"),
    ("(13812348000)", "(13812****8000)", "parentheses"),
    ("tel:+8613812348000", "tel:+86138****8000", "tel-uri"),
    ("发送至13812348000成功", "发送至13812****8000成功", "between-cjk"),
    ("+8613812348000, 13812348001", "+86138****8000, 13812****8001", "two"),
    ("+86138****8000", "+86138****8000", "already-masked"),
]

NOT_MASKED = [
    ("2024-05-01T12:34:56.123456Z", "iso-timestamp"),
    ("2024-05-01T12:34:56+08:00", "iso-offset"),
    ("20240501T123456Z", "iso-basic"),
    ("UTC+0800", "tz-offset"),
    ("123e4567-e89b-12d3-a456-426614174000", "uuid"),
    ("12345678-1234-1234-1234-123456789012", "uuid-all-digits"),
    ("0a1b2c3d4e5f60718293", "hex-id"),
    ("a12345678901234", "digits-after-letter"),
    ("12345678901234abc", "digits-before-letter"),
    ("msg_12345678901234", "digits-after-underscore"),
    ("redis://localhost:6379/0", "port"),
    ("sent 10000 messages", "count"),
    ("10000", "ten-thousand"),
    ("1714567890", "epoch-seconds"),
    ("submit date:2405011234", "dlr-date"),
    ("1714567890123-0", "redis-stream-id"),
    ("240501123456000+", "smpp-absolute-time"),
    ("0.123456789012345", "decimal"),
    ("1234567890123456", "16-digits"),
    ("+1234567890123456", "plus-16-digits"),
    ("+1234567", "plus-7-digits"),
    ("1.2.3", "version"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for t, e, _ in MASKED],
                         ids=[i for _, _, i in MASKED])
def test_mask_text_masks_numbers(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [t for t, _ in NOT_MASKED], ids=[i for _, i in NOT_MASKED])
def test_mask_text_leaves_non_numbers(text: str) -> None:
    assert mask_text(text) == text


def test_mask_phone_numbers_walks_containers_without_mutating_them() -> None:
    logged = {"+8613812348000": "ok", "to": ["13812348000", ("+14155550123", 3)]}
    event = mask_phone_numbers(None, "info", {"event": "sent +8613812348000", "batch": logged,
                                              "count": 13812348000})
    assert event == {
        "event": "sent +86138****8000",
        "batch": {"+86138****8000": "ok", "to": ["13812****8000", ("+14155****0123", 3)]},
        "count": 13812348000,  # ints are not strings: left alone, as documented
    }
    assert logged == {"+8613812348000": "ok", "to": ["13812348000", ("+14155550123", 3)]}


# -- Secrets ------------------------------------------------------------------------------

REDACTED_KEYS = [
    ({"password": "hunter2"}, {"password": REDACTED}, "password"),
    ({"HERALD_SMPP_PASSWORD": "hunter2"}, {"HERALD_SMPP_PASSWORD": REDACTED}, "env-name"),
    ({"client_secret": "s"}, {"client_secret": REDACTED}, "secret"),
    ({"access_token": "t"}, {"access_token": REDACTED}, "token"),
    ({"Authorization": "Bearer t"}, {"Authorization": REDACTED}, "authorization"),
    ({"api_key": "k", "apiKey": "k", "X-Api-Key": "k"},
     {"api_key": REDACTED, "apiKey": REDACTED, "X-Api-Key": REDACTED}, "api-keys"),
    ({"smpp": {"user": "herald", "password": "p"}},
     {"smpp": {"user": "herald", "password": REDACTED}}, "nested"),
    ({"binds": [{"password": "p"}, ("x", {"token": 1})]},
     {"binds": [{"password": REDACTED}, ("x", {"token": REDACTED})]}, "in-lists"),
    ({"password": {"a": 1}}, {"password": REDACTED}, "whole-value"),
    ({"password": None, "token": ""}, {"password": None, "token": ""}, "unset-kept"),
    ({"secret_name": "herald-smpp", "passwordSecretRef": "ns/smpp"},
     {"secret_name": "herald-smpp", "passwordSecretRef": "ns/smpp"}, "references-kept"),
    ({"user": "herald", "host": "smsc"}, {"user": "herald", "host": "smsc"}, "others-kept"),
]


@pytest.mark.parametrize(("values", "expected"), [(v, e) for v, e, _ in REDACTED_KEYS],
                         ids=[i for _, _, i in REDACTED_KEYS])
def test_drop_secrets_by_key(values: dict[str, Any], expected: dict[str, Any]) -> None:
    assert drop_secrets(None, "info", {"event": "x", **values}) == {"event": "x", **expected}


REDACTED_TEXT = [
    ("smpp://herald:hunter2@smsc.example:2775", "smpp://herald:[redacted]@smsc.example:2775",
     "url-userinfo"),
    ("redis://:hunter2@redis:6379/0", "redis://:[redacted]@redis:6379/0", "url-password-only"),
    ("redis://:p@ss@redis/0", "redis://:[redacted]@redis/0", "url-at-in-password"),
    ("a http://u:x@h and redis://:y@r", "a http://u:[redacted]@h and redis://:[redacted]@r",
     "two-urls"),
    ("HERALD_SMPP_PASSWORD=hunter2 HERALD_SMPP_HOST=smsc",
     "HERALD_SMPP_PASSWORD=[redacted] HERALD_SMPP_HOST=smsc", "env-assignment"),
    ("bind failed password=hunter2", "bind failed password=[redacted]", "logfmt"),
    ("--password=hunter2", "--password=[redacted]", "cli-flag"),
    ("GET /hook?token=abc&x=1", "GET /hook?token=[redacted]&x=1", "query-string"),
    ('password="a b"', 'password="[redacted]"', "quoted-value"),
    ("{'password': 'hunter2', 'user': 'h'}", "{'password': '[redacted]', 'user': 'h'}",
     "dict-repr"),
    ('{"api_key": "k1"}', '{"api_key": "[redacted]"}', "json-text"),
    ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]", "header"),
    ("authorization=Basic dXNlcjpwdw==", "authorization=Basic [redacted]", "header-assignment"),
    ("smpp://herald:[redacted]@smsc", "smpp://herald:[redacted]@smsc", "already-redacted"),
]

KEPT_TEXT = [
    ("http://smsc.example:8080/path?email=a@b.c", "url-port-and-at-in-query"),
    ("http://herald@smsc.example", "url-user-only"),
    ("redis://redis:6379/0", "url-port"),
    ("password accepted", "no-assignment"),
    ("Secret herald/smpp: not found", "unquoted-colon"),
    ("secret_name=herald-smpp", "reference-assignment"),
    ("token bucket refilled: 30", "prose"),
    ("HERALD_SMPP_HOST=smsc", "other-assignment"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for t, e, _ in REDACTED_TEXT],
                         ids=[i for _, _, i in REDACTED_TEXT])
def test_redact_text_redacts(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", [t for t, _ in KEPT_TEXT], ids=[i for _, i in KEPT_TEXT])
def test_redact_text_keeps(text: str) -> None:
    assert redact_text(text) == text


LONG_INPUTS = [
    ("a" * 200_000, "word"),
    ("1" * 200_000, "digits"),
    ("x://" + "a" * 200_000, "url-scheme-then-word"),
    ("a://b:" + "c" * 200_000, "url-no-at"),
    ("password" * 25_000, "secret-words"),
    ('"token":' * 25_000, "quoted-keys"),
    ("Authorization:" + " " * 200_000, "header-spaces"),
]


@pytest.mark.parametrize("text", [t for t, _ in LONG_INPUTS], ids=[i for _, i in LONG_INPUTS])
def test_long_strings_take_linear_time(text: str) -> None:
    # Linear is milliseconds here; a regex that backtracks per position takes minutes.
    started = time.perf_counter()
    mask_text(text)
    redact_text(text)
    assert time.perf_counter() - started < 2


def test_drop_secrets_redacts_strings_in_values_and_event() -> None:
    event = drop_secrets(None, "info", {"event": "connect redis://:pw@r",
                                        "args": ["password=pw"]})
    assert event == {"event": "connect redis://:[redacted]@r", "args": ["password=[redacted]"]}


# -- The setup ----------------------------------------------------------------------------

def test_stdlib_line_is_masked_json() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    logging.getLogger("kopf.x").info("sent to +8613812348000")
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert list(record)[:4] == ["timestamp", "level", "logger", "event"]
    assert record["event"] == "sent to +86138****8000"
    assert (record["level"], record["logger"]) == ("info", "kopf.x")
    assert datetime.fromisoformat(record["timestamp"]).utcoffset() is not None
    assert record["timestamp"].endswith("Z")


def test_stdlib_args_and_secrets() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    logging.getLogger("redis.x").warning("cannot reach %s", "redis://:hunter2@redis:6379")
    [record] = json_lines(out)
    assert record["event"] == "cannot reach redis://:[redacted]@redis:6379"
    assert record["level"] == "warning"


def test_structlog_line_is_masked_json() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    get_logger("herald.test").info("submitted", to="+8613812348000", password="hunter2",
                                   parts=2)
    [record] = json_lines(out)
    assert record == {"timestamp": record["timestamp"], "level": "info",
                      "logger": "herald.test", "event": "submitted",
                      "to": "+86138****8000", "password": REDACTED, "parts": 2}


def test_get_logger_defaults_to_the_callers_module() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    get_logger().info("hello")
    assert json_lines(out)[0]["logger"] == __name__


def test_contextvars_appear_as_keys() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    structlog.contextvars.bind_contextvars(campaign="default/spring", channel="cmcc", shard=3)
    get_logger("herald.sender").info("batch sent")
    logging.getLogger("aiohttp.client").warning("slow")
    for record in json_lines(out):
        assert (record["campaign"], record["channel"], record["shard"]) == \
            ("default/spring", "cmcc", 3)


def test_kopf_object_reference_becomes_a_key() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    ref = {"namespace": "default", "name": "spring", "kind": "Campaign"}
    logging.getLogger("kopf.test").info("Handler succeeded.", extra={"k8s_ref": ref})
    assert json_lines(out)[0]["object"] == "default/spring"


@pytest.mark.parametrize("use_structlog", [False, True], ids=["stdlib", "structlog"])
def test_exception_text_is_masked(use_structlog: bool) -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    try:
        raise ValueError("rejected +8613812348000 with password=hunter2")
    except ValueError:
        if use_structlog:
            get_logger("herald.test").exception("submit failed")
        else:
            logging.getLogger("kopf.test").exception("submit failed")
    [record] = json_lines(out)
    assert record["level"] == "error"
    assert "ValueError: rejected +86138****8000 with password=[redacted]" in record["exception"]
    assert "8613812348000" not in out.getvalue()
    assert "hunter2" not in out.getvalue()


TIMER_LINES = [
    (logging.INFO, "Timer 'reconcile' succeeded.", False, False, "timer-dropped"),
    (logging.INFO, "Timer 'reconcile' succeeded.", True, True, "timer-kept-when-verbose"),
    (logging.INFO, "Timer 'reconcile' failed: retrying.", False, True, "other-timer-line"),
    (logging.WARNING, "Timer 'reconcile' succeeded.", False, True, "not-info"),
    (logging.INFO, "Handler 'create' succeeded.", False, True, "handler-line"),
    (logging.INFO, "Timer 'reconcile' succeeded. Twice", False, True, "not-full-match"),
]


@pytest.mark.parametrize(("level", "message", "verbose", "kept"),
                         [row[:4] for row in TIMER_LINES], ids=[row[4] for row in TIMER_LINES])
def test_quiet_timers(level: int, message: str, verbose: bool, kept: bool) -> None:
    out = io.StringIO()
    configure_logging(fmt="json", verbose=verbose, stream=out)
    logging.getLogger("kopf.objects.test").log(level, message)
    assert [r["event"] for r in json_lines(out)] == ([message] if kept else [])


def test_quiet_timers_sees_formatted_messages() -> None:
    record = logging.LogRecord("kopf.objects", logging.INFO, __file__, 1,
                               "Timer %r succeeded.", ("reconcile",), None)
    assert QuietTimers().filter(record) is False


def test_level_filters_both_kinds() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", level=logging.WARNING, stream=out)
    logging.getLogger("kopf.test").info("hidden")
    get_logger("herald.test").info("hidden")
    get_logger("herald.test").warning("shown")
    assert [r["event"] for r in json_lines(out)] == ["shown"]


def test_configure_twice_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    logging.getLogger().addHandler(logging.StreamHandler(first))  # e.g. basicConfig's
    configure_logging(fmt="console", stream=first)
    configure_logging(fmt="json", stream=second)
    logging.getLogger("kopf.test").info("once")
    get_logger("herald.test").info("once")
    assert len(logging.getLogger().handlers) == 1
    assert first.getvalue() == ""
    assert [r["event"] for r in json_lines(second)] == ["once", "once"]


def test_console_is_human_output() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    get_logger("herald.test").info("submitted", to="+8613812348000", shard=3)
    logging.getLogger("kopf.test").warning("slow reply from 13812348000")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
    assert "submitted" in lines[0] and "to=+86138****8000" in lines[0] and "shard=3" in lines[0]
    assert "slow reply from 13812****8000" in lines[1]
    assert "\x1b[" not in out.getvalue()  # not a TTY: no colors


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "is_json"), [(io.StringIO, True), (FakeTty, False)],
                         ids=["pipe-json", "tty-console"])
def test_auto_picks_by_tty(stream: type[io.StringIO], is_json: bool) -> None:
    out = stream()
    configure_logging(stream=out)  # fmt="auto"
    get_logger("herald.test").info("hello")
    line = out.getvalue().splitlines()[0]
    if is_json:
        assert json.loads(line)["event"] == "hello"
    else:
        assert "hello" in line and "\x1b[" in line  # a TTY: colors


# -- Signals ------------------------------------------------------------------------------

class RecordingLoop:
    def __init__(self) -> None:
        self.handlers: dict[int, tuple[Any, ...]] = {}

    def add_signal_handler(self, signum: int, callback: Any, *args: Any) -> None:
        self.handlers[signum] = (callback, *args)


def test_install_stop_signals_registers_term_and_int() -> None:
    loop = RecordingLoop()
    calls: list[None] = []
    install_stop_signals(loop, lambda: calls.append(None))  # type: ignore[arg-type]
    assert set(loop.handlers) == {signal.SIGTERM, signal.SIGINT}
    for callback, *args in loop.handlers.values():
        callback(*args)
    assert len(calls) == 2  # every signal calls stop again


async def test_signals_call_stop_each_time() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    calls: list[None] = []

    def on_stop() -> None:
        calls.append(None)
        stop.set()

    install_stop_signals(loop, on_stop)
    try:
        # Raise only with the handlers in place: a default SIGTERM would end pytest.
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), timeout=5)
        signal.raise_signal(signal.SIGINT)
        for _ in range(100):
            if len(calls) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    assert len(calls) == 2
    assert [r["event"] for r in json_lines(out)] == ["stopping on SIGTERM", "stopping on SIGINT"]
