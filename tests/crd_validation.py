"""Validate manifests against the generated CRDs the way the API server does.

The order is the server's: apply schema defaults, check the OpenAPI schema, then
evaluate every CEL `x-kubernetes-validations` rule where it sits, with `self` bound to
that node and `oldSelf` to the same node of the previous object (transition rules
run only on updates, as in Kubernetes). The schema check is jsonschema's, a second
opinion beside the local API's own validator (herald.local.kube.schema_validation);
the CEL evaluation is that module's, which the local API runs on every write.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from crds.generate import committed_crds
from herald.local.kube.schema_validation import evaluate_rule, is_transition_rule, rule_sites

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


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
    for path, _, rule, self_value, old_value in rule_sites(schema, obj, old_obj):
        if is_transition_rule(rule["rule"]) and old_value is None:
            continue  # a transition rule: only on update
        result = evaluate_rule(rule["rule"], self_value, old_value)
        if isinstance(result, Exception) or not bool(result):
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
