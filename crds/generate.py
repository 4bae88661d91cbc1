"""Generate the CustomResourceDefinitions from the pydantic models.

    python -m crds.generate          # write crds/*.yaml, the chart's CRD templates and
                                     # docs/reference.md
    python -m crds.generate --check  # exit 1 if the committed files are stale

pydantic writes JSON Schema; the API server wants a *structural* OpenAPI v3 schema.
The translation, each step for a reason the API server gives:

- `$ref`/`$defs` are inlined: CRD schemas may not reference.
- `X | None` (anyOf with null) collapses to X: absence, not null, means unset.
- `title` is dropped, `default: null` is dropped, `uniqueItems` never appears (refused).
- A nested object with no required fields and no default gets `default: {}` so that
  its own defaults apply when the user leaves it out (and Argo CD sees no drift).
- Defaults are stripped from `status`: the operator writes status, whole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from crds.base import GROUP, VERSION, HeraldResource
from crds.campaign import Campaign
from crds.campaign_run import CampaignRun
from crds.channel import Channel
from crds.reference import reference_markdown
from crds.template import Template, TemplateApproval

KINDS: tuple[type[HeraldResource], ...] = (Channel, Template, TemplateApproval, Campaign,
                                           CampaignRun)
CATEGORIES = ["sms"]

REPO = Path(__file__).resolve().parent.parent
CRD_DIR = REPO / "crds"
CHART_CRD_DIR = REPO / "charts" / "herald" / "templates" / "crds"

# Helm never upgrades files in a chart's crds/ folder, so the chart ships CRDs as
# templates (as cert-manager does): installed while crds.enabled, and kept on
# `helm uninstall` while crds.keep, so uninstalling does not delete every campaign.
CHART_HEADER = "{{- if .Values.crds.enabled }}\n"
CHART_FOOTER = "{{- end }}\n"
CHART_KEEP_ANNOTATION = (
    "  {{- if .Values.crds.keep }}\n"
    "  annotations:\n"
    "    helm.sh/resource-policy: keep\n"
    "    # Argo CD respects resource-policy when an Application is deleted, not when it\n"
    "    # prunes: this keeps a sync from deleting the CRDs (and every Campaign).\n"
    "    argocd.argoproj.io/sync-options: Prune=false,Delete=false\n"
    "  {{- end }}\n"
)


_KEY_ORDER = {"description": 0, "type": 1, "format": 2, "enum": 3, "default": 4}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Translate one pydantic JSON-Schema node into a structural OpenAPI node."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node

    node = dict(node)
    # Inline a reference, letting the referring field's keys (description, default) win.
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    # `X | None`: keep X, and the field's own description/default.
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            node = {**_structural(options[0], defs), **rest}
    if "allOf" in node and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        node = {**_structural(node["allOf"][0], defs), **rest}

    node.pop("title", None)
    node.pop("uniqueItems", None)
    if "default" in node and node["default"] is None:
        del node["default"]

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "allOf", "oneOf"):
            out[key] = _structural(value, defs)
        else:
            out[key] = value

    # description first, then type, so the YAML reads like `kubectl explain`.
    out = dict(sorted(out.items(), key=lambda kv: _KEY_ORDER.get(kv[0], len(_KEY_ORDER))))
    if out.get("type") == "object" and "properties" in out:
        required = set(out.get("required", []))
        # `X | None = None` means "absent unless set" (a send window, a frequency cap);
        # only objects whose model default is an instance (default_factory) get `{}`.
        unset_by_default = {
            name for name, prop in node["properties"].items()
            if prop.get("default", ...) is None
        }
        for name, prop in out["properties"].items():
            is_object = prop.get("type") == "object" and "properties" in prop
            optional = name not in required and name not in unset_by_default
            if is_object and optional and "default" not in prop and not prop.get("required"):
                prop["default"] = {}
    return out


def _strip_defaults(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_defaults(v) for k, v in node.items() if k != "default"}
    if isinstance(node, list):
        return [_strip_defaults(v) for v in node]
    return node


def _field_schema(kind: type[HeraldResource], field: str) -> dict[str, Any]:
    schema = kind.model_json_schema(by_alias=True, mode="validation")
    defs = schema.get("$defs", {})
    node: dict[str, Any] = _structural(schema["properties"][field], defs)
    description = kind.model_fields[field].description
    if description:
        node["description"] = description
    return node


def openapi_schema(kind: type[HeraldResource]) -> dict[str, Any]:
    """The openAPIV3Schema of one kind."""
    properties: dict[str, Any] = {
        "apiVersion": {
            "type": "string",
            "description": "APIVersion defines the versioned schema of this object.",
        },
        "kind": {"type": "string", "description": "Kind is the type of this object."},
        "metadata": {"type": "object"},
        "spec": _field_schema(kind, "spec"),
    }
    if "status" in kind.model_fields:
        properties["status"] = _strip_defaults(_field_schema(kind, "status"))
    return {
        "type": "object",
        "description": (kind.__doc__ or "").strip(),
        "required": ["spec"],
        "properties": properties,
    }


def crd(kind: type[HeraldResource]) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
    }
    if "status" in kind.model_fields:
        version["subresources"] = {"status": {}}
    if kind.PRINTER_COLUMNS:
        version["additionalPrinterColumns"] = [dict(c) for c in kind.PRINTER_COLUMNS]
    version["schema"] = {"openAPIV3Schema": openapi_schema(kind)}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "herald"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.KIND,
                "listKind": f"{kind.KIND}List",
                "plural": kind.PLURAL,
                "singular": kind.KIND.lower(),
                "shortNames": list(kind.SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes repeated sub-schemas out in full: anchors (&id001) confuse readers and tools."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(obj: dict[str, Any]) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def escape_for_helm(text: str) -> str:
    """Literal {{ and }} in descriptions would be read as Go template actions."""
    opened, closed = "\x00", "\x01"
    text = text.replace("{{", opened).replace("}}", closed)
    return text.replace(opened, '{{ "{{" }}').replace(closed, '{{ "}}" }}')


def file_name(kind: type[HeraldResource]) -> str:
    return f"{GROUP}_{kind.PLURAL}.yaml"


def render() -> dict[Path, str]:
    """Every generated file and its text."""
    files: dict[Path, str] = {}
    header = "# Generated by `python -m crds.generate` from the models in crds/. Do not edit.\n"
    for kind in KINDS:
        text = _dump(crd(kind))
        files[CRD_DIR / file_name(kind)] = header + text
        chart = escape_for_helm(text).replace(
            "metadata:\n", "metadata:\n" + CHART_KEEP_ANNOTATION, 1
        )
        files[CHART_CRD_DIR / file_name(kind)] = header + CHART_HEADER + chart + CHART_FOOTER
    files[REPO / "docs" / "reference.md"] = reference_markdown([crd(kind) for kind in KINDS])
    return files


def committed_crds() -> list[dict[str, Any]]:
    """The CRD manifests as committed in crds/ (what `kubectl apply -k crds/` installs)."""
    return [
        yaml.safe_load((CRD_DIR / file_name(kind)).read_text(encoding="utf-8")) for kind in KINDS
    ]


def stale_files() -> list[Path]:
    """Generated files whose committed text differs from a fresh render."""
    return [
        path
        for path, text in render().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crds.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if generated files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(REPO)} (run `python -m crds.generate`)")
        return 1 if stale else 0
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
