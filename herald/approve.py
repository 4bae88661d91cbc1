"""`herald approve template NAME`: approve exactly what the reviewer is looking at.

The approval pins the content hash from the template's status, so an edit made after
the reviewer read the template is not approved by accident. The reviewer needs
`create` on templateapprovals and `get` on templates, nothing more.
"""

from __future__ import annotations

import sys

from controllers.kube import Kube, load_client_config
from crds.base import API_VERSION
from crds.template import Template, TemplateApproval


async def approve_template(name: str, namespace: str, *, note: str = "",
                           kube: Kube | None = None) -> int:
    kube = kube or Kube(load_client_config())
    body = await kube.get(Template.PLURAL, namespace, name)
    if body is None:
        print(f"error: template {namespace}/{name} not found", file=sys.stderr)
        return 1
    template = Template.model_validate(body)
    status = template.status
    if status.content_hash is None or status.observed_generation != template.metadata.generation:
        print(f"error: template {name} has not been reviewed since its last edit; try again"
              " when its status is current", file=sys.stderr)
        return 1
    errors = [f.message for f in status.findings if f.severity == "Error"]
    if errors:
        print(f"error: template {name} fails review ({'; '.join(errors)}); fix it first",
              file=sys.stderr)
        return 1
    digest = status.content_hash.removeprefix("sha256:")
    # Object names stop at 253 characters: room for "-" and ten hex digits.
    approval_name = f"{name[:242]}-{digest[:10]}"
    approval = {
        "apiVersion": API_VERSION,
        "kind": TemplateApproval.KIND,
        "metadata": {"name": approval_name, "namespace": namespace},
        "spec": {"templateName": name, "contentHash": status.content_hash, "note": note},
    }
    await kube.create(TemplateApproval.PLURAL, namespace, approval)
    print(f"templateapproval.sms.herald.dev/{approval_name} created")
    return 0
