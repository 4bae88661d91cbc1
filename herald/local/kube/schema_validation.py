"""
What kube-apiserver refuses in a custom resource, and in its words: a CRD's structural
schema (types, enums, bounds, patterns, required fields, list-map keys), then its CEL
`x-kubernetes-validations` rules, each a field error as the API server reports it.

    errors = validate_custom_resource(schema, obj, old)  # obj already pruned and defaulted
    str(errors[0])  # 'spec.rateLimit.messagesPerSecond: Invalid value: 0: spec.rateLimit
                    #  .messagesPerSecond in body should be greater than or equal to 1'

The wording follows apiextensions-apiserver: kube-openapi's schema validator (paths like
`spec.channels[0].name`, "in body should ..."), turned into field errors as
`kubeOpenAPIResultToFieldErrors` does (a bad enum value is "Unsupported value", a wrong
type "Invalid value" of the type's name, maxLength "Too long", maxItems "Too many"); then
the list-map key check; then CEL, which the server skips when a value has a wrong type or
an unsupported enum value (`hasBlockingErr`), saying so. A CEL rule's error is the node's
path, "Invalid value" of the node's type, and the rule's message. Transition rules (those
reading `oldSelf`) run on updates only, where the old object has the node. On updates,
what did not change is not checked again (validation ratcheting, on by default since
Kubernetes 1.30): so a status write does not re-run the spec's rules.

cel-python lacks Kubernetes' CEL libraries: the few functions Herald's rules use (`sum`,
`lowerAscii`) are registered here. Pure functions, no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import celpy
import celpy.celtypes as celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

Schema = Mapping[str, Any]

_OMIT = object()  # a field error without a value ("Required value")

# field.ErrorType: the cause's type in a Status, and the words in its message.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
DUPLICATE = "FieldValueDuplicate"
_WORDS = {REQUIRED: "Required value", INVALID: "Invalid value", TYPE_INVALID: "Invalid value",
          NOT_SUPPORTED: "Unsupported value", TOO_LONG: "Too long", TOO_MANY: "Too many",
          DUPLICATE: "Duplicate value"}

# strfmt's date-time: RFC 3339, as kube-openapi checks `format: date-time`.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?")


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One field error, as k8s.io/apimachinery's field.Error."""

    type: str
    field: str
    value: Any = _OMIT
    detail: str = ""

    def body(self) -> str:
        """The message without the field (a Status cause's message)."""
        words = _WORDS[self.type]
        if self.value is not _OMIT and self.type not in (REQUIRED, TOO_LONG):
            words += f": {go_value(self.value)}"
        return f"{words}: {self.detail}" if self.detail else words

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def go_value(value: Any) -> str:
    """A bad value as field.Error prints it: numbers and booleans bare, strings quoted,
    anything else as Go's %#v of what JSON decodes to."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return _go_literal(value)


def _go_literal(value: Any) -> str:
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k, ensure_ascii=False)}:{_go_literal(v)}"
                          for k, v in sorted(value.items()))
        return f"map[string]interface {{}}{{{items}}}"
    if isinstance(value, list):
        return f"[]interface {{}}{{{', '.join(_go_literal(v) for v in value)}}}"
    if value is None:
        return "interface {}(nil)"
    return go_value(value)


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(value: Any) -> str:
    """The JSON type of a decoded value, as kube-openapi names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_matches(wanted: str, value: Any) -> bool:
    actual = _type_name(value)
    return actual == wanted or (wanted == "number" and actual == "integer") or (
        wanted == "integer" and isinstance(value, float) and value.is_integer())


# -- metadata -------------------------------------------------------------------------------

_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-'"
    " or '.', and must start and end with an alphanumeric character (e.g. 'example.com',"
    f" regex used for validation is '{_DNS_SUBDOMAIN}')")
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-',"
    " and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc',"
    f" regex used for validation is '{_DNS_LABEL}')")


def name_errors(name: str, *, label: bool = False) -> list[FieldError]:
    """What kube-apiserver says of an object's name: an RFC 1123 subdomain (a label, for
    namespaces), in apimachinery's words."""
    pattern, longest, message = ((_DNS_LABEL, 63, _LABEL_MESSAGE) if label
                                 else (_DNS_SUBDOMAIN, 253, _SUBDOMAIN_MESSAGE))
    errors = []
    if len(name) > longest:
        errors.append(FieldError(INVALID, "metadata.name", name,
                                 f"must be no more than {longest} characters"))
    if not re.fullmatch(pattern, name):
        errors.append(FieldError(INVALID, "metadata.name", name, message))
    return errors


# -- the structural schema ----------------------------------------------------------------


_ABSENT = object()


def schema_errors(schema: Schema, value: Any, path: str = "", old: Any = _ABSENT,
                  ) -> Iterator[FieldError]:
    """kube-openapi's verdict on `value`, as field errors. On an update (`old`: the same
    node of the stored object), a node that did not change passes (ratcheting)."""
    if old is not _ABSENT and value == old:
        return
    wanted = schema.get("type")
    if wanted and not _type_matches(wanted, value):
        actual = _type_name(value)
        yield FieldError(TYPE_INVALID, path, actual,
                         f"{path} in body must be of type {wanted}: {json.dumps(actual)}")
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v if isinstance(v, str) else json.dumps(v),
                                         ensure_ascii=False) for v in schema["enum"])
        yield FieldError(NOT_SUPPORTED, path, value, f"supported values: {supported}")
    if isinstance(value, dict):
        yield from _object_errors(schema, value, path, old if isinstance(old, dict) else {})
    elif isinstance(value, list):
        yield from _array_errors(schema, value, path)
    elif isinstance(value, str):
        yield from _string_errors(schema, value, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield from _number_errors(schema, value, path)


def _object_errors(schema: Schema, value: dict[str, Any], path: str, old: dict[str, Any],
                   ) -> Iterator[FieldError]:
    for name in schema.get("required", []):
        if name not in value:
            yield FieldError(REQUIRED, _child(path, name))
    properties: Mapping[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for name, item in value.items():
        item_schema = properties.get(name, additional)
        if isinstance(item_schema, dict):
            yield from schema_errors(item_schema, item, _child(path, name),
                                     old.get(name, _ABSENT))
    for bound, fails, message in (("minProperties", len(value).__lt__, "at least"),
                                  ("maxProperties", len(value).__gt__, "at most")):
        if bound in schema and fails(schema[bound]):
            yield FieldError(INVALID, path, value,
                             f"{path} in body should have {message} {schema[bound]} properties")


def _array_errors(schema: Schema, value: list[Any], path: str) -> Iterator[FieldError]:
    if "minItems" in schema and len(value) < schema["minItems"]:
        yield FieldError(INVALID, path, value,
                         f"{path} in body should have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        yield FieldError(TOO_MANY, path, len(value), f"must have at most {schema['maxItems']}"
                                                      " items")
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            yield from schema_errors(items, item, f"{path}[{index}]")


def _string_errors(schema: Schema, value: str, path: str) -> Iterator[FieldError]:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        limit = schema["maxLength"]
        yield FieldError(TOO_LONG, path, value,
                         f"may not be more than {limit} byte{'' if limit == 1 else 's'}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        yield FieldError(INVALID, path, value,
                         f"{path} in body should be at least {schema['minLength']} chars long")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield FieldError(INVALID, path, value,
                         f"{path} in body should match '{schema['pattern']}'")
    if schema.get("format") == "date-time" and not _DATE_TIME.fullmatch(value):
        yield FieldError(TYPE_INVALID, path, value,
                         f"{path} in body must be of type date-time: {json.dumps(value)}")


def _number_errors(schema: Schema, value: float, path: str) -> Iterator[FieldError]:
    if "minimum" in schema:
        low, exclusive = schema["minimum"], schema.get("exclusiveMinimum", False)
        if value < low or (exclusive and value == low):
            words = "greater than" if exclusive else "greater than or equal to"
            yield FieldError(INVALID, path, value, f"{path} in body should be {words} {low}")
    if "maximum" in schema:
        high, exclusive = schema["maximum"], schema.get("exclusiveMaximum", False)
        if value > high or (exclusive and value == high):
            words = "less than" if exclusive else "less than or equal to"
            yield FieldError(INVALID, path, value, f"{path} in body should be {words} {high}")


def list_map_errors(schema: Schema, value: Any, path: str = "") -> Iterator[FieldError]:
    """`x-kubernetes-list-type: map`: no two items with the same keys."""
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        for name, item in value.items():
            if name in properties:
                yield from list_map_errors(properties[name], item, _child(path, name))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen = set()
        for index, item in enumerate(value):
            if schema.get("x-kubernetes-list-type") == "map" and isinstance(item, dict):
                key = json.dumps({k: item.get(k) for k in keys if k in item}, sort_keys=True)
                if key in seen:
                    yield FieldError(DUPLICATE, f"{path}[{index}]",
                                     {k: item[k] for k in keys if k in item})
                seen.add(key)
            yield from list_map_errors(schema["items"], item, f"{path}[{index}]")


# -- CEL ------------------------------------------------------------------------------------


def _k8s_sum(values: celtypes.ListType) -> celtypes.IntType:
    return celtypes.IntType(sum(int(v) for v in values))  # type: ignore[arg-type, misc]


def _k8s_lower_ascii(value: celtypes.StringType) -> celtypes.StringType:
    """Kubernetes' strings library: ASCII letters lowered, every other character kept."""
    return celtypes.StringType("".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c
                                       for c in str(value)))


K8S_CEL_FUNCTIONS: dict[str, Any] = {"sum": _k8s_sum, "lowerAscii": _k8s_lower_ascii}


@cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule), functions=K8S_CEL_FUNCTIONS)


class CelValues:
    """JSON values as CEL values, each node converted once: the rules of one object
    share its conversion (a spec with thousands of inline recipients is converted once,
    not once per rule on it)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Any, Any]] = {}  # id(value) -> (value, CEL value)

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, dict | list):
            return json_to_cel(value)
        seen = self._seen.get(id(value))
        if seen is not None and seen[0] is value:
            return seen[1]
        if isinstance(value, dict):
            converted: Any = celtypes.MapType(
                {celtypes.StringType(k): self(v) for k, v in value.items()})
        else:
            converted = celtypes.ListType([self(v) for v in value])
        self._seen[id(value)] = (value, converted)  # the value kept alive: its id stays its
        return converted


def evaluate_rule(rule: str, self_value: Any, old_value: Any = None,
                  values: CelValues | None = None) -> Any:
    """A rule's result with `self` (and `oldSelf`) bound: True, False, or a CELEvalError."""
    convert = values or CelValues()
    activation = {"self": convert(self_value)}
    if old_value is not None:
        activation["oldSelf"] = convert(old_value)
    try:
        return _program(rule).evaluate(activation)
    except CELEvalError as error:
        return error


def rule_sites(schema: Schema, obj: Any, old: Any, path: str = "",
               ) -> Iterator[tuple[str, Schema, dict[str, Any], Any, Any]]:
    """(path, node's schema, rule, self, oldSelf) for every CEL rule reachable in `obj`."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, schema, rule, obj, old
    if isinstance(obj, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name in obj:
                old_value = old.get(name) if isinstance(old, dict) else None
                yield from rule_sites(prop, obj[name], old_value, _child(path, name))
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        # Kubernetes correlates old list items only for map lists; Herald's transition
        # rules sit on objects, not list items, so items get no oldSelf.
        for index, item in enumerate(obj):
            yield from rule_sites(schema["items"], item, None, f"{path}[{index}]")


def is_transition_rule(rule: str) -> bool:
    return re.search(r"\boldSelf\b", rule) is not None


def cel_errors(schema: Schema, obj: Any, old: Any = None) -> Iterator[FieldError]:
    """Every CEL rule that does not hold, as the API server reports it. On an update, a
    rule without oldSelf whose node did not change is not run again (ratcheting, as
    kube-apiserver does since 1.30)."""
    values = CelValues()
    for path, node, rule, self_value, old_value in rule_sites(schema, obj, old):
        text = rule["rule"]
        transition = is_transition_rule(text)
        if transition and old_value is None:
            continue  # a transition rule: only on updates, where the old object has it
        if not transition and old_value is not None and self_value == old_value:
            continue
        result = evaluate_rule(text, self_value, old_value, values)
        where = path or "<nil>"
        kind = node.get("type", "object")
        if isinstance(result, CELEvalError):
            yield FieldError(INVALID, where, kind,
                             f"{result.args[0] if result.args else result} evaluating rule: "
                             f"{text}")
        elif not bool(result):
            yield FieldError(INVALID, where, kind, rule.get("message") or f"failed rule: {text}")


# -- all of it ------------------------------------------------------------------------------

NOT_CHECKED = FieldError(INVALID, "<nil>", None,
                         "some validation rules were not checked because the object was "
                         "invalid; correct the existing errors to complete validation")


def validate_custom_resource(schema: Schema, obj: Mapping[str, Any],
                             old: Mapping[str, Any] | None = None) -> list[FieldError]:
    """What the API server refuses in `obj` (pruned and defaulted, as it stores it);
    `old` is the stored object on an update. Empty when it is valid."""
    server_owned = ("apiVersion", "kind", "metadata")
    body = {k: v for k, v in obj.items() if k not in server_owned}
    old_body = None if old is None else {k: v for k, v in old.items() if k not in server_owned}
    errors = sorted(schema_errors({**schema, "properties": {
        k: v for k, v in (schema.get("properties") or {}).items() if k not in server_owned}},
        body, old=_ABSENT if old_body is None else old_body), key=lambda e: e.field)
    errors += list_map_errors(schema, body)
    if any(e.type in (NOT_SUPPORTED, TYPE_INVALID) for e in errors):
        return [*errors, NOT_CHECKED]
    return errors + list(cel_errors(schema, body, old_body))
