"""The test harness itself: the emulator behaves like kube-apiserver where kopf needs it."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import kmock
import kopf
import kubernetes
import pytest

from herald.local.kopf_runner import running_operator
from herald.local.kube.client import KubeApiError, KubeClient, wait_for
from herald.local.kube.server import EmulatedCluster, kubeconfig_env

GROUP = "toys.example.com"
TOYS = (f"{GROUP}/v1", "Toy")  # namespaced, with a status subresource
GADGETS = (f"{GROUP}/v1", "Gadget")  # cluster-scoped, without one
WIDGETS = (f"{GROUP}/v1", "Widget")  # with a structural schema: pruning and defaults

PRESERVE_ALL = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
WIDGET_SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "default": {}, "properties": {
        "size": {"type": "integer", "default": 1},
        "parts": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "count": {"type": "integer", "default": 1}}}},
        "extra": PRESERVE_ALL,
    }},
    "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
}}


def crd(kind: str, plural: str, *, scope: str, subresources: dict[str, Any],
        schema: dict[str, Any] = PRESERVE_ALL) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP, "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                      "shortNames": [kind.lower()[:2]], "categories": ["toys"]},
            "versions": [{
                "name": "v1", "served": True, "storage": True, "subresources": subresources,
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    }


TOY_CRD = crd("Toy", "toys", scope="Namespaced", subresources={"status": {}})
GADGET_CRD = crd("Gadget", "gadgets", scope="Cluster", subresources={})
WIDGET_CRD = crd("Widget", "widgets", scope="Namespaced", subresources={"status": {}},
                 schema=WIDGET_SCHEMA)


@pytest.fixture
def crd_manifests() -> list[dict[str, Any]]:
    return [TOY_CRD, GADGET_CRD, WIDGET_CRD]


def toy(name: str, **fields: Any) -> dict[str, Any]:
    labels = fields.pop("labels", {})
    return {"apiVersion": TOYS[0], "kind": "Toy", **fields,
            "metadata": {"name": name, "namespace": "default", "labels": labels}}


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def take(stream: AsyncIterator[dict[str, Any]], count: int) -> list[tuple[str, str]]:
    """The next `count` watch events as (type, name); fails after 5 seconds."""
    events = []
    async with asyncio.timeout(5):
        async for event in stream:
            events.append((event["type"], event["object"]["metadata"].get("name", "")))
            if len(events) == count:
                break
    return events


# -- server-managed metadata -----------------------------------------------------------------

async def test_create_sets_uid_timestamp_generation_and_version(kube: KubeClient) -> None:
    created = await kube.create(toy("t1", spec={"size": 1}))
    meta = created["metadata"]

    assert uuid.UUID(meta["uid"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert await kube.get(*TOYS, "default", "t1") == created


async def test_resource_version_is_one_counter_bumped_by_every_write(kube: KubeClient) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    versions = [
        rv(await kube.create(toy("t1", spec={"size": 1}))),
        rv(await kube.create(config)),
        rv(await kube.patch(*TOYS, "default", "t1", {"metadata": {"labels": {"a": "b"}}})),
        rv(await kube.patch_status(*TOYS, "default", "t1", {"phase": "Ready"})),
        rv(await kube.patch("v1", "ConfigMap", "default", "c", {"data": {"k": "v"}})),
    ]
    listed = await kube.request("GET", await kube.path(*TOYS))

    assert versions == list(range(versions[0], versions[0] + 5))
    assert listed["metadata"]["resourceVersion"] == str(versions[-1])
    assert listed["kind"] == "ToyList"


async def test_generate_name_gets_a_random_suffix(kube: KubeClient) -> None:
    body = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "kopf-event-"}}
    names = {(await kube.create(body))["metadata"]["name"] for _ in range(3)}

    assert len(names) == 3
    assert all(re.fullmatch(r"kopf-event-[a-z0-9]{5}", name) for name in names)


@pytest.mark.parametrize("subresource, patch, generation, written", [
    pytest.param(None, {"spec": {"size": 2}}, 2, True, id="spec-change"),
    pytest.param(None, {"data": {"x": 1}}, 2, True, id="other-top-level-field"),
    pytest.param(None, {"metadata": {"labels": {"a": "b"}}}, 1, True, id="labels"),
    pytest.param(None, {"metadata": {"annotations": {"a": "b"}}}, 1, True, id="annotations"),
    pytest.param("status", {"status": {"phase": "Ready"}}, 1, True, id="status-subresource"),
    pytest.param(None, {"status": {"phase": "Ready"}}, 1, False, id="status-on-main-ignored"),
    pytest.param(None, {"spec": {"size": 1}}, 1, False, id="no-op-not-written"),
])
async def test_generation_counts_changes_outside_metadata_and_status(
        kube: KubeClient, subresource: str | None, patch: dict[str, Any], generation: int,
        written: bool,
) -> None:
    before = await kube.create(toy("t1", spec={"size": 1}))
    after = await kube.patch(*TOYS, "default", "t1", patch, subresource=subresource)

    assert after["metadata"]["generation"] == generation
    assert rv(after) == rv(before) + (1 if written else 0)


# -- status subresource ----------------------------------------------------------------------

@pytest.mark.parametrize("kind, subresource, expected", [
    pytest.param(TOYS, None, {"spec": {"size": 2}, "status": {"phase": "Old"}},
                 id="main-endpoint-ignores-status"),
    pytest.param(TOYS, "status", {"spec": {"size": 1}, "status": {"phase": "New"}},
                 id="status-endpoint-changes-only-status"),
    pytest.param(GADGETS, None, {"spec": {"size": 2}, "status": {"phase": "New"}},
                 id="no-subresource-main-endpoint-writes-both"),
])
async def test_status_subresource_isolation(
        kube: KubeClient, kind: tuple[str, str], subresource: str | None,
        expected: dict[str, Any],
) -> None:
    namespace = "default" if kind == TOYS else None
    obj = {"apiVersion": kind[0], "kind": kind[1],
           "metadata": {"name": "x", "namespace": namespace}, "spec": {"size": 1}}
    await kube.create(obj)
    if kind == TOYS:
        await kube.patch_status(*kind, namespace, "x", {"phase": "Old"})
    else:
        await kube.patch(*kind, namespace, "x", {"status": {"phase": "Old"}})

    patch = {"spec": {"size": 2}, "status": {"phase": "New"}}
    result = await kube.patch(*kind, namespace, "x", patch, subresource=subresource)

    assert {key: result[key] for key in ("spec", "status")} == expected


async def test_status_is_dropped_on_create_and_absent_subresource_is_404(kube: KubeClient) -> None:
    created = await kube.create(toy("t1", spec={"size": 1}, status={"phase": "Fake"}))
    await kube.create({"apiVersion": GADGETS[0], "kind": "Gadget", "metadata": {"name": "g"}})

    assert "status" not in created
    with pytest.raises(KubeApiError) as error:
        await kube.patch_status(*GADGETS, None, "g", {"phase": "New"})
    assert error.value.status == 404


async def test_generation_follows_status_for_kinds_without_status_subresource(
        kube: KubeClient,
) -> None:
    # As kube-apiserver's CRD strategy does: status is just content when it has no endpoint.
    await kube.create({"apiVersion": GADGETS[0], "kind": "Gadget", "metadata": {"name": "g"}})
    patched = await kube.patch(*GADGETS, None, "g", {"status": {"phase": "New"}})
    assert patched["metadata"]["generation"] == 2


# -- patches and optimistic concurrency ------------------------------------------------------

@pytest.mark.parametrize("write", ["merge-patch", "json-patch-replace", "put"])
@pytest.mark.parametrize("stale", [True, False], ids=["stale-version", "current-version"])
async def test_resource_version_in_a_write_is_a_precondition(
        kube: KubeClient, write: str, stale: bool,
) -> None:
    created = await kube.create(toy("t1", spec={"size": 1}))
    current = await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 2}})
    version = (created if stale else current)["metadata"]["resourceVersion"]

    async def send() -> dict[str, Any]:
        if write == "merge-patch":
            return await kube.patch(*TOYS, "default", "t1", {
                "metadata": {"resourceVersion": version}, "spec": {"size": 3}})
        if write == "json-patch-replace":
            return await kube.json_patch(*TOYS, "default", "t1", [
                {"op": "replace", "path": "/metadata/resourceVersion", "value": version},
                {"op": "replace", "path": "/spec/size", "value": 3}])
        body = copy.deepcopy(current)
        body["metadata"]["resourceVersion"] = version
        body["spec"]["size"] = 3
        return await kube.replace(body)

    if stale:
        with pytest.raises(KubeApiError) as error:
            await send()
        assert error.value.status == 409
        assert error.value.body["kind"] == "Status"
        assert error.value.body["reason"] == "Conflict"
        assert error.value.body["details"] == {"name": "t1", "group": GROUP, "kind": "toys"}
        assert (await kube.get(*TOYS, "default", "t1"))["spec"] == {"size": 2}
    else:
        assert (await send())["spec"] == {"size": 3}


async def test_json_patch_failing_test_op_is_422_and_changes_nothing(kube: KubeClient) -> None:
    # kopf prefixes its JSON patches with exactly this test, and catches exactly 422.
    created = await kube.create(toy("t1", spec={"size": 1}))
    await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 2}})

    for subresource in (None, "status"):
        with pytest.raises(KubeApiError) as error:
            await kube.json_patch(*TOYS, "default", "t1", [
                {"op": "test", "path": "/metadata/resourceVersion",
                 "value": created["metadata"]["resourceVersion"]},
                {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
            ], subresource=subresource)
        assert (error.value.status, error.value.reason) == (422, "Invalid")
    assert "finalizers" not in (await kube.get(*TOYS, "default", "t1"))["metadata"]


async def test_json_patch_passing_test_op_applies(kube: KubeClient) -> None:
    created = await kube.create(toy("t1", spec={"size": 1}))
    patched = await kube.json_patch(*TOYS, "default", "t1", [
        {"op": "test", "path": "/metadata/resourceVersion",
         "value": created["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ])
    assert patched["metadata"]["finalizers"] == ["x"]


@pytest.mark.parametrize("content_type", [
    "application/merge-patch+json", "application/strategic-merge-patch+json"])
async def test_merge_patch_null_deletes_and_dicts_merge(
        kube: KubeClient, content_type: str,
) -> None:
    await kube.create(toy("t1", spec={"size": 1, "color": "red", "parts": {"a": 1, "b": 2}}))
    path = await kube.path(*TOYS, "default", "t1")
    patched = await kube.request("PATCH", path, content_type=content_type, body={
        "spec": {"color": None, "parts": {"b": None, "c": 3}}})
    assert patched["spec"] == {"size": 1, "parts": {"a": 1, "c": 3}}


async def test_put_replaces_but_keeps_server_managed_metadata(kube: KubeClient) -> None:
    created = await kube.create(toy("t1", spec={"size": 1}, labels={"a": "b"}))
    body = {"apiVersion": TOYS[0], "kind": "Toy", "spec": {"size": 5},
            "metadata": {"name": "t1", "namespace": "default", "uid": "forged", "generation": 9}}
    replaced = await kube.replace(body)

    assert replaced["spec"] == {"size": 5}
    assert "labels" not in replaced["metadata"]
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert replaced["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert replaced["metadata"]["generation"] == 2


@pytest.mark.parametrize("action", ["get", "patch", "delete", "create-again"])
async def test_errors_are_kubernetes_status_bodies(kube: KubeClient, action: str) -> None:
    await kube.create(toy("exists"))
    with pytest.raises(KubeApiError) as error:
        if action == "get":
            await kube.get(*TOYS, "default", "missing")
        elif action == "patch":
            await kube.patch(*TOYS, "default", "missing", {"spec": {}})
        elif action == "delete":
            await kube.delete(*TOYS, "default", "missing")
        else:
            await kube.create(toy("exists"))

    body = error.value.body
    expected = (409, "AlreadyExists", "exists") if action == "create-again" else (
        404, "NotFound", "missing")
    assert (body["code"], body["reason"], body["details"]["name"]) == expected
    assert (body["apiVersion"], body["kind"], body["status"]) == ("v1", "Status", "Failure")
    assert error.value.status == expected[0]


async def test_objects_need_an_existing_namespace(kube: KubeClient) -> None:
    with pytest.raises(KubeApiError) as error:
        await kube.create({**toy("t1"), "metadata": {"name": "t1", "namespace": "nowhere"}})
    assert error.value.status == 404
    assert error.value.body["message"] == 'namespaces "nowhere" not found'

    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nowhere"}})
    await kube.create({**toy("t1"), "metadata": {"name": "t1", "namespace": "nowhere"}})
    assert [ns["metadata"]["name"] for ns in await kube.list("v1", "Namespace")] == [
        "default", "nowhere"]


async def test_kmock_reactions_can_fail_a_write_which_then_changes_nothing(
        cluster: EmulatedCluster,
) -> None:
    kube = cluster.client
    await kube.create(toy("t1", spec={"size": 1}))
    cluster.emulator["patch", kmock.resource(GROUP, "v1", "toys")][:1] << 503  # once

    with pytest.raises(KubeApiError) as error:
        await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 2}})
    assert error.value.status == 503
    assert (await kube.get(*TOYS, "default", "t1"))["spec"] == {"size": 1}
    assert (await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 3}}))["spec"] == {
        "size": 3}


# -- structural schemas -------------------------------------------------------------------------

async def test_crd_schema_prunes_unknown_fields_and_fills_defaults(kube: KubeClient) -> None:
    created = await kube.create({
        "apiVersion": WIDGETS[0], "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": {"parts": [{"name": "p", "bogus": 1}], "extra": {"kept": True}, "bogus": 1},
        "unknown": "top-level",
    })
    status = await kube.patch_status(*WIDGETS, "default", "w", {"phase": "Ready", "bogus": 1})
    bare = await kube.create({"apiVersion": WIDGETS[0], "kind": "Widget",
                              "metadata": {"name": "bare"}})

    assert created["spec"] == {"size": 1, "parts": [{"name": "p", "count": 1}],
                               "extra": {"kept": True}}
    assert "unknown" not in created
    assert created["metadata"]["labels"] == {"a": "b"}
    assert status["status"] == {"phase": "Ready"}
    assert bare["spec"] == {"size": 1}


# -- deletion ----------------------------------------------------------------------------------

async def test_deletion_waits_for_finalizers(kube: KubeClient) -> None:
    created = await kube.create({**toy("t1"), "metadata": {
        "name": "t1", "namespace": "default", "finalizers": ["example.com/hold"]}})

    marked = await kube.delete(*TOYS, "default", "t1")
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["generation"] == 2
    assert rv(marked) == rv(created) + 1
    assert await kube.find(*TOYS, "default", "t1") == marked

    released = await kube.patch(*TOYS, "default", "t1", {"metadata": {"finalizers": None}})
    assert "finalizers" not in released["metadata"]
    assert await kube.find(*TOYS, "default", "t1") is None
    events = kube.watch(*TOYS, resource_version=str(rv(created)))
    async with contextlib.aclosing(events):
        assert await take(events, 3) == [("MODIFIED", "t1"), ("MODIFIED", "t1"), ("DELETED", "t1")]


# -- selectors -----------------------------------------------------------------------------------

LABELLED = {"a": {"app": "web", "tier": "front"}, "b": {"app": "db"}, "c": {"tier": "back"}}


@pytest.mark.parametrize("selector, names", [
    pytest.param("app=web", ["a"], id="equals"),
    pytest.param("app==web", ["a"], id="double-equals"),
    pytest.param("app!=web", ["b", "c"], id="not-equals-includes-unlabelled"),
    pytest.param("app", ["a", "b"], id="exists"),
    pytest.param("!app", ["c"], id="not-exists"),
    pytest.param("app in (web,db)", ["a", "b"], id="in"),
    pytest.param("app notin (web)", ["b", "c"], id="notin-includes-unlabelled"),
    pytest.param("app in (web, db),tier", ["a"], id="in-and-exists"),
    pytest.param("app=web,tier=back", [], id="and"),
    pytest.param("", ["a", "b", "c"], id="empty"),
])
async def test_label_selectors_filter_lists(
        kube: KubeClient, selector: str, names: list[str],
) -> None:
    for name, labels in LABELLED.items():
        await kube.create(toy(name, labels=labels))
    listed = await kube.list(*TOYS, label_selector=selector or None)
    assert [obj["metadata"]["name"] for obj in listed] == names


async def test_malformed_label_selector_is_400(kube: KubeClient) -> None:
    with pytest.raises(KubeApiError) as error:
        await kube.list(*TOYS, label_selector="app in web")
    assert (error.value.status, error.value.reason) == (400, "BadRequest")


@pytest.mark.parametrize("namespace, selector, names", [
    pytest.param(None, "metadata.name=a", [("default", "a"), ("other", "a")], id="name"),
    pytest.param(None, "metadata.namespace=other", [("other", "a")], id="namespace"),
    pytest.param(None, "metadata.name!=a", [("default", "b")], id="not-name"),
    pytest.param("default", "metadata.name=a", [("default", "a")], id="name-in-namespace"),
    pytest.param(None, "spec.size=2,metadata.name=b", [("default", "b")], id="any-field"),
])
async def test_field_selectors_filter_lists(
        kube: KubeClient, namespace: str | None, selector: str, names: list[tuple[str, str]],
) -> None:
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    for ns, name, size in [("default", "a", 1), ("default", "b", 2), ("other", "a", 1)]:
        await kube.create({**toy(name, spec={"size": size}),
                           "metadata": {"name": name, "namespace": ns}})
    listed = await kube.list(*TOYS, namespace, field_selector=selector)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed] == names


# -- watching --------------------------------------------------------------------------------

async def test_watch_from_a_version_replays_only_later_changes_in_order(
        kube: KubeClient,
) -> None:
    await kube.create(toy("t1", spec={"size": 1}))
    await kube.create(toy("t2", spec={"size": 1}))
    listed = await kube.request("GET", await kube.path(*TOYS))
    await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 2}})
    await kube.create(toy("t3"))
    await kube.delete(*TOYS, "default", "t2")

    events = kube.watch(*TOYS, resource_version=listed["metadata"]["resourceVersion"])
    async with contextlib.aclosing(events):
        assert await take(events, 3) == [("MODIFIED", "t1"), ("ADDED", "t3"), ("DELETED", "t2")]
        await kube.create(toy("t4"))  # and live changes follow, with nothing in between
        assert await take(events, 1) == [("ADDED", "t4")]


async def test_watch_without_a_version_starts_with_the_current_state(kube: KubeClient) -> None:
    await kube.create(toy("t1"))
    await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 2}})
    path = await kube.path(*TOYS)
    params = {"watch": "true", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
              "timeoutSeconds": "5"}
    async with kube.session.get(kube.server + path, params=params) as response:
        first = await response.content.readline()
        second = await response.content.readline()

    assert b'"ADDED"' in first and b'"t1"' in first
    assert b'"BOOKMARK"' in second and b"k8s.io/initial-events-end" in second


async def test_watch_with_a_selector_sees_objects_enter_and_leave(kube: KubeClient) -> None:
    listed = await kube.request("GET", await kube.path(*TOYS))
    events = kube.watch(*TOYS, resource_version=listed["metadata"]["resourceVersion"],
                        label_selector="app=web")
    async with contextlib.aclosing(events):
        await kube.create(toy("t1", labels={"app": "db"}))
        await kube.patch(*TOYS, "default", "t1", {"metadata": {"labels": {"app": "web"}}})
        await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 2}})
        await kube.patch(*TOYS, "default", "t1", {"metadata": {"labels": {"app": "db"}}})
        assert await take(events, 3) == [("ADDED", "t1"), ("MODIFIED", "t1"), ("DELETED", "t1")]


async def test_watch_ends_at_timeout_seconds(kube: KubeClient) -> None:
    events = [event async for event in kube.watch(*TOYS, resource_version="1", timeout_seconds=0)]
    assert events == []


# -- discovery, CRDs, namespaces -------------------------------------------------------------

async def test_crds_are_stored_and_discoverable(kube: KubeClient) -> None:
    discovered = await kube.request("GET", f"/apis/{GROUP}/v1")
    by_name = {resource["name"]: resource for resource in discovered["resources"]}
    stored = await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                            f"toys.{GROUP}")

    assert set(by_name) == {"toys", "toys/status", "gadgets", "widgets", "widgets/status"}
    assert by_name["toys"]["kind"] == "Toy"
    assert by_name["toys"]["namespaced"] is True
    assert by_name["gadgets"]["namespaced"] is False
    assert by_name["toys"]["shortNames"] == ["to"]
    assert {"get", "list", "watch", "create", "patch", "update", "delete"} <= set(
        by_name["toys"]["verbs"])
    assert {c["type"] for c in stored["status"]["conditions"]} == {"Established", "NamesAccepted"}
    groups = await kube.request("GET", "/apis")
    assert GROUP in {group["name"] for group in groups["groups"]}


async def test_deleting_a_crd_removes_its_resource(kube: KubeClient) -> None:
    await kube.create({"apiVersion": GADGETS[0], "kind": "Gadget", "metadata": {"name": "g"}})
    await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                      f"gadgets.{GROUP}")

    discovered = await kube.request("GET", f"/apis/{GROUP}/v1")
    assert "gadgets" not in {resource["name"] for resource in discovered["resources"]}
    with pytest.raises(KubeApiError) as error:
        await kube.request("GET", f"/apis/{GROUP}/v1/gadgets/g")
    assert error.value.status == 404


# -- the kubeconfig and wait_for -------------------------------------------------------------

def test_kubeconfig_loads_in_the_official_client(cluster: EmulatedCluster) -> None:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(cluster.kubeconfig), client_configuration=config)
    assert config.host == cluster.url


@pytest.mark.parametrize("login", [kopf.login_with_kubeconfig, kopf.login_via_client],
                         ids=["login_with_kubeconfig", "login_via_client"])
def test_kubeconfig_works_for_kopf_logins(
        cluster: EmulatedCluster, monkeypatch: pytest.MonkeyPatch, login: Any,
) -> None:
    # login_via_client stores the kubeconfig as the official client's global default.
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", None)
    with kubeconfig_env(cluster.kubeconfig):
        info = login(settings=kopf.OperatorSettings(), logger=logging.getLogger(__name__))

    assert info is not None
    assert (info.server, info.token, info.username) == (cluster.url, None, None)


async def test_wait_for_fails_with_the_message_and_last_value() -> None:
    values = iter(range(100))
    with pytest.raises(AssertionError, match=r"never big \(after 0.05s; last value: \d+\)"):
        await wait_for(lambda: next(values), until=lambda v: v > 1000, timeout=0.05,
                       message="never big")


# -- the real kopf operator ------------------------------------------------------------------

def toy_registry() -> tuple[kopf.OperatorRegistry, collections.Counter[str]]:
    registry = kopf.OperatorRegistry()
    calls: collections.Counter[str] = collections.Counter()

    @kopf.on.create(GROUP, "v1", "toys", registry=registry)
    async def toy_created(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        calls["create"] += 1
        patch.status["phase"] = "Ready"
        kopf.info(body, reason="ToyReady", message="The toy is ready.")

    @kopf.on.update(GROUP, "v1", "toys", registry=registry)
    async def toy_updated(**_: Any) -> None:
        calls["update"] += 1

    return registry, calls


async def handled_size(kube: KubeClient, name: str) -> int | None:
    """The spec.size kopf has last handled, per its annotation: a barrier for its handling."""
    obj = await kube.get(*TOYS, "default", name)
    handled = obj["metadata"].get("annotations", {}).get(
        "kopf.zalando.org/last-handled-configuration")
    size = json.loads(handled).get("spec", {}).get("size") if handled else None
    return size if isinstance(size, int) else None


async def test_operator_creates_once_and_updates_once_per_spec_change_across_restarts(
        cluster: EmulatedCluster,
) -> None:
    kube = cluster.client
    registry, calls = toy_registry()

    async with running_operator(cluster.kubeconfig, registry=registry):
        await kube.create(toy("t1", spec={"size": 1}))
        obj = await wait_for(lambda: kube.get(*TOYS, "default", "t1"), timeout=10,
                             message="status.phase=Ready from the create handler",
                             until=lambda o: o.get("status", {}).get("phase") == "Ready")
        events = await wait_for(lambda: kube.events_for(obj), timeout=10,
                                message="the ToyReady event")
        assert [(e["reason"], e["type"], e["message"]) for e in events] == [
            ("ToyReady", "Normal", "The toy is ready.")]
        await wait_for(lambda: handled_size(kube, "t1"), until=lambda size: size == 1,
                       timeout=10, message="creation fully handled")

        await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 2}})
        await wait_for(lambda: handled_size(kube, "t1"), until=lambda size: size == 2,
                       timeout=10, message="the 1st update handled")
        await kube.patch_status(*TOYS, "default", "t1", {"note": "status-only"})
        await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 3}})
        await wait_for(lambda: handled_size(kube, "t1"), until=lambda size: size == 3,
                       timeout=10, message="the 2nd update handled")
        assert calls == {"create": 1, "update": 2}  # handled in order: the status did nothing

    # A new operator lists the handled object: no create again, updates continue.
    async with running_operator(cluster.kubeconfig, registry=registry):
        await kube.patch(*TOYS, "default", "t1", {"spec": {"size": 4}})
        await wait_for(lambda: handled_size(kube, "t1"), until=lambda size: size == 4,
                       timeout=10, message="the update after the restart handled")
        assert calls == {"create": 1, "update": 3}
        assert len(await kube.events_for(obj)) == 1


async def test_namespaced_operator_watches_only_its_namespace(cluster: EmulatedCluster) -> None:
    kube = cluster.client
    registry, calls = toy_registry()
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})

    async with running_operator(cluster.kubeconfig, registry=registry, namespace="default"):
        await kube.create({**toy("t1"), "metadata": {"name": "t1", "namespace": "other"}})
        await kube.create(toy("t1", spec={"size": 1}))
        await wait_for(lambda: handled_size(kube, "t1"), until=lambda size: size == 1,
                       timeout=10, message="the toy in the served namespace handled")

    kopf_paths = {request.url.path for request in cluster.emulator  # all requests served
                  if request.headers.get("User-Agent", "").startswith("kopf/")}
    assert f"/apis/{GROUP}/v1/namespaces/default/toys" in kopf_paths
    assert not any("/namespaces/other/" in path for path in kopf_paths)
    assert calls == {"create": 1}


# -- a long run -------------------------------------------------------------------------------

async def test_the_request_history_is_bounded_and_reactions_still_match(
    cluster: EmulatedCluster, kube: KubeClient
) -> None:
    """kmock matches each request by scanning its whole history: kept unbounded, a long
    run slows down request by request (emulator docstring, 14)."""
    from herald.local.kube.emulator import REQUESTS_KEPT

    await kube.create(toy("kept"))
    for _ in range(3 * REQUESTS_KEPT):
        assert (await kube.get(*TOYS, "default", "kept"))["metadata"]["name"] == "kept"
    assert len(list(cluster.emulator)) <= 2 * REQUESTS_KEPT + 1
    cluster.emulator["get", kmock.resource(GROUP, "v1", "toys")] << 418
    with pytest.raises(KubeApiError) as refused:  # the DSL's reactions still see requests
        await kube.get(*TOYS, "default", "kept")
    assert refused.value.status == 418
