"""Pieces every Herald kind shares: the model base, metadata, references, conditions.

The pydantic models in `crds/` are the single source of truth for the API: the CRD
YAML is generated from them (`python -m crds.generate`), and the operator parses
the objects it receives with them. Field docstrings become the OpenAPI descriptions
that `kubectl explain` shows, so they are written for the user of the API.

This package imports nothing else of Herald, so every other package may import it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "sms.herald.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Kubernetes rejects CEL rules whose worst-case cost it cannot bound, so every string
# and list a rule can reach carries a maximum. These are the shared ones.
NAME_MAX = 253
SHORT_TEXT_MAX = 256
MESSAGE_MAX = 32768


# Every kind ends its `kubectl get` columns with why it is (not) Ready and its age.
READY = '.status.conditions[?(@.type=="Ready")]'
READY_COLUMN = {"name": "Ready", "type": "string", "jsonPath": READY + ".status"}
REASON_COLUMN = {"name": "Reason", "type": "string", "jsonPath": READY + ".reason"}
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def validations(*rules: tuple[str, str]) -> dict[str, Any]:
    """CEL `x-kubernetes-validations` for a class's `json_schema_extra`.

    Each rule is `(expression, message)`; `self` is the object of the class it sits on.
    """
    return {"x-kubernetes-validations": [{"rule": rule, "message": msg} for rule, msg in rules]}


def list_map(*keys: str) -> dict[str, Any]:
    """Mark a list of named items as a map keyed by `keys` (server-side apply merges by key)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


class HeraldModel(BaseModel):
    """Base for every API model: camelCase on the wire, docstrings as descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
    )

    def to_api(self) -> dict[str, Any]:
        """The JSON body as the API server would hold it (camelCase, no unset optionals)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class LocalObjectReference(HeraldModel):
    """A reference to an object of a known kind in the same namespace."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    """Name of the referenced object."""


class SecretKeyReference(HeraldModel):
    """A key of a Secret in the same namespace."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    """Name of the Secret."""
    key: str = Field(default="password", min_length=1, max_length=NAME_MAX)
    """Key within the Secret's data."""


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(HeraldModel):
    """One aspect of the object's current state, as in Kubernetes' metav1.Condition."""

    type: str = Field(max_length=316)
    """Type of condition in CamelCase, e.g. Ready."""
    status: ConditionStatus
    """Whether the condition holds: True, False or Unknown."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation of the spec this condition was computed from."""
    last_transition_time: datetime
    """When the condition last changed its status."""
    reason: str = Field(max_length=1024)
    """Machine-readable CamelCase reason for the condition's last transition."""
    message: str = Field(default="", max_length=MESSAGE_MAX)
    """Human-readable detail about the transition."""


class ObjectMeta(HeraldModel):
    """The part of metadata Herald reads; the API server owns the rest."""

    model_config = ConfigDict(extra="allow")
    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class HeraldResource(HeraldModel):
    """Base for a whole custom resource: apiVersion, kind, metadata, spec, status."""

    # Filled in by each kind; the generator reads them.
    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = ()

    api_version: str = API_VERSION
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    """The condition of `type_`, or None when it was never set."""
    return next((c for c in conditions if c.type == type_), None)


def set_condition(conditions: list[Condition], new: Condition) -> list[Condition]:
    """A copy of `conditions` with `new` in place of its type's entry.

    The lastTransitionTime of `new` is kept only when the status flips (or the type is
    new); otherwise the old time stays, as Kubernetes' conditions helpers do, so that
    re-computing the same state does not look like a change.
    """
    old = find_condition(conditions, new.type)
    if old is not None and old.status == new.status:
        new = new.model_copy(update={"last_transition_time": old.last_transition_time})
    others = [c for c in conditions if c.type != new.type]
    return sorted([*others, new], key=lambda c: c.type)
