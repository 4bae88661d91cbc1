"""Template review through the real operator (kopf) on the Kubernetes API emulator."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from crds.template import TemplateSpec
from herald.local.kube.client import KubeClient, wait_for
from tests.crd_validation import load_example

pytestmark = pytest.mark.usefixtures("operator")

TEMPLATES = ("sms.herald.dev/v1alpha1", "templates")
APPROVALS = ("sms.herald.dev/v1alpha1", "templateapprovals")


def ready(obj: dict[str, Any] | None) -> dict[str, Any]:
    for condition in (obj or {}).get("status", {}).get("conditions", []):
        if condition["type"] == "Ready":
            return dict(condition)
    return {}


async def wait_ready_reason(
    kube: KubeClient, name: str, reason: str, *, generation: int | None = None
) -> dict[str, Any]:
    """Wait until the template's Ready condition has `reason` (for `generation`, if given)."""

    def reached(obj: dict[str, Any]) -> bool:
        condition = ready(obj)
        fresh = generation is None or condition.get("observedGeneration") == generation
        return condition.get("reason") == reason and fresh

    result: dict[str, Any] = await wait_for(
        lambda: kube.get(*TEMPLATES, "default", name), until=reached,
        timeout=15, message=f"template {name} Ready reason {reason}",
    )
    return result


async def reasons_posted(kube: KubeClient, obj: dict[str, Any]) -> list[str]:
    return [e["reason"] for e in await kube.events_for(obj)]


async def test_example_template_is_reviewed_and_approved(kube: KubeClient) -> None:
    await kube.create(load_example("template.yaml"))
    obj = await wait_ready_reason(kube, "double-eleven", "Approved")

    status = obj["status"]
    assert status["phase"] == "Approved"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status["encoding"] == "UCS2"
    assert status["segments"] == 1
    assert status["preview"].startswith("【Herald】王小明您好")
    assert status["preview"].endswith("回T退订")
    assert status["variables"]["used"] == ["name", "code"]
    assert ready(obj)["status"] == "True"
    await wait_for(
        lambda: reasons_posted(kube, obj), timeout=10, message="an Approved event",
        until=lambda reasons: reasons == ["Approved"],
    )


async def test_bad_template_is_rejected_with_a_warning_event(kube: KubeClient) -> None:
    bad = copy.deepcopy(load_example("template.yaml"))
    bad["metadata"]["name"] = "bad-variables"
    bad["spec"]["body"] = "{name}您好，{unknown}"
    await kube.create(bad)
    obj = await wait_ready_reason(kube, "bad-variables", "Rejected")
    assert "UndeclaredVariable" in [f["reason"] for f in obj["status"]["findings"]]

    events = await wait_for(
        lambda: kube.events_for(obj), timeout=10, message="a Rejected event",
        until=lambda events: any(e["reason"] == "Rejected" for e in events),
    )
    assert {e["type"] for e in events if e["reason"] == "Rejected"} == {"Warning"}


async def test_sensitive_word_configmap_rejects(kube: KubeClient) -> None:
    await kube.create({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "words", "namespace": "default",
                     "labels": {"sms.herald.dev/sensitive-words": "true"}},
        "data": {"words": "满200减30\n"},
    })
    await kube.create(load_example("template.yaml"))
    obj = await wait_ready_reason(kube, "double-eleven", "Rejected")
    assert "满200减30" in obj["status"]["findings"][-1]["message"]


async def test_manual_approval_then_edit_voids_it(kube: KubeClient) -> None:
    await kube.create(load_example("template-manual.yaml"))
    obj = await wait_ready_reason(kube, "delivery-notice", "AwaitingApproval")
    assert obj["status"]["phase"] == "Pending"
    content_hash = obj["status"]["contentHash"]
    assert content_hash == TemplateSpec.model_validate(obj["spec"]).content_hash()

    await kube.create(load_example("templateapproval.yaml"))
    obj = await wait_ready_reason(kube, "delivery-notice", "ManuallyApproved")
    assert obj["status"]["phase"] == "Approved"
    assert obj["status"]["approval"] == "delivery-notice-v1"

    await kube.patch(*TEMPLATES, "default", "delivery-notice",
                     {"spec": {"body": "Hi {name}, parcel {tracking} is delayed to {day}."}})
    obj = await wait_ready_reason(kube, "delivery-notice", "ApprovalVoided", generation=2)
    assert obj["status"]["phase"] == "Pending"
    assert obj["status"]["contentHash"] != content_hash
    assert "approval" not in obj["status"]
    await wait_for(
        lambda: reasons_posted(kube, obj), timeout=10, message="voided after approved",
        until=lambda reasons: reasons[-2:] == ["ManuallyApproved", "ApprovalVoided"],
    )


async def test_word_list_edit_rereviews_approved_template(kube: KubeClient) -> None:
    words = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "words", "namespace": "default",
                     "labels": {"sms.herald.dev/sensitive-words": "true"}},
        "data": {"words": "彩票\n"},
    }
    await kube.create(words)
    await kube.create(load_example("template.yaml"))
    await wait_ready_reason(kube, "double-eleven", "Approved")

    await kube.patch("v1", "configmaps", "default", "words", {"data": {"words": "彩票\n双十一\n"}})
    obj = await wait_ready_reason(kube, "double-eleven", "Rejected")
    assert "双十一" in obj["status"]["findings"][-1]["message"]


async def test_templates_carry_no_finalizer_and_status_writes_keep_generation(
    kube: KubeClient,
) -> None:
    """Deleting a template must not need the operator; status writes are not spec edits."""
    await kube.create(load_example("template.yaml"))
    obj = await wait_ready_reason(kube, "double-eleven", "Approved")
    assert obj["metadata"].get("finalizers", []) == []
    assert obj["metadata"]["generation"] == 1
