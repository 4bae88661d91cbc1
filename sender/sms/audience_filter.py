"""The audience filter: a CEL expression over a recipient's variables (`vars.city ==
"Shanghai"`), as Kubernetes' own validation rules are written.

Pure. Compiled twice: by the operator when the Campaign is applied, so a syntax error
is a condition (InvalidFilter, with line and column) before any importer pod runs; and
by the importer, which evaluates it per row. Every value is a string for now (typed
columns are issue 14's); a row on which the expression errors is not selected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache

import celpy
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

Predicate = Callable[[Mapping[str, str]], bool]


class FilterError(ValueError):
    """The expression does not compile; the message says where."""


def filter_error(expression: str) -> str | None:
    """Why the expression does not compile (line, column, the text around), or None."""
    if not expression.strip():
        return None
    try:
        _compiled(expression)
    except FilterError as error:
        return str(error)
    return None


def compile_filter(expression: str) -> Predicate | None:
    """The filter as a predicate over a row's variables; None for an empty expression.
    Raises FilterError."""
    if not expression.strip():
        return None
    program = _compiled(expression)

    def keep(variables: Mapping[str, str]) -> bool:
        try:
            return bool(program.evaluate({"vars": json_to_cel(dict(variables))}))
        except CELEvalError:
            return False  # e.g. a variable this row does not have: not selected

    return keep


@lru_cache(maxsize=64)  # the operator checks the same expression on every reconcile
def _compiled(expression: str) -> celpy.Runner:
    env = celpy.Environment()
    try:
        return env.program(env.compile(expression))
    except CELParseError as error:
        where = f"line {error.line}, column {error.column}" if error.line else "here"
        shown = str(error).rstrip()
        raise FilterError(f"audience.filter is not valid CEL at {where}: {shown}") from None
