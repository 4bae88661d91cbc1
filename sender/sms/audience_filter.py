"""The audience filter: a CEL expression over a recipient's typed variables
(`vars.city == "Shanghai" && age(vars.born) >= 18`), as Kubernetes' own validation rules
are written.

Pure (a clock is passed in). Compiled twice: by the operator when the Campaign is
applied, so a syntax or type error is a condition (InvalidFilter) before any importer
pod runs; and by the importer, which converts each row's values to their declared types
(crds.campaign.ColumnVariable) and evaluates it. CEL has no static types in cel-python,
so the apply-time check evaluates the expression on two sets of typed sample values
(zeros and large values, to take both sides of most comparisons): an expression that
compares an Int to a string, or does not give a bool, fails there. A row whose value
does not convert, or on which the expression errors, raises FilterRowError: the
importer counts it invalid (FilterError), never silently filtered.

Dates are midnight in the campaign's time zone; the helpers (`age`, `daysUntil`,
`daysToAnniversary`, `month`, `day`, `now`, `today`) count in that zone too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from crds.campaign import VariableType

Predicate = Callable[[Mapping[str, str]], bool]
Clock = Callable[[], datetime]
Types = Mapping[str, VariableType]

_TRUE = frozenset({"true", "yes", "y", "1", "是", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "f"})
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")
_LIST_SPLIT = re.compile(r"[;|]")


class FilterError(ValueError):
    """The expression does not compile or does not type-check; the message says why."""


class FilterRowError(ValueError):
    """This row cannot be filtered: a value does not convert, or the expression errors."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def filter_error(expression: str, types: Types | None = None, time_zone: str = "UTC",
                 clock: Clock | None = None) -> str | None:
    """Why the expression is refused (a syntax error with line and column, a type
    error on typed sample values, a result that is not a bool), or None.

    The verdict does not depend on the moment, so without a `clock` it is remembered:
    the operator asks on every reconcile of a campaign waiting to start."""
    if not expression.strip():
        return None
    if clock is None:
        return _remembered_error(expression, tuple(sorted((types or {}).items())), time_zone)
    return _filter_error(expression, types, time_zone, clock)


@lru_cache(maxsize=256)
def _remembered_error(expression: str, types: tuple[tuple[str, VariableType], ...],
                      time_zone: str) -> str | None:
    return _filter_error(expression, dict(types), time_zone, utc_now)


def _filter_error(expression: str, types: Types | None, time_zone: str,
                  clock: Clock) -> str | None:
    try:
        keep = compile_filter(expression, types, time_zone, clock)
    except FilterError as error:
        return str(error)
    if not types:  # every variable a string, of columns not known here: syntax only
        return None
    for sample in _samples(types):
        try:
            assert keep is not None
            keep(sample)
        except FilterRowError as error:
            return f"audience.filter does not type-check: {error}"
    return None


def compile_filter(expression: str, types: Types | None = None, time_zone: str = "UTC",
                   clock: Clock = utc_now) -> Predicate | None:
    """The filter as a predicate over a row's variables (their text); None for an empty
    expression. Raises FilterError; the predicate raises FilterRowError."""
    if not expression.strip():
        return None
    zone = _zone(time_zone)
    types = dict(types or {})
    moment = _Moment(clock().astimezone(zone))
    program = _program(expression, _helpers(moment))

    def keep(variables: Mapping[str, str]) -> bool:
        now = moment.set(clock().astimezone(zone))
        activation: dict[str, Any] = {
            "vars": _typed(variables, types, zone), "now": _timestamp(now),
            "today": _timestamp(_midnight(now.date(), zone))}
        try:
            result = program.evaluate(activation)
        except CELEvalError as error:
            raise FilterRowError(_eval_detail(error)) from None
        if isinstance(result, CELEvalError):
            raise FilterRowError(_eval_detail(result))
        if not isinstance(result, celtypes.BoolType):
            raise FilterRowError(f"the filter gives {type(result).__name__.removesuffix('Type')}"
                                 ", not a bool")
        return bool(result)

    return keep


# -- compiling -----------------------------------------------------------------------------

class _Moment:
    """The clock's reading the helpers count from: set before each evaluation (celpy
    binds functions once, when the program is made)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def set(self, now: datetime) -> datetime:
        self.now = now
        return now


def _program(expression: str, helpers: dict[str, Callable[..., Any]]) -> celpy.Runner:
    """cel-python's interpreter. Its transpiled runner (CompiledRunner) measured twice as
    fast a row, but in cel-python 0.5 it breaks CEL's semantics (`has(vars.x) && vars.x
    > 1` errors on a row without x) and cannot call our helpers; not used."""
    return celpy.Environment().program(_compiled(expression), functions=helpers)


@lru_cache(maxsize=64)  # the operator checks the same expression on every reconcile
def _compiled(expression: str) -> Any:
    env = celpy.Environment()
    try:
        return env.compile(expression)
    except CELParseError as error:
        where = f"line {error.line}, column {error.column}" if error.line else "here"
        shown = str(error).rstrip()
        raise FilterError(f"audience.filter is not valid CEL at {where}: {shown}") from None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise FilterError(f"schedule.timeZone {name!r} is not an IANA time zone") from None


# -- values ---------------------------------------------------------------------------------

def _typed(variables: Mapping[str, str], types: Mapping[str, VariableType], zone: ZoneInfo
           ) -> celtypes.MapType:
    values: dict[Any, Any] = {}
    for name, text in variables.items():
        kind = types.get(name, VariableType.STRING)
        if kind != VariableType.STRING and not text.strip():
            continue  # an empty cell: the variable is absent (has(vars.x) is false)
        try:
            values[celtypes.StringType(name)] = convert(text, kind, zone)
        except ValueError as error:
            raise FilterRowError(f"vars.{name}: {error}") from None
    return celtypes.MapType(values)


def convert(text: str, kind: VariableType, zone: ZoneInfo) -> Any:
    """One cell's text as the CEL value of its type. Raises ValueError."""
    value = text.strip()
    if kind == VariableType.STRING:
        return celtypes.StringType(text)
    if kind == VariableType.INT:
        number = float(value) if re.fullmatch(r"[+-]?\d+\.0*", value) else None
        try:
            return celtypes.IntType(int(number) if number is not None else int(value))
        except ValueError:
            raise ValueError(f"{_shown(text)} is not a whole number") from None
    if kind == VariableType.DECIMAL:
        try:
            return celtypes.DoubleType(float(value))
        except ValueError:
            raise ValueError(f"{_shown(text)} is not a number") from None
    if kind == VariableType.BOOL:
        folded = value.casefold()
        if folded in _TRUE or folded in _FALSE:
            return celtypes.BoolType(folded in _TRUE)
        raise ValueError(f"{_shown(text)} is not true or false")
    if kind == VariableType.DATE:
        for form in _DATE_FORMATS:
            try:
                day = datetime.strptime(value, form).date()
            except ValueError:
                continue
            return _timestamp(_midnight(day, zone))
        raise ValueError(f"{_shown(text)} is not a date (YYYY-MM-DD)")
    if kind == VariableType.TIMESTAMP:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{_shown(text)} is not an ISO 8601 timestamp") from None
        return _timestamp(moment if moment.tzinfo else moment.replace(tzinfo=zone))
    return celtypes.ListType([celtypes.StringType(item.strip())
                              for item in _LIST_SPLIT.split(text) if item.strip()])


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _timestamp(moment: datetime) -> celtypes.TimestampType:
    return celtypes.TimestampType(moment.astimezone(UTC))


def _samples(types: Mapping[str, VariableType]) -> list[dict[str, str]]:
    """Two rows of typed values to try the expression on."""
    low = {VariableType.STRING: "", VariableType.INT: "0", VariableType.DECIMAL: "0",
           VariableType.BOOL: "false", VariableType.DATE: "2000-01-01",
           VariableType.TIMESTAMP: "2000-01-01T00:00:00+00:00", VariableType.LIST: "x"}
    high = {VariableType.STRING: "sample", VariableType.INT: "1000000000",
            VariableType.DECIMAL: "1e9", VariableType.BOOL: "true",
            VariableType.DATE: "2099-12-31", VariableType.TIMESTAMP: "2099-12-31T00:00:00+00:00",
            VariableType.LIST: "a;b"}
    return [{name: table[kind] for name, kind in types.items()} for table in (low, high)]


# -- helpers ---------------------------------------------------------------------------------

def _helpers(moment: _Moment) -> dict[str, Callable[..., Any]]:
    def local_day(value: Any) -> date:
        if not isinstance(value, celtypes.TimestampType):
            raise TypeError(f"expected a Date or Timestamp, not {type(value).__name__}")
        zone = moment.now.tzinfo
        return datetime.fromtimestamp(value.timestamp(), zone).date()

    def age(value: Any) -> celtypes.IntType:
        today = moment.now.date()
        born = local_day(value)
        years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        return celtypes.IntType(years)

    def days_until(value: Any) -> celtypes.IntType:
        return celtypes.IntType((local_day(value) - moment.now.date()).days)

    def days_to_anniversary(value: Any) -> celtypes.IntType:
        today = moment.now.date()
        day = local_day(value)
        for year in (today.year, today.year + 1, today.year + 2):
            try:
                next_day = day.replace(year=year)
            except ValueError:  # 29 February: its anniversary is 1 March in other years
                next_day = date(year, 3, 1)
            if next_day >= today:
                return celtypes.IntType((next_day - today).days)
        raise AssertionError("unreachable: an anniversary comes within two years")

    def month(value: Any) -> celtypes.IntType:
        return celtypes.IntType(local_day(value).month)

    def day(value: Any) -> celtypes.IntType:
        return celtypes.IntType(local_day(value).day)

    return {"age": age, "daysUntil": days_until, "daysToAnniversary": days_to_anniversary,
            "month": month, "day": day}


def _eval_detail(error: CELEvalError) -> str:
    """The reason of a CEL evaluation error, without celpy's internals."""
    args: list[Any] = list(getattr(error, "args", ()))
    detail = args[2] if len(args) > 2 and args[2] else args[0] if args else error
    if isinstance(detail, tuple) and detail:
        detail = detail[0]
    text = str(detail)
    if "no such overload" in text or "no matching overload" in text:
        return f"type error: {text}"
    return text

