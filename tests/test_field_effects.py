"""Every spec field of every kind maps to the test that proves its effect (the table in
tests/field_effects.py), or is marked not yet implemented and its description says so.

A field added to a model without an entry fails here, and so does an entry whose test
is gone: `kubectl explain` must not document what nothing does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from crds.generate import KINDS, crd
from tests.field_effects import EFFECTS, Container, ForPeople, NotYet, Partly, Proven

REPO = Path(__file__).parent.parent
NOT_YET_WORDS = "not yet implemented"
FOR_PEOPLE_WORDS = "for people only"


def spec_fields() -> Iterator[tuple[str, dict[str, Any]]]:
    """(Kind.spec.path, schema node) of every field under spec; list items as `[]`."""
    for kind in KINDS:
        schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        yield from _walk(schema["properties"]["spec"], f"{kind.KIND}.spec")


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if node.get("type") == "array" and "items" in node:
        yield from _walk(node["items"], path + "[]")
        return
    for name, child in node.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from _walk(child, f"{path}.{name}")


FIELDS = dict(spec_fields())


@cache
def functions_in(file: str) -> frozenset[str]:
    tree = ast.parse((REPO / file).read_text(encoding="utf-8"))
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def test_every_spec_field_is_in_the_table() -> None:
    missing = sorted(FIELDS.keys() - EFFECTS.keys())
    gone = sorted(EFFECTS.keys() - FIELDS.keys())
    assert not missing, f"fields with no entry in tests/field_effects.py: {missing}"
    assert not gone, f"entries for fields the API no longer has: {gone}"


@pytest.mark.parametrize("path", sorted(EFFECTS))
def test_each_entry_holds(path: str) -> None:
    effect = EFFECTS[path]
    description = " ".join(FIELDS.get(path, {}).get("description", "").lower().split())
    if isinstance(effect, Proven | Partly):
        file, _, name = effect.test.partition("::")
        assert (REPO / file).is_file(), f"{path}: no test file {file}"
        assert name in functions_in(file), f"{path}: {file} has no test {name}"
    if isinstance(effect, ForPeople):
        assert FOR_PEOPLE_WORDS in description, (
            f"{path} is for people only, and its description does not say so")
    if isinstance(effect, NotYet | Partly):
        assert NOT_YET_WORDS in description, (
            f"{path} is not (wholly) implemented, and its description does not say so")
    elif not isinstance(effect, Container):
        assert NOT_YET_WORDS not in description, (
            f"{path} says it is not yet implemented, and the table says it is")
    if isinstance(effect, Container):
        assert any(other.startswith(path + ".") or other.startswith(path + "[]")
                   for other in EFFECTS), f"{path} is marked a container and has no fields"
