"""Write operator/herald.yaml, the operator's install without Helm, from the chart.

    python tools/render_install.py           write it
    python tools/render_install.py --check   exit 1 if the committed file is stale

`kubectl apply -k operator/` installs what `helm install herald charts/herald -n herald`
would with default values (the CRDs come from crds/, the user roles from
operator/user-roles.yaml). One source: the chart; this file is rendered from it, so the
two installs cannot grant different RBAC. Helm's own labels are swapped for
kustomize's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
HELM = REPO / ".tools" / "bin" / "helm"
TARGET = REPO / "operator" / "herald.yaml"
NAMESPACE = "herald"
HEADER = """\
# Rendered by `python tools/render_install.py` from charts/herald (default values,
# release "herald" in namespace "herald"). Do not edit: change the chart, render again.
"""


def relabel(obj: Any) -> Any:
    """Helm's labels to kustomize's, everywhere in an object."""
    if isinstance(obj, dict):
        labels = obj.get("labels")
        if isinstance(labels, dict) and "helm.sh/chart" in labels:
            labels.pop("helm.sh/chart")
            labels["app.kubernetes.io/managed-by"] = "kustomize"
        return {key: relabel(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [relabel(value) for value in obj]
    return obj


def render() -> str:
    out = subprocess.run(
        [str(HELM), "template", "herald", str(REPO / "charts" / "herald"),
         "--namespace", NAMESPACE, "--set", "crds.enabled=false"],
        capture_output=True, text=True, check=True).stdout
    docs = [relabel(doc) for doc in yaml.safe_load_all(out) if doc]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": NAMESPACE, "labels": {
            "app.kubernetes.io/name": "herald",
            # Herald's pods meet the restricted Pod Security Standard: enforce it.
            "pod-security.kubernetes.io/enforce": "restricted"}}}
    for doc in docs:  # helm template leaves the namespace to `helm install -n`
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            doc["metadata"].setdefault("namespace", NAMESPACE)
    body = yaml.safe_dump_all([namespace, *docs], sort_keys=False, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true")
    check = args.parse_args(argv).check
    text = render()
    if check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(REPO)} is stale: run python tools/render_install.py",
                  file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
