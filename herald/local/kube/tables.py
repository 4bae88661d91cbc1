"""
Lists as kube-apiserver serves them to `kubectl get`: a meta.k8s.io/v1 Table whose
columns are a CRD's additionalPrinterColumns (Name first), one row per object, each
row's object its metadata only (PartialObjectMetadata, kubectl's default). kubectl asks
for it in its Accept header (`as=Table;g=meta.k8s.io;v=v1`), for lists, single objects
and each event of a watch (`kubectl get -w`).

Cells are the columns' JSONPath values: the subset CRDs use, `.a.b` and
`.a[?(@.type=="Ready")].reason`; a path that finds nothing is an empty cell (kubectl
prints `<none>`). Date columns are ages, as the server words them (`5s`, `3m12s`, `4d`).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Body = dict[str, Any]

_JSON_PATH_STEP = re.compile(r'\.(\w+)|\[\?\(@\.(\w+)=="([^"]*)"\)\]')


def json_path_value(obj: Mapping[str, Any], json_path: str) -> Any:
    """The value at a printer column's JSONPath, or None."""
    node: Any = obj
    for name, key, value in _JSON_PATH_STEP.findall(json_path):
        if name:
            node = node.get(name) if isinstance(node, dict) else None
        elif isinstance(node, list):
            node = next((i for i in node if isinstance(i, dict) and i.get(key) == value), None)
        else:
            node = None
        if node is None:
            return None
    return node


def wants_table(accept: str) -> bool:
    """Whether an Accept header asks for a meta.k8s.io/v1 Table."""
    return any("as=Table" in part and "v=v1" in part.replace("v=v1beta1", "")
               for part in accept.split(","))


def column_definitions(columns: Sequence[Mapping[str, Any]]) -> list[Body]:
    name = {"name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": "Name must be unique within a namespace."}
    return [name, *({"name": c["name"], "type": c.get("type", "string"),
                     "format": c.get("format", ""), "description": c.get("description", ""),
                     "priority": c.get("priority", 0)} for c in columns)]


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration: the age kubectl shows."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _cell(column: Mapping[str, Any], value: Any) -> Any:
    if column.get("type") == "date" and isinstance(value, str):
        try:
            then = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return human_duration((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    return value


def table_row(columns: Sequence[Mapping[str, Any]], obj: Mapping[str, Any]) -> Body:
    cells = [obj.get("metadata", {}).get("name", "")]
    cells += [_cell(c, json_path_value(obj, c["jsonPath"])) for c in columns]
    return {"cells": cells, "object": {"kind": "PartialObjectMetadata",
                                       "apiVersion": "meta.k8s.io/v1",
                                       "metadata": obj.get("metadata", {})}}


def table(columns: Sequence[Mapping[str, Any]], objects: Iterable[Mapping[str, Any]],
          resource_version: str) -> Body:
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": column_definitions(columns),
            "rows": [table_row(columns, obj) for obj in objects]}
