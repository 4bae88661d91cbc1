"""Validate manifests against the generated CRDs the way the API server does.

The order is the server's: apply schema defaults, check the OpenAPI schema, then
evaluate every CEL `x-kubernetes-validations` rule where it sits, with `self` bound to
that node and `oldSelf` to the same node of the previous object (transition rules
run only on updates, as in Kubernetes). cel-python lacks Kubernetes' CEL libraries,
so the few functions our rules use (`sum`, `lowerAscii`) are registered here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import celpy.celtypes as celtypes
import jsonschema
import yaml
from celpy.adapter import json_to_cel

from crds.generate import committed_crds

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _k8s_sum(values: celtypes.ListType) -> celtypes.IntType:
    return celtypes.IntType(sum(int(v) for v in values))  # type: ignore[arg-type, misc]


def _k8s_lower_ascii(value: celtypes.StringType) -> celtypes.StringType:
    """Kubernetes' strings library: ASCII letters lowered, every other character kept."""
    return celtypes.StringType("".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c
                                       for c in str(value)))


K8S_CEL_FUNCTIONS: dict[str, Any] = {"sum": _k8s_sum, "lowerAscii": _k8s_lower_ascii}


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every generated CRD."""
    schemas = {}
    for crd in committed_crds():
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def load_example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    return doc


def apply_defaults(schema: dict[str, Any], obj: Any) -> Any:
    """A copy of `obj` with the schema's defaults filled in, outside-in."""
    obj = copy.deepcopy(obj)
    _default(schema, obj)
    return obj


def _default(schema: dict[str, Any], obj: Any) -> None:
    if isinstance(obj, dict):
        for name, prop in schema.get("properties", {}).items():
            if name not in obj and "default" in prop:
                obj[name] = copy.deepcopy(prop["default"])
            if name in obj:
                _default(prop, obj[name])
    elif isinstance(obj, list) and "items" in schema:
        for item in obj:
            _default(schema["items"], item)


def _rule_sites(
    schema: dict[str, Any], obj: Any, old: Any, path: str
) -> Iterator[tuple[str, dict[str, Any], Any, Any]]:
    """(path, rule, self, oldSelf) for every CEL rule reachable in `obj`."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule, obj, old
    if isinstance(obj, dict):
        for name, prop in schema.get("properties", {}).items():
            if name in obj:
                old_value = old.get(name) if isinstance(old, dict) else None
                yield from _rule_sites(prop, obj[name], old_value, f"{path}.{name}".lstrip("."))
    elif isinstance(obj, list) and "items" in schema:
        # Kubernetes correlates old list items only for map lists; Herald's transition
        # rules sit on objects, not list items, so items get no oldSelf.
        for index, item in enumerate(obj):
            yield from _rule_sites(schema["items"], item, None, f"{path}[{index}]")


def _evaluate(rule: str, self_value: Any, old_value: Any) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule), functions=K8S_CEL_FUNCTIONS)
    activation = {"self": json_to_cel(self_value)}
    if old_value is not None:
        activation["oldSelf"] = json_to_cel(old_value)
    return bool(program.evaluate(activation))


def validate(manifest: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Error messages the API server would give for `manifest` (empty when valid)."""
    schema = crd_schemas()[(manifest["apiVersion"], manifest["kind"])]
    obj = apply_defaults(schema, manifest)
    old_obj = apply_defaults(schema, old) if old is not None else None

    validator = jsonschema.Draft202012Validator(schema)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    if errors:  # the server stops before CEL when the schema fails
        return errors
    for path, rule, self_value, old_value in _rule_sites(schema, obj, old_obj, ""):
        if "oldSelf" in rule["rule"] and old_value is None:
            continue  # a transition rule: only on update
        if not _evaluate(rule["rule"], self_value, old_value):
            errors.append(f"{path or '<root>'}: {rule['message']}")
    return errors


def all_rules() -> list[dict[str, str]]:
    """Every CEL rule (with its message) in every generated CRD, for coverage checks."""
    rules: list[dict[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            rules.extend(node.get("x-kubernetes-validations", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for schema in crd_schemas().values():
        walk(schema)
    return rules
