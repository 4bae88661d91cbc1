"""
Request bodies in Kubernetes' protobuf encoding, read as the JSON objects they stand for.

kubectl's typed commands (`kubectl create configmap`, `kubectl create secret generic`)
send `application/vnd.kubernetes.protobuf` and do not fall back to JSON. The envelope is
the magic `k8s\\0` and a runtime.Unknown (typeMeta, raw); raw is the object's message
(k8s.io/api/core/v1/generated.proto). Only the kinds those commands create are read,
and of their metadata the fields a client sets; anything else is UnsupportedBody.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class UnsupportedBody(ValueError):
    """A protobuf body of a kind (or shape) this reader does not know."""


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a message: varints as int, length-delimited as bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            size, at = _varint(data, at)
            yield number, data[at:at + size]
            at += size
        elif wire in (1, 5):  # fixed64, fixed32: no field read here has them
            at += 8 if wire == 1 else 4
        else:
            raise UnsupportedBody(f"protobuf wire type {wire}")


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise UnsupportedBody("truncated protobuf")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise UnsupportedBody("a varint where bytes were expected")
    return value


def _text(value: int | bytes) -> str:
    return _bytes(value).decode("utf-8")


def _entry(value: int | bytes) -> tuple[str, bytes]:
    """One entry of a map<string, string|bytes>: (key, value)."""
    key, item = "", b""
    for number, part in _fields(_bytes(value)):
        if number == 1:
            key = _text(part)
        elif number == 2:
            item = _bytes(part)
    return key, item


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion"}
    for number, value in _fields(data):
        if number in names and _text(value):  # Kubernetes' messages write "" too
            meta[names[number]] = _text(value)
        elif number in (11, 12):
            key, item = _entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item.decode()
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _config_map(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(_bytes(value))
        elif number == 2:
            key, item = _entry(value)
            obj.setdefault("data", {})[key] = item.decode("utf-8")
        elif number == 3:
            key, item = _entry(value)
            obj.setdefault("binaryData", {})[key] = base64.b64encode(item).decode()
        elif number == 4:
            obj["immutable"] = bool(value)
    return obj


def _secret(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(_bytes(value))
        elif number == 2:
            key, item = _entry(value)
            obj.setdefault("data", {})[key] = base64.b64encode(item).decode()
        elif number == 3 and _text(value):
            obj["type"] = _text(value)
        elif number == 4:
            key, item = _entry(value)
            obj.setdefault("stringData", {})[key] = item.decode("utf-8")
        elif number == 5:
            obj["immutable"] = bool(value)
    return obj


_KINDS = {("v1", "ConfigMap"): _config_map, ("v1", "Secret"): _secret}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object a protobuf request body stands for; UnsupportedBody otherwise."""
    if not body.startswith(MAGIC):
        raise UnsupportedBody("no k8s protobuf envelope")
    api_version = kind = ""
    raw = b""
    for number, value in _fields(body[len(MAGIC):]):
        if number == 1:
            for part_number, part in _fields(_bytes(value)):
                if part_number == 1:
                    api_version = _text(part)
                elif part_number == 2:
                    kind = _text(part)
        elif number == 2:
            raw = _bytes(value)
    reader = _KINDS.get((api_version, kind))
    if reader is None:
        raise UnsupportedBody(f"{kind or 'an object'} in protobuf")
    return {"apiVersion": api_version, "kind": kind, **reader(raw)}
