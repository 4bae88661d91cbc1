"""The chart and the kustomize install render, with the same CRDs as crds/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / ".tools" / "bin"
CRDS = {
    doc["metadata"]["name"]: doc
    for path in sorted((REPO / "crds").glob("sms.herald.dev_*.yaml"))
    for doc in [yaml.safe_load(path.read_text(encoding="utf-8"))]
}


def run(tool: str, *args: str) -> list[dict[str, Any]]:
    binary = TOOLS / tool
    assert binary.exists(), f"{binary} missing: run `make test` (tools/install_k8s_tools.py)"
    out = subprocess.run([str(binary), *args], capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def helm_template(*flags: str) -> list[dict[str, Any]]:
    return run("helm", "template", "herald", str(REPO / "charts" / "herald"), *flags)


def crds_in(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}


def test_chart_renders_the_generated_crds_kept_on_uninstall() -> None:
    rendered = crds_in(helm_template())
    assert rendered.keys() == CRDS.keys()
    for name, crd in rendered.items():
        annotations = crd["metadata"].pop("annotations")
        assert annotations == {"helm.sh/resource-policy": "keep",
                               "argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}
        assert crd == CRDS[name], f"{name}: chart differs from crds/"


@pytest.mark.parametrize("flags, crd_count, kept", [
    pytest.param(("--set", "crds.keep=false"), 5, False, id="not-kept"),
    pytest.param(("--set", "crds.enabled=false"), 0, False, id="disabled"),
])
def test_chart_crd_switches(flags: tuple[str, ...], crd_count: int, kept: bool) -> None:
    rendered = crds_in(helm_template(*flags))
    assert len(rendered) == crd_count
    assert all(("annotations" in c["metadata"]) is kept for c in rendered.values())


@pytest.mark.parametrize("values", [
    pytest.param((), id="default"),
    pytest.param(("-f", str(REPO / "tests" / "data" / "chart" / "full-values.yaml")),
                 id="fully-enabled"),
    pytest.param(("-f", str(REPO / "tests" / "data" / "chart" / "external-redis-values.yaml")),
                 id="external-redis"),
])
def test_chart_lints(values: tuple[str, ...]) -> None:
    binary = TOOLS / "helm"
    result = subprocess.run([str(binary), "lint", "--strict", str(REPO / "charts" / "herald"),
                             *values], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomize_install_has_the_crds_user_roles_and_operator() -> None:
    docs = run("kubectl", "kustomize", str(REPO / "operator"))
    assert crds_in(docs) == CRDS
    roles = {d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"}
    assert roles == {"herald-view", "herald-edit", "herald-approve", "herald-operator"}
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ServiceAccount", "Deployment", "StatefulSet", "NetworkPolicy"} <= kinds


def test_kustomize_install_is_rendered_from_the_current_chart() -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "render_install.py"),
                             "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def operator_rbac(docs: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The operator's roles and bindings, without labels (Helm's and kustomize's differ)."""
    found = [
        (d["kind"], {k: v for k, v in d.items() if k != "metadata"}
         | {"name": d["metadata"]["name"], "namespace": d["metadata"].get("namespace")})
        for d in docs
        if d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
        and "operator" in d["metadata"]["name"]]
    return sorted(found, key=lambda item: (item[0], item[1]["name"], item[1]["namespace"] or ""))


def test_chart_and_kustomize_grant_the_same_rbac() -> None:
    chart = operator_rbac(helm_template("--namespace", "herald"))
    kustomize = operator_rbac(run("kubectl", "kustomize", str(REPO / "operator")))
    assert chart and chart == kustomize
