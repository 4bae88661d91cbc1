"""
labelSelector and fieldSelector, as kube-apiserver reads them on list and watch.

Labels: =, ==, !=, exists, !exists, in, notin; "!=" and notin are true also without the
label. Fields: any dotted path into the object, with =, == or !=; a missing field reads
as "", a boolean as "true" or "false".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any


class SelectorError(ValueError):
    pass


# Label keys may carry a DNS prefix ("sms.herald.dev/channel"); values may be empty.
_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_LABEL_REQUIREMENT = re.compile(rf"""\s*(?:
    (?P<absent>!)\s*(?P<absent_key>{_KEY})
  | (?P<key>{_KEY})\s*(?:
        (?P<op>==|=|!=)\s*(?P<value>{_VALUE})
      | \s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\)
    )?
)\s*""", re.VERBOSE)
_FIELD_REQUIREMENT = re.compile(r"\s*(?P<path>[\w.-]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*")

# A requirement on labels: (key, operator, values), with "=" and "==" read as "in",
# "!=" as "notin" (true also without the label), plus "exists" and "!exists".
LabelRequirement = tuple[str, str, frozenset[str]]


def parse_label_selector(selector: str) -> Callable[[Mapping[str, str]], bool]:
    """Compile a labelSelector into a predicate on an object's labels."""
    requirements: list[LabelRequirement] = []
    for text in re.split(r",(?![^(]*\))", selector) if selector.strip() else []:
        match = _LABEL_REQUIREMENT.fullmatch(text)
        if match is None:
            raise SelectorError(f"unable to parse requirement: {text!r}")
        if match["absent"]:
            requirements.append((match["absent_key"], "!exists", frozenset()))
        elif match["op"]:
            op = "notin" if match["op"] == "!=" else "in"
            requirements.append((match["key"], op, frozenset([match["value"]])))
        elif match["setop"]:
            values = frozenset(value.strip() for value in match["values"].split(","))
            requirements.append((match["key"], match["setop"], values))
        else:
            requirements.append((match["key"], "exists", frozenset()))
    return lambda labels: all(_satisfies(labels, r) for r in requirements)


def _satisfies(labels: Mapping[str, str], requirement: LabelRequirement) -> bool:
    key, op, values = requirement
    return {"exists": key in labels, "!exists": key not in labels,
            "in": labels.get(key) in values, "notin": labels.get(key) not in values}[op]


def parse_field_selector(selector: str) -> Callable[[dict[str, Any]], bool]:
    """Compile a fieldSelector into a predicate on the whole object."""
    requirements: list[tuple[list[str], bool, str]] = []  # (path, equal?, value)
    for text in selector.split(",") if selector.strip() else []:
        match = _FIELD_REQUIREMENT.fullmatch(text)
        if match is None:
            raise SelectorError(f"invalid field selector: {text!r}")
        requirements.append((match["path"].split("."), match["op"] != "!=", match["value"]))
    return lambda obj: all((_field(obj, path) == value) == equal
                           for path, equal, value in requirements)


def _field(obj: Any, path: list[str]) -> str:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return "" if obj is None else str(obj).lower() if isinstance(obj, bool) else str(obj)
