"""
The OpenAPI v3 documents kube-apiserver publishes, for what kubectl reads of them:
`/openapi/v3` (an index of group-versions) and `/openapi/v3/apis/GROUP/VERSION` (or
`/openapi/v3/api/v1`) with each resource's paths and schemas.

kubectl reads them twice. `kubectl explain` renders a kind's schema from
components.schemas, found by its `x-kubernetes-group-version-kind`: a CRD's schema is its
openAPIV3Schema, so the descriptions Herald writes are what it prints. `kubectl apply`
and `create` ask whether a kind's PATCH path takes the `fieldValidation` parameter; when
it does, they leave validation to the server (`fieldValidation=Strict`), which refuses
unknown fields as a cluster does. Builtin kinds get a schema that says only "object":
this emulator knows their fields no better.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Body = dict[str, Any]
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_FIELD_VALIDATION = {
    "name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
    "description": "How the server treats unknown or duplicate fields: Ignore, Warn or Strict.",
}


def group_version_path(group: str, version: str) -> str:
    """The index's key of a group-version: `api/v1` or `apis/GROUP/VERSION`."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index_document(group_versions: Iterable[tuple[str, str]]) -> Body:
    """/openapi/v3: where each group-version's document is."""
    paths = {}
    for group, version in sorted(set(group_versions)):
        path = group_version_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}"}
    return {"paths": paths}


def schema_name(group: str, version: str, kind: str) -> str:
    """A kind's name in components.schemas, as the API server names CRDs' schemas."""
    reversed_group = ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"
    return f"{reversed_group}.{version}.{kind}"


def group_version_document(
        group: str, version: str,
        kinds: Iterable[tuple[str, str, bool, Mapping[str, Any] | None]],
) -> Body:
    """One group-version's document; `kinds` are (kind, plural, namespaced, schema)."""
    paths: Body = {}
    schemas: Body = {OBJECT_META: {
        "type": "object", "description": "Standard object metadata: name, namespace, labels,"
                                         " annotations, and what the server sets."}}
    root = f"/apis/{group}/{version}" if group else f"/api/{version}"
    for kind, plural, namespaced, schema in kinds:
        gvk = {"group": group, "version": version, "kind": kind}
        name = schema_name(group, version, kind)
        schemas[name] = _kind_schema(schema, gvk)
        ref = {"content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{name}"}}}}
        collection = f"{root}/namespaces/{{namespace}}/{plural}" if namespaced \
            else f"{root}/{plural}"

        def operation(action: str, *params: Body, gvk: Body = gvk, ref: Body = ref) -> Body:
            return {"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                    "parameters": list(params), "responses": {"200": {
                        "description": "OK", **ref}}}

        paths[collection] = {"get": operation("list"), "post": operation(
            "post", _FIELD_VALIDATION)}
        paths[f"{collection}/{{name}}"] = {
            "get": operation("get"), "put": operation("put", _FIELD_VALIDATION),
            "patch": operation("patch", _FIELD_VALIDATION), "delete": operation("delete")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": paths, "components": {"schemas": schemas}}


def _kind_schema(schema: Mapping[str, Any] | None, gvk: Body) -> Body:
    body: Body = dict(schema) if schema else {"type": "object"}
    properties = dict(body.get("properties") or {})
    if schema:
        properties.setdefault("apiVersion", {"type": "string", "description": (
            "APIVersion defines the versioned schema of this representation of an object.")})
        properties.setdefault("kind", {"type": "string", "description": (
            "Kind is a string value representing the REST resource this object represents.")})
        properties["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}],
                                  "default": {}, "description": (
            "Standard object's metadata. More info: https://git.k8s.io/community/contributors"
            "/devel/sig-architecture/api-conventions.md#metadata")}
        body["properties"] = properties
    body["x-kubernetes-group-version-kind"] = [gvk]
    return body


def unknown_fields(schema: Mapping[str, Any], value: Any, path: str = "") -> list[str]:
    """The fields of `value` its structural schema does not declare (what pruning drops),
    as `fieldValidation=Strict` names them: `spec.rateLimit.messagesPerSec`."""
    found: list[str] = []
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(schema["items"], item, f"{path}[{index}]")
    elif isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserved = schema.get("x-kubernetes-preserve-unknown-fields") or additional is True
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue
            if key in properties:
                found += unknown_fields(properties[key], item, where)
            elif isinstance(additional, dict):
                found += unknown_fields(additional, item, where)
            elif not preserved:
                found.append(where)
    return found
