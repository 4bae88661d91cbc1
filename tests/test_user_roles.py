"""The user roles keep approving apart from editing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROLES_FILE = Path(__file__).resolve().parent.parent / "operator" / "user-roles.yaml"
ROLES = {r["metadata"]["name"]: r for r in yaml.safe_load_all(ROLES_FILE.read_text())}


def allows(role: dict[str, Any], verb: str, resource: str) -> bool:
    """Whether one of the role's rules grants `verb` on `resource` in Herald's group."""
    return any(
        "sms.herald.dev" in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        for rule in role["rules"]
    )


def effective(name: str) -> list[dict[str, Any]]:
    """A role with what aggregation adds: edit includes view."""
    if name == "herald-edit":
        return [ROLES["herald-edit"], ROLES["herald-view"]]
    return [ROLES[name]]


@pytest.mark.parametrize("role, verb, resource, allowed", [
    pytest.param("herald-edit", "update", "templates", True, id="editor-edits"),
    pytest.param("herald-edit", "create", "templateapprovals", False, id="editor-cannot-approve"),
    pytest.param("herald-edit", "get", "templateapprovals", True, id="editor-sees-approvals"),
    pytest.param("herald-approve", "create", "templateapprovals", True, id="approver-approves"),
    pytest.param("herald-approve", "patch", "templateapprovals", False,
                 id="approver-cannot-rewrite-approval"),
    pytest.param("herald-approve", "update", "templates", False, id="approver-cannot-edit"),
    pytest.param("herald-approve", "patch", "templates", False, id="approver-cannot-patch"),
    pytest.param("herald-view", "create", "campaigns", False, id="viewer-reads-only"),
    pytest.param("herald-view", "list", "campaignruns", True, id="viewer-sees-runs"),
    pytest.param("herald-edit", "delete", "campaignruns", True, id="editor-deletes-a-run"),
    pytest.param("herald-edit", "create", "campaignruns", False,
                 id="runs-are-the-operators-to-create"),
    pytest.param("herald-edit", "patch", "campaignruns", False,
                 id="runs-follow-their-campaign"),
])
def test_role_grants(role: str, verb: str, resource: str, allowed: bool) -> None:
    assert any(allows(r, verb, resource) for r in effective(role)) is allowed


def test_approve_role_is_not_aggregated_into_builtin_roles() -> None:
    labels = ROLES["herald-approve"]["metadata"].get("labels", {})
    assert not any(key.startswith("rbac.authorization.k8s.io/aggregate-to") for key in labels)


def test_no_wildcards() -> None:
    for role in ROLES.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
