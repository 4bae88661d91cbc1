"""The local API refuses what kube-apiserver refuses, in its words: the CRD schemas (types,
enums, bounds, patterns, required fields, list-map keys) and their CEL rules on every
write, answered with a 422 Status whose causes name the fields; undeclared fields with
fieldValidation=Strict; and it stores what a cluster stores (defaults in, nulls out)."""

from __future__ import annotations

from typing import Any

import pytest

from crds.base import API_VERSION
from herald.local.kube.client import KubeApiError, KubeClient
from herald.local.kube.object_writes import conform, merge_patch
from herald.local.kube.openapi_documents import unknown_fields
from herald.local.kube.schema_validation import validate_custom_resource
from tests.crd_validation import crd_schemas, load_example
from tests.test_crds import BAD, EXAMPLE_FILES, TRANSITIONS


def refused(manifest: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """The local API's errors for a write of `manifest` (over `old`)."""
    schema = crd_schemas()[(manifest["apiVersion"], manifest["kind"])]
    stored = None if old is None else conform(schema, old, root=True)
    return [str(e) for e in validate_custom_resource(schema, conform(schema, manifest,
                                                                      root=True), stored)]


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_examples_are_accepted(name: str) -> None:
    assert refused(load_example(name)) == []


@pytest.mark.parametrize("example, patch, reason", BAD)
def test_what_the_crd_tests_refuse_the_local_api_refuses(example: str, patch: dict[str, Any],
                                                         reason: str) -> None:
    """The jsonschema oracle (tests/crd_validation) and the local API agree on every bad
    manifest of the CRD tests."""
    assert refused(merge_patch(load_example(example), patch))


@pytest.mark.parametrize("example, before, after, reason", TRANSITIONS)
def test_bad_updates_are_refused(example: str, before: Any, after: Any, reason: str) -> None:
    old = merge_patch(load_example(example), before)
    errors = refused(merge_patch(old, after), old)
    assert any(reason in e for e in errors), errors


# Each row: a merge patch on the example Channel, and the API server's message for it.
WORDED = [
    pytest.param({"spec": {"rateLimit": {"messagesPerSecond": 0, "burst": 0}}}, [
        "spec.rateLimit.burst: Invalid value: 0: spec.rateLimit.burst in body should be "
        "greater than or equal to 1",
        "spec.rateLimit.messagesPerSecond: Invalid value: 0: spec.rateLimit.messagesPerSecond "
        "in body should be greater than or equal to 1"], id="minimum"),
    pytest.param({"spec": {"smpp": {"port": 70000}}}, [
        "spec.smpp.port: Invalid value: 70000: spec.smpp.port in body should be less than or "
        "equal to 65535"], id="maximum"),
    pytest.param({"spec": {"smpp": {"bindMode": "transceiver"}}}, [
        'spec.smpp.bindMode: Unsupported value: "transceiver": supported values: '
        '"Transceiver", "TransmitterAndReceiver"',
        '<nil>: Invalid value: "null": some validation rules were not checked because the '
        "object was invalid; correct the existing errors to complete validation"], id="enum"),
    pytest.param({"spec": {"smpp": {"tls": True}}}, [
        'spec.smpp.tls: Invalid value: "boolean": spec.smpp.tls in body must be of type '
        'object: "boolean"',
        '<nil>: Invalid value: "null": some validation rules were not checked because the '
        "object was invalid; correct the existing errors to complete validation"], id="type"),
    pytest.param({"spec": {"smpp": {"systemId": "a-very-long-system-id"}}}, [
        "spec.smpp.systemId: Too long: may not be more than 15 bytes"], id="max-length"),
    pytest.param({"spec": {"routing": {"prefixes": ["86138"]}}}, [
        'spec.routing.prefixes[0]: Invalid value: "86138": spec.routing.prefixes[0] in body '
        "should match '^\\+[0-9]{1,15}$'"], id="pattern"),
    pytest.param({"spec": {"smpp": {"passwordSecretRef": None}}}, [
        "spec.smpp.passwordSecretRef: Required value"], id="required"),
    pytest.param({"spec": {"rateLimit": {"burst": 2500}}}, [
        'spec.rateLimit: Invalid value: "object": burst must not exceed messagesPerSecond'],
        id="cel"),
]


@pytest.mark.parametrize("patch, messages", WORDED)
def test_errors_are_worded_as_the_api_server_words_them(patch: dict[str, Any],
                                                        messages: list[str]) -> None:
    assert refused(merge_patch(load_example("channel.yaml"), patch)) == messages


async def test_a_refused_create_is_a_422_status_with_causes(kube: KubeClient) -> None:
    channel = merge_patch(load_example("channel.yaml"),
                          {"spec": {"rateLimit": {"messagesPerSecond": 0, "burst": 0}}})
    with pytest.raises(KubeApiError) as refusal:
        await kube.create(channel)
    assert refusal.value.status == 422
    status = refusal.value.body
    first, second = (
        "spec.rateLimit.burst: Invalid value: 0: spec.rateLimit.burst in body should be "
        "greater than or equal to 1",
        "spec.rateLimit.messagesPerSecond: Invalid value: 0: spec.rateLimit.messagesPerSecond"
        " in body should be greater than or equal to 1")
    assert status == {
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": 422,
        "reason": "Invalid",
        "message": f'Channel.sms.herald.dev "carrier-a" is invalid: [{first}, {second}]',
        "details": {"name": "carrier-a", "group": "sms.herald.dev", "kind": "Channel",
                    "causes": [
                        {"reason": "FieldValueInvalid", "field": field,
                         "message": message.split(": ", 1)[1]}
                        for field, message in ((f.split(":")[0], f) for f in (first, second))]},
    }
    assert await kube.find(API_VERSION, "Channel", "default", "carrier-a") is None


async def test_updates_patches_and_status_writes_are_validated(kube: KubeClient) -> None:
    await kube.create(load_example("template-manual.yaml"))
    name = load_example("template-manual.yaml")["metadata"]["name"]
    with pytest.raises(KubeApiError) as refusal:  # a transition rule, on a merge patch
        await kube.patch(API_VERSION, "Template", "default", name, {"spec": {"review": "Auto"}})
    assert refusal.value.status == 422
    assert "review cannot be relaxed from Manual to Auto" in refusal.value.body["message"]
    with pytest.raises(KubeApiError) as refusal:  # an enum, on a PUT
        stored = await kube.get(API_VERSION, "Template", "default", name)
        await kube.replace(merge_patch(stored, {"spec": {"category": "Promotion"}}))
    assert refusal.value.body["details"]["causes"][0]["field"] == "spec.category"
    with pytest.raises(KubeApiError) as refusal:  # the status has a schema too
        await kube.patch_status(API_VERSION, "Template", "default", name, {"segments": "two"})
    assert refusal.value.body["details"]["causes"][0]["reason"] == "FieldValueTypeInvalid"
    stored = await kube.get(API_VERSION, "Template", "default", name)
    assert stored["spec"]["review"] == "Manual" and stored["metadata"]["generation"] == 1


async def test_what_is_stored_has_the_defaults_and_no_nulls(kube: KubeClient) -> None:
    channel = merge_patch(load_example("channel.yaml"), {"spec": {"retry": None}})
    channel["spec"]["smpp"]["window"] = None  # kubectl sends nulls a merge patch would drop
    stored = await kube.create(channel)
    schema = crd_schemas()[(API_VERSION, "Channel")]["properties"]["spec"]
    assert stored["spec"]["smpp"]["window"] == schema["properties"]["smpp"]["properties"][
        "window"]["default"]
    assert "retry" in stored["spec"]  # its default: {}, and the defaults within it


async def test_strict_field_validation_refuses_undeclared_fields(kube: KubeClient) -> None:
    channel = merge_patch(load_example("channel.yaml"),
                          {"spec": {"rateLimit": {"messagesPerSec": 10}, "colour": "red"}})
    path = await kube.path(API_VERSION, "Channel", "default")
    with pytest.raises(KubeApiError) as refusal:
        await kube.request("POST", path, body=channel, params={"fieldValidation": "Strict"})
    assert refusal.value.status == 400
    assert refusal.value.body["message"] == (
        'Channel in version "v1alpha1" cannot be handled as a Channel: strict decoding error: '
        'unknown field "spec.colour", unknown field "spec.rateLimit.messagesPerSec"')
    stored = await kube.request("POST", path, body=channel)  # no Strict: pruned, as a cluster
    assert "colour" not in stored["spec"] and "messagesPerSec" not in stored["spec"]["rateLimit"]


def test_unknown_fields_are_named_by_their_paths() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}}}}}}}}
    manifest = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "status": {},
                "spec": {"items": [{"name": "a"}, {"name": "b", "nmae": "c"}]}}
    assert unknown_fields(schema, manifest) == ["status", "spec.items[1].nmae"]


async def test_kubectl_get_is_answered_with_a_table_of_printer_columns(
        kube: KubeClient) -> None:
    await kube.create(load_example("template.yaml"))
    path = await kube.path(API_VERSION, "Template", "default")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    async with kube.session.get(kube.server + path, headers={"Accept": accept}) as response:
        listed = await response.json()
    assert listed["kind"] == "Table"
    names = [c["name"] for c in listed["columnDefinitions"]]
    assert names[0] == "Name" and names[-1] == "Age" and "Category" in names
    (row,) = listed["rows"]
    assert row["cells"][0] == load_example("template.yaml")["metadata"]["name"]
    assert row["cells"][names.index("Category")] == "Marketing"
    assert row["cells"][-1].endswith("s")  # an age, as the server words it
    assert row["object"]["kind"] == "PartialObjectMetadata"


@pytest.mark.parametrize("manifest, refusal", [
    pytest.param({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "My_List"}},
                 'ConfigMap "My_List" is invalid: metadata.name: Invalid value: "My_List": a '
                 "lowercase RFC 1123 subdomain must consist of", id="configmap"),
    pytest.param(merge_patch(load_example("template.yaml"), {"metadata": {"name": "Sale!"}}),
                 'Template.sms.herald.dev "Sale!" is invalid: metadata.name: Invalid value: '
                 '"Sale!": a lowercase RFC 1123 subdomain', id="custom-resource"),
    pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}},
                 'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": a lowercase'
                 " RFC 1123 label must consist of", id="namespace"),
])
async def test_names_a_cluster_refuses_are_refused(kube: KubeClient, manifest: dict[str, Any],
                                                   refusal: str) -> None:
    with pytest.raises(KubeApiError) as refused_write:
        await kube.create(manifest)
    assert refused_write.value.status == 422
    assert refused_write.value.body["message"].startswith(refusal)
