"""An operator restart picks up where it was: what changed while it was down, nothing twice."""

from __future__ import annotations

from typing import Any

from herald.local.kopf_runner import running_operator
from herald.local.kube.client import wait_for
from herald.local.kube.server import EmulatedCluster
from tests.crd_validation import load_example

TEMPLATES = ("sms.herald.dev/v1alpha1", "templates")


def ready_reason(obj: dict[str, Any]) -> str | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == "Ready":
            return str(condition["reason"])
    return None


async def test_edit_while_operator_is_down_voids_approval_after_restart(
    cluster: EmulatedCluster,
) -> None:
    kube = cluster.client

    def template() -> Any:
        return kube.get(*TEMPLATES, "default", "delivery-notice")

    async def reasons_posted(obj: dict[str, Any]) -> list[str]:
        return [e["reason"] for e in await kube.events_for(obj)]

    async with running_operator(cluster.kubeconfig, modules=["controllers.operator"]):
        await kube.create(load_example("template-manual.yaml"))
        await kube.create(load_example("templateapproval.yaml"))
        approved = await wait_for(
            template, timeout=15, message="approved before the restart",
            until=lambda obj: ready_reason(obj) == "ManuallyApproved",
        )
        await wait_for(
            lambda: reasons_posted(approved), timeout=10, message="the approval announced",
            until=lambda reasons: reasons[-1:] == ["ManuallyApproved"],
        )

    await kube.patch(*TEMPLATES, "default", "delivery-notice",
                     {"spec": {"body": "Hi {name}, {tracking} is delayed."}})

    async with running_operator(cluster.kubeconfig, modules=["controllers.operator"]):
        voided = await wait_for(
            template, timeout=15, message="the offline edit noticed after the restart",
            until=lambda obj: ready_reason(obj) == "ApprovalVoided",
        )
        reasons = await wait_for(
            lambda: reasons_posted(voided), timeout=10, message="the voiding announced",
            until=lambda reasons: reasons[-1:] == ["ApprovalVoided"],
        )

    assert voided["status"]["observedGeneration"] == 2
    assert voided["metadata"]["uid"] == approved["metadata"]["uid"]
    # The restart announced only what changed: no second approval.
    assert reasons.count("ManuallyApproved") == 1
