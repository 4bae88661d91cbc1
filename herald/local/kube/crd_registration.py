"""
What kube-apiserver makes of a CRD written through the API: the resources it serves,
each with its structural schema, and the status it gives the CRD once it accepts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kmock

from herald.local.kube.object_writes import Body, now_rfc3339

CRDS = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
CRD_VERBS = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}


# A CRD without additionalPrinterColumns is listed with its age, after its name.
DEFAULT_COLUMNS = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]


def served_versions(crd: Mapping[str, Any],
                    ) -> list[tuple[kmock.resource, kmock.ResourceInfo, Body | None, list[Body]]]:
    """A CRD's served versions: (resource, its discovery info, its openAPIV3Schema, its
    printer columns)."""
    spec, names = crd["spec"], crd["spec"]["names"]
    served = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        resource = kmock.resource(spec["group"], version["name"], names["plural"])
        subresources = version.get("subresources") or spec.get("subresources") or {}
        info = kmock.ResourceInfo(
            kind=names["kind"], singular=names.get("singular") or names["kind"].lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            shortnames=names.get("shortNames", []), categories=names.get("categories", []),
            verbs=CRD_VERBS, subresources=set(subresources))
        schema = (version.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")
        columns = version.get("additionalPrinterColumns") or DEFAULT_COLUMNS
        served.append((resource, info, schema, list(columns)))
    return served


def crd_status(crd: Body) -> Body:
    """The status kube-apiserver gives a CRD it accepts: names accepted, established."""
    conditions = [("NamesAccepted", "NoConflicts"), ("Established", "InitialNamesAccepted")]
    return {"acceptedNames": crd.get("spec", {}).get("names", {}), "conditions": [
        {"type": type_, "status": "True", "reason": reason, "lastTransitionTime": now_rfc3339()}
        for type_, reason in conditions]}
