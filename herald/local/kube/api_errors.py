"""
Failures as kube-apiserver reports them: a v1 Status body under the same HTTP code, its
message worded as the real server words it (kopf and the kubernetes client read both).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import kmock
from kmock import Response  # type: ignore[attr-defined]  # exported, but not in its __all__

from herald.local.kube.schema_validation import FieldError


def status_response(code: int, reason: str, message: str, **details: Any) -> Response:
    """A failure as kube-apiserver reports it: a v1 Status body with the same code."""
    return Response(status=code, payload={
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "code": code, "reason": reason, "message": message, "details": details,
    })


def object_failure(code: int, reason: str, resource: kmock.resource | None, name: str | None,
                   message: str) -> Response:
    """A failure about one object, worded as kube-apiserver words it."""
    group, plural = (resource.group, resource.plural) if resource else ("", "resource")
    what = f'{plural}.{group} "{name}"' if group else f'{plural} "{name}"'
    return status_response(code, reason, message.format(what=what),
                           name=name, group=group, kind=plural)


def not_found(request: kmock.Request) -> Response:
    return object_failure(404, "NotFound", request.resource, request.name, "{what} not found")


def conflict(request: kmock.Request, why: str) -> Response:
    return object_failure(409, "Conflict", request.resource, request.name,
                          "Operation cannot be fulfilled on {what}: " + why)


def invalid(kind: str, group: str, name: str, errors: Sequence[FieldError]) -> Response:
    """422 Invalid as apimachinery's errors.NewInvalid words it: `Kind.group "name" is
    invalid: ...` (one error, or `[e1, e2]`), each error a cause with its field. kubectl
    prints it from the causes: `The Kind "name" is invalid: ...`."""
    what = f"{kind}.{group}" if group else kind
    texts = [str(e) for e in errors]
    aggregate = texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
    causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    return status_response(422, "Invalid", f'{what} "{name}" is invalid: {aggregate}',
                           name=name, group=group, kind=kind, causes=causes)
