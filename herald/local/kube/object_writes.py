"""
What kube-apiserver does to an object it writes, as pure functions: the metadata only it
sets, merge patch (RFC 7386), a CRD's structural schema (pruning and defaults), and what
metadata.generation tracks.
"""

from __future__ import annotations

import copy
import datetime
import random
from collections.abc import Mapping
from typing import Any

Body = dict[str, Any]

# Only the server writes these; what a client sends for them is ignored.
SERVER_MANAGED = ("name", "namespace", "uid", "creationTimestamp", "generation",
                  "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds")

# Go's omitempty: the API server never stores an empty list or map in these fields.
_OMIT_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences")

# The alphabet kube-apiserver uses for generateName suffixes (no vowels, no look-alikes).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_name(prefix: str) -> str:
    """A name for metadata.generateName: the prefix and a random suffix."""
    return f'{prefix}{"".join(random.choices(_SUFFIX_ALPHABET, k=5))}'


def omit_empty(meta: Body) -> None:
    """Drop the metadata fields that Go's omitempty never stores empty."""
    for field in _OMIT_EMPTY:
        if field in meta and not meta[field]:
            del meta[field]


def generation_content(obj: Body) -> Body:
    """What metadata.generation tracks: everything but the metadata."""
    return {key: value for key, value in obj.items() if key != "metadata"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def conform(schema: Mapping[str, Any], value: Any, *, root: bool = False) -> Any:
    """A structural schema's effect on a write: prune unknown fields and nulls (where the
    schema is not nullable), fill in defaults."""
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [conform(schema["items"], item) for item in value]
    if not isinstance(value, dict):
        return value
    properties: Mapping[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserved = schema.get("x-kubernetes-preserve-unknown-fields") or additional is True
    result = {}
    for key, item in value.items():
        if root and key in ("apiVersion", "kind", "metadata"):  # the server's, not the schema's
            result[key] = item
        elif key in properties:
            if item is not None or properties[key].get("nullable"):
                result[key] = conform(properties[key], item)
        elif isinstance(additional, dict):
            result[key] = conform(additional, item)
        elif preserved:
            result[key] = item
    for key, subschema in properties.items():
        if key not in result and "default" in subschema:
            result[key] = conform(subschema, copy.deepcopy(subschema["default"]))
    return result

