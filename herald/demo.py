"""`herald demo`: Herald's main job on embedded defaults.

At this stage: review the example templates with the operator's own decision code
and print their status as `kubectl get templates -o yaml` would show it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from controllers.template_review import ApprovalSeen, TemplateWorld, review_template
from crds.template import Template, TemplateApproval

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_examples() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def reviewed_templates(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    approvals = [
        TemplateApproval.model_validate(d) for d in docs if d["kind"] == "TemplateApproval"
    ]
    out = []
    for doc in docs:
        if doc["kind"] != "Template":
            continue
        metadata = {**doc["metadata"], "generation": 1}
        template = Template.model_validate({**doc, "metadata": metadata})
        world = TemplateWorld(approvals=tuple(
            ApprovalSeen(a.metadata.name, a.spec.content_hash)
            for a in approvals if a.spec.template_name == template.metadata.name
        ))
        review = review_template(template.spec, 1, template.status, world, datetime.now(UTC))
        out.append({**template.to_api(), "status": review.status.to_api()})
    return out


def main(output: str = "text") -> int:
    templates = reviewed_templates(load_examples())
    if output == "json":
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": templates},
                         ensure_ascii=False, indent=2))
        return 0
    if output == "text":
        print(f"{'NAME':<18} {'CATEGORY':<13} {'PHASE':<9} {'ENCODING':<9} SEGMENTS")
        for t in templates:
            s = t["status"]
            print(f"{t['metadata']['name']:<18} {t['spec']['category']:<13} {s['phase']:<9}"
                  f" {s['encoding']:<9} {s['segments']}")
        print()
    print(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": templates},
                         allow_unicode=True, sort_keys=False), end="")
    return 0
