"""
An in-memory Kubernetes API server that the real kopf operator can run against.

kmock.KubernetesEmulator stores objects and serves discovery, list, watch, get, create,
patch and delete, but treats objects as plain JSON. KubeApiEmulator subclasses it and
re-implements the reads and writes the way kube-apiserver does them, because kopf (or
Herald) depends on each of these behaviours:

1. Server-managed metadata. Create sets uid (uuid4), creationTimestamp (RFC 3339, Z),
   generation=1 and resourceVersion; ``generateName`` gets a random suffix. kopf posts
   every Event with ``generateName: kopf-event-`` and no name
   (kopf/_cogs/clients/events.py); Events name their object by involvedObject.uid.
2. One resourceVersion counter for the whole server, bumped by every write; a list
   carries the current one. kopf lists, then watches from the list's version
   (kopf/_cogs/clients/watching.py, continuous_watch); after each patch it waits until
   the watch brings the version the patch returned (kopf/_core/reactor/queueing.py,
   worker; settings.persistence.consistency_timeout); its JSON patches ``test`` the
   version (kopf/_cogs/clients/patching.py, patch_obj), which the stock emulator
   answers with 500.
3. metadata.generation +1 when anything outside metadata changes. As in the CRD
   strategy, status counts only for resources without a status subresource; /status
   writes never bump it. A no-op write is not written: no new version, no event.
4. Optimistic concurrency: a PUT or PATCH whose body carries a stale
   metadata.resourceVersion gets 409 Conflict. A JSON patch whose ``test`` op fails
   gets 422 Invalid, as from kube-apiserver (endpoints/handlers/patch.go); kopf catches
   exactly that (APIUnprocessableEntityError) and retries on its next cycle.
5. Patch types: merge patch (RFC 7386, null deletes), JSON patch (RFC 6902), and
   strategic merge patch taken as a merge patch; PUT replaces the object but keeps
   the server-managed metadata.
6. Status subresource: where there is one, the main endpoint ignores .status and
   /status changes only .status. kopf splits its patches by discovery
   (patching.patch_obj) and warns when a change does not stick.
7. labelSelector (=, ==, !=, exists, !exists, in, notin) and fieldSelector (any dotted
   path; =, ==, !=) on list and watch; a watch sees objects enter or leave its
   selection as ADDED or DELETED, as from kube-apiserver's watch cache.
8. A watch from a resourceVersion sends only the changes after it, in order. The stock
   emulator re-sends every object as ADDED at each watch start; kopf, having just
   listed the object, handles that stale copy too and runs create handlers twice.
   Without a version (or with sendInitialEvents=true) the current objects come first as
   ADDED, then a BOOKMARK if allowed; timeoutSeconds ends a stream, with a BOOKMARK.
9. Deletion with finalizers sets deletionTimestamp (and bumps generation); the write
   that removes the last finalizer deletes the object.
10. CRDs written through the API register or drop their resources in discovery (kopf
    rescans when its CRD watch fires). Their structural schema applies to writes:
    unknown fields and nulls are pruned and defaults filled in, so what Herald reads
    back is what a real cluster would store; then the schema and its CEL rules validate
    the result, and what a real cluster refuses is refused with its 422 Invalid, field
    by field, so that a manifest is not accepted here to fail later in a confusing way.
11. Errors are Kubernetes Status bodies: 404 NotFound, 409 AlreadyExists or Conflict,
    422 Invalid, 400 BadRequest, 415 UnsupportedMediaType. Namespaced objects need
    their namespace to exist.
12. /api/v1/namespaces[/name[/status]] reach the namespaces resource: kmock 0.8 reads
    them as "the namespace called X" and fails on the bare collection, which kopf lists
    when it serves chosen namespaces.
13. What kubectl needs beyond that: the core group-version named "v1" in discovery (kmock
    says "/v1") and subresources without their resource's short names; OpenAPI v3
    documents for `kubectl explain` and for apply's server-side field validation;
    `fieldValidation=Strict` refusing fields the schema does not declare; protobuf
    bodies of ConfigMaps and Secrets (`kubectl create configmap` sends no JSON); names
    checked as RFC 1123 subdomains; lists, objects and watch events as Tables with a
    CRD's printer columns when asked for them.
14. A bounded request history: kmock records every request for tests to assert on,
    and matches each new one to its reactions by scanning that record, so every
    request cost more than the one before; a campaign of millions through the local
    stack (bench/campaign.py) fell to a few hundred messages a second, the simulator
    sharing the event loop. The last REQUESTS_KEPT are kept: a reaction only needs
    the request it is matching to be in the record.

Writes happen in kmock's fallback reactions, so a test can still intercept a request
with kmock's DSL (``emulator['patch', kmock.resource(...)] << 500``); an intercepted
write changes nothing. Write through the API, not into ``emulator.objects``, when
watchers must see it. Every mutation is synchronous code in the server's event loop,
hence atomic without locks.

This module holds the server: routing, reads, watches, writes and their bookkeeping.
The pure parts live beside it:
- object_writes: server-managed metadata, merge patch, structural pruning and defaults,
  what generation tracks (1, 3, 5, 10);
- object_selectors: labelSelector and fieldSelector (7);
- watch_events: the change log's entries, the events a watch sees, bookmarks (2, 7, 8);
- crd_registration: a CRD's served resources and schemas, its status (10);
- schema_validation: what the schema and CEL rules refuse, in the API server's words (10);
- api_errors: Status bodies for failures (11);
- openapi_documents, protobuf_bodies, tables: what kubectl reads and sends (13).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
from kmock import Response  # type: ignore[attr-defined]  # exported, but not in its __all__

from herald.local.kube.api_errors import (
    conflict,
    invalid,
    not_found,
    object_failure,
    status_response,
)
from herald.local.kube.crd_registration import CRDS, crd_status, served_versions
from herald.local.kube.object_selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from herald.local.kube.object_writes import (
    SERVER_MANAGED,
    Body,
    conform,
    generated_name,
    generation_content,
    merge_patch,
    now_rfc3339,
    omit_empty,
)
from herald.local.kube.openapi_documents import (
    group_version_document,
    group_version_path,
    index_document,
    unknown_fields,
)
from herald.local.kube.protobuf_bodies import CONTENT_TYPE as PROTOBUF
from herald.local.kube.protobuf_bodies import UnsupportedBody, decode
from herald.local.kube.schema_validation import name_errors, validate_custom_resource
from herald.local.kube.tables import table, wants_table
from herald.local.kube.watch_events import Change, bookmark, seen_as

Key = tuple[Any, ...]  # (kmock.resource, namespace or None, name), as in emulator.objects

NAMESPACES = kmock.resource("", "v1", "namespaces")
_SUBDOMAIN_NAMED = {"ConfigMap", "Secret", "Job", "Deployment"}

# kmock cannot parse the namespaces' own URLs. We rewrite them to put this marker where
# its parser expects a namespace (no namespace can be called "-"), and read it as None.
_NO_NAMESPACE = "-"
REQUESTS_KEPT = 20
"""Requests the emulator's kmock history keeps (14 of the module docstring)."""
_NAMESPACE_URL = re.compile(r"/api/v1/namespaces(?:/(?P<name>[^/]+)(?P<sub>/status|/finalize)?)?/?")


class _Unsupported(Exception):
    """A request body in an encoding this server does not read."""


@attrs.define(kw_only=True)
class KubeApiEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with kube-apiserver's semantics; see the module's docstring."""

    _revision: int = attrs.field(default=0, init=False)
    _changes: list[Change] = attrs.field(factory=list, init=False)  # _changes[n-1] is rev. n
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)  # new per write
    _schemas: dict[kmock.resource, Body] = attrs.field(factory=dict, init=False)
    _columns: dict[kmock.resource, list[Body]] = attrs.field(factory=dict, init=False)
    _stopping: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()  # routes list/watch/get/create/patch/delete to _serve_*
        self.fallback[kmock.method.PUT] << self._serve_replace  # kmock has no action for PUT

    @property
    def resource_version(self) -> int:
        """The version of the latest write."""
        return self._revision

    def stop_watches(self) -> None:
        """End every watch stream, so that the HTTP server can shut down at once."""
        self._stopping = True
        self._changed.set()

    def register_crd(self, crd: Mapping[str, Any]) -> list[kmock.resource]:
        """Serve a CRD's served versions, as kube-apiserver does once it is created."""
        registered = []
        for resource, info, schema, columns in served_versions(crd):
            self.resources[resource] = info
            if schema:
                self._schemas[resource] = schema
            self._columns[resource] = columns
            registered.append(resource)
        return registered

    # -- routing --------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if len(self._requests) > 2 * REQUESTS_KEPT:  # 14: the history bounded
            del self._requests[:-REQUESTS_KEPT]
        if raw_request.path.startswith("/openapi/v3"):
            return self._serve_openapi(raw_request.path.removeprefix("/openapi/v3").strip("/"))
        match = _NAMESPACE_URL.fullmatch(raw_request.path)
        if match:
            path = f"/api/v1/namespaces/{_NO_NAMESPACE}/namespaces"
            path += f"/{match['name']}{match['sub'] or ''}" if match["name"] else ""
            url = raw_request.rel_url.with_path(path).with_query(raw_request.rel_url.query)
            raw_request = raw_request.clone(rel_url=url)
        return await super().__call__(raw_request)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # Skip KubernetesEmulator._handle: it writes objects before the reactions run, and
        # without versions. Our writes happen in the _serve_* fallbacks below instead.
        return await super(kmock.KubernetesEmulator, self)._handle(request)

    async def _serve_version(self, request: kmock.Request) -> Any:
        # kmock calls the core group-version "/v1"; kubectl's RESTMapper then finds no
        # kind of it ("no matches for kind Secret in version v1").
        # Subresources have no names or categories of their own: kmock gives them
        # their resource's, and `kubectl get all` then asks for pods/proxy.
        document = await super()._serve_version(request)
        if isinstance(document, dict) and document.get("groupVersion", "").startswith("/"):
            document["groupVersion"] = document["groupVersion"][1:]
        for entry in document.get("resources", []) if isinstance(document, dict) else []:
            if "/" in entry.get("name", ""):
                entry.update(shortNames=[], categories=[], singularName="")
        return document

    def _get_resources(self) -> list[kmock.resource]:
        # Discovery serves the registered resources only; kmock adds those of any stored
        # object, even of a deleted CRD.
        return kmock.KubernetesScaffold._get_resources(self)

    def _serve_openapi(self, path: str) -> aiohttp.web.StreamResponse:
        """/openapi/v3 and its group-version documents, for kubectl explain and apply."""
        by_group_version: dict[str, list[kmock.resource]] = {}
        for resource in self._get_resources():
            if isinstance(resource.group, str) and isinstance(resource.version, str):
                key = group_version_path(resource.group, resource.version)
                by_group_version.setdefault(key, []).append(resource)
        if not path:
            return aiohttp.web.json_response(index_document(
                (str(r[0].group), str(r[0].version)) for r in by_group_version.values()))
        if path not in by_group_version:
            return aiohttp.web.json_response(status=404, data={
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                "reason": "NotFound", "message": f"the server could not find {path}"})
        kinds = []
        for resource in by_group_version[path]:
            info = self.resources[resource]
            if info.kind and "/" not in str(resource.plural):
                kinds.append((info.kind, str(resource.plural), bool(info.namespaced),
                              self._schemas.get(resource)))
        first = by_group_version[path][0]
        return aiohttp.web.json_response(group_version_document(
            str(first.group), str(first.version), kinds))

    # NB: every _serve_* returns a Response with an explicit status: kmock copies a
    # returned Response's status into the reaction's shared Response, so an implicit 200
    # after an earlier 404 would go out as 404.

    def _info(self, request: kmock.Request) -> kmock.ResourceInfo | None:
        # NB: self.resources[...] would auto-create an entry for an unknown resource.
        resource = request.resource
        if resource is None or resource not in self.resources:
            return None
        return self.resources[resource]

    @staticmethod
    def _namespace(request: kmock.Request) -> str | None:
        """The namespace in the URL, if any (read this, never request.namespace)."""
        return None if request.namespace == _NO_NAMESPACE else request.namespace

    def _namespaced(self, request: kmock.Request, info: kmock.ResourceInfo) -> bool:
        if info.namespaced is None:  # registered without saying: as the URL says
            return self._namespace(request) is not None
        return bool(info.namespaced)

    def _key(self, request: kmock.Request, info: kmock.ResourceInfo) -> Key:
        namespace = self._namespace(request) if self._namespaced(request, info) else None
        return (request.resource, namespace, request.name)

    def _stored(self, key: Key) -> Body | None:
        """A private copy of the object's current state, if it exists."""
        if key in self.objects and not self.objects[key].deleted:
            return copy.deepcopy(self.objects[key].raw)
        return None

    # -- reads ----------------------------------------------------------------------------

    def _selection(self, request: kmock.Request) -> Callable[[Body], bool]:
        """What a list or watch request asks for: namespace, name, selectors."""
        labels = parse_label_selector(request.params.get("labelSelector", ""))
        fields = parse_field_selector(request.params.get("fieldSelector", ""))
        namespace = self._namespace(request)

        def selected(obj: Body) -> bool:
            meta = obj.get("metadata", {})
            return ((namespace is None or meta.get("namespace") == namespace)
                    and (request.name is None or meta.get("name") == request.name)
                    and labels(meta.get("labels") or {}) and fields(obj))
        return selected

    def _current(self, request: kmock.Request, selected: Callable[[Body], bool]) -> list[Body]:
        objs = [obj.raw for (resource, _, _), obj in self.objects.items()
                if resource == request.resource and not obj.deleted]
        # In etcd's key order: by namespace, then name.
        return sorted((obj for obj in objs if selected(obj)),
                      key=lambda obj: (obj["metadata"].get("namespace") or "",
                                       obj["metadata"].get("name") or ""))

    def _type_meta(self, request: kmock.Request, info: kmock.ResourceInfo) -> Body:
        assert request.resource is not None  # for type checkers: a Kubernetes URL here
        group, version = request.resource.group, request.resource.version
        kind = info.kind or str(request.resource.plural).capitalize()
        return {"apiVersion": f"{group}/{version}" if group else version, "kind": kind}

    def _table_columns(self, request: kmock.Request) -> list[Body] | None:
        """A CRD's printer columns when the client asks for a Table (kubectl get)."""
        accept = {k.lower(): v for k, v in request.headers.items()}.get("accept", "")
        if request.resource in self._columns and wants_table(accept):
            return self._columns[request.resource]
        return None

    async def _serve_fetch(self, request: kmock.Request) -> Response:
        info = self._info(request)
        obj = self._stored(self._key(request, info)) if info else None
        if obj is None:
            return not_found(request)
        if (columns := self._table_columns(request)) is not None:
            return Response(status=200, payload=table(columns, [obj], str(self._revision)))
        return Response(status=200, payload=obj)

    async def _serve_list(self, request: kmock.Request) -> Response:
        info = self._info(request)
        if info is None:
            return not_found(request)
        try:
            selected = self._selection(request)
        except SelectorError as e:
            return status_response(400, "BadRequest", str(e))
        if (columns := self._table_columns(request)) is not None:
            return Response(status=200, payload=table(
                columns, self._current(request, selected), str(self._revision)))
        type_meta = self._type_meta(request, info)
        return Response(status=200, payload={
            "apiVersion": type_meta["apiVersion"], "kind": f"{type_meta['kind']}List",
            "metadata": {"resourceVersion": str(self._revision)},
            "items": self._current(request, selected),
        })

    async def _serve_watch(self, request: kmock.Request) -> Response:  # type: ignore[override]
        info = self._info(request)
        if info is None:
            return not_found(request)
        params = request.params
        try:
            selected = self._selection(request)
            since = int(params.get("resourceVersion") or "0")
            timeout = float(params["timeoutSeconds"]) if "timeoutSeconds" in params else None
        except (SelectorError, ValueError) as e:
            return status_response(400, "BadRequest", str(e))
        stream = self._watch(request, info, selected, since, timeout)
        if (columns := self._table_columns(request)) is not None:
            stream = self._as_tables(stream, columns)
        # As kube-apiserver: kubectl reads no stream of application/octet-stream.
        return Response(status=200, payload=stream, headers={"Content-Type": "application/json"})

    async def _as_tables(self, events: AsyncIterator[Any], columns: list[Body],
                         ) -> AsyncIterator[Any]:
        """A watch's events with each object a one-row Table (kubectl get -w)."""
        async for event in events:
            if isinstance(event, dict) and event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                version = event["object"]["metadata"].get("resourceVersion", "")
                event = {**event, "object": table(columns, [event["object"]], version)}
            yield event

    async def _watch(
            self, request: kmock.Request, info: kmock.ResourceInfo,
            selected: Callable[[Body], bool], since: int, timeout: float | None,
    ) -> AsyncIterator[Any]:
        yield b""  # send the headers now: clients wait for them before reading events
        bookmarks = request.params.get("allowWatchBookmarks") == "true"
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        cursor = min(since, self._revision)

        # Version 0 (or none) asks for the current state first, as does sendInitialEvents.
        initial_events = request.params.get("sendInitialEvents") == "true"
        if since == 0 or initial_events:
            cursor = self._revision
            for obj in self._current(request, selected):
                yield {"type": "ADDED", "object": obj}
            if bookmarks and initial_events:
                yield bookmark(self._type_meta(request, info), cursor, initial_events_end=True)

        while not self._stopping:
            changed = self._changed  # taken before reading: a write while we yield sets it
            changes = [c for c in self._changes[cursor:] if c.resource == request.resource]
            cursor = len(self._changes)
            for change in changes:
                event = seen_as(change, selected)
                if event is not None:
                    yield event
            if not changes:
                now = asyncio.get_running_loop().time()
                remaining = None if deadline is None else deadline - now
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    if bookmarks:
                        yield bookmark(self._type_meta(request, info), cursor)
                    return

    # -- writes ---------------------------------------------------------------------------

    def _commit(self, key: Key, event_type: str, obj: Body, old: Body | None) -> Body:
        """Store one write under the next resourceVersion and wake up the watches."""
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        if event_type == "DELETED":
            self.objects[key].delete()  # kmock keeps the history, for assertions
        elif key in self.objects:
            self.objects[key].history.append(obj)
        else:
            self.objects[key] = obj
        self._changes.append(Change(self._revision, key[0], event_type, obj, old))
        self._changed.set()
        self._changed = asyncio.Event()
        if key[0] == CRDS:
            self._sync_crd(event_type, obj)
        return obj

    def _sync_crd(self, event_type: str, crd: Body) -> None:
        # Register on every write; on deletion, the resources and their objects go too.
        for resource in self.register_crd(crd):
            if event_type == "DELETED":
                for key, obj in list(self.objects.items()):
                    if key[0] == resource and not obj.deleted:
                        self._commit(key, "DELETED", copy.deepcopy(obj.raw), obj.raw)
                del self.resources[resource]
                self._schemas.pop(resource, None)
                self._columns.pop(resource, None)

    def _conform(self, request: kmock.Request, obj: Body) -> Body:
        if obj.get("kind") == "Secret" and isinstance(obj.get("stringData"), dict):
            # As the API server does: stringData is write-only, merged into data (base64).
            encoded = {k: base64.b64encode(str(v).encode()).decode()
                       for k, v in obj.pop("stringData").items()}
            obj["data"] = {**(obj.get("data") or {}), **encoded}
        schema = self._schemas.get(request.resource)  # type: ignore[arg-type]
        return conform(schema, obj, root=True) if schema else obj

    def _undeclared(self, request: kmock.Request, info: kmock.ResourceInfo, obj: Any,
                    ) -> Response | None:
        """400 BadRequest for fields the schema does not declare, when the client asks for
        fieldValidation=Strict (as kubectl apply and create do by default)."""
        schema = self._schemas.get(request.resource)  # type: ignore[arg-type]
        if not schema or request.params.get("fieldValidation") != "Strict":
            return None
        unknown = unknown_fields(schema, obj)
        if not unknown:
            return None
        assert request.resource is not None  # for type checkers: it has a schema
        kind, version = info.kind or "", request.resource.version
        fields = ", ".join(f'unknown field "{field}"' for field in sorted(unknown))
        return status_response(400, "BadRequest", f'{kind} in version "{version}" cannot be '
                               f"handled as a {kind}: strict decoding error: {fields}")

    def _bad_name(self, request: kmock.Request, info: kmock.ResourceInfo, name: str,
                  ) -> Response | None:
        """422 for a name kube-apiserver refuses: custom resources, ConfigMaps, Secrets and
        Jobs take RFC 1123 subdomains, namespaces labels (other kinds are not checked)."""
        assert request.resource is not None  # for type checkers: a Kubernetes URL here
        checked = request.resource in self._schemas or info.kind in _SUBDOMAIN_NAMED
        errors = name_errors(name, label=request.resource == NAMESPACES) if (
            checked or request.resource == NAMESPACES) else []
        if not errors:
            return None
        return invalid(info.kind or "", str(request.resource.group), name, errors)

    def _refused(self, request: kmock.Request, info: kmock.ResourceInfo, obj: Body,
                 old: Body | None = None) -> Response | None:
        """422 Invalid when the CRD's schema or CEL rules refuse the write, else None."""
        schema = self._schemas.get(request.resource)  # type: ignore[arg-type]
        errors = validate_custom_resource(schema, obj, old) if schema else []
        if not errors:
            return None
        assert request.resource is not None  # for type checkers: it has a schema
        return invalid(info.kind or "", str(request.resource.group), obj["metadata"]["name"],
                       errors)

    @staticmethod
    def _payload(request: kmock.Request) -> Any:
        """The request's object: JSON, or what kubectl's typed commands send as protobuf."""
        content_type = {k.lower(): v for k, v in request.headers.items()}.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != PROTOBUF:
            return request.data
        try:
            return decode(request.body)
        except UnsupportedBody as e:
            raise _Unsupported(str(e)) from None

    async def _serve_create(self, request: kmock.Request) -> Response:
        info = self._info(request)
        if info is None:
            return not_found(request)
        try:
            data = self._payload(request)
        except _Unsupported as e:
            return status_response(415, "UnsupportedMediaType", f"{e}: send application/json")
        if not isinstance(data, dict) or not isinstance(data.get("metadata", {}), dict):
            return status_response(400, "BadRequest", "the object must be a JSON object")
        if (undeclared := self._undeclared(request, info, data)) is not None:
            return undeclared
        body = self._conform(request, copy.deepcopy(data))
        meta = body.setdefault("metadata", {})

        namespaced = self._namespaced(request, info)
        namespace = (self._namespace(request) or meta.get("namespace")) if namespaced else None
        if namespaced and not namespace:
            return status_response(422, "Invalid", "metadata.namespace: Required value")
        if namespace and meta.get("namespace", namespace) != namespace:
            return status_response(400, "BadRequest", "the namespace of the provided object "
                                   "does not match the namespace sent on the request")
        if namespace and self._stored((NAMESPACES, None, namespace)) is None:
            return object_failure(404, "NotFound", NAMESPACES, namespace, "{what} not found")
        name = meta.get("name") or self._generate_name(request, namespace, meta.get("generateName"))
        if not name:
            return status_response(422, "Invalid", "metadata.name: Required value: "
                                   "name or generateName is required")
        if (bad_name := self._bad_name(request, info, name)) is not None:
            return bad_name
        key = (request.resource, namespace, name)
        if self._stored(key) is not None:
            return object_failure(409, "AlreadyExists", request.resource, name,
                                  "{what} already exists")

        for field in SERVER_MANAGED:
            meta.pop(field, None)
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(),
                    generation=1, **({"namespace": namespace} if namespace else {}))
        omit_empty(meta)
        body = {**self._type_meta(request, info), **body}  # apiVersion & kind, if absent
        if "status" in info.subresources:
            body.pop("status", None)  # status is written only through /status
        if request.resource == CRDS:
            body["status"] = crd_status(body)
        if (refused := self._refused(request, info, body)) is not None:
            return refused
        return Response(status=201, payload=self._commit(key, "ADDED", body, None))

    def _generate_name(self, request: kmock.Request, namespace: str | None, prefix: Any,
                       ) -> str | None:
        while prefix:
            name = generated_name(prefix)
            if self._stored((request.resource, namespace, name)) is None:
                return name
        return None

    async def _serve_update(self, request: kmock.Request) -> Response:  # PATCH
        headers = {key.lower(): value for key, value in request.headers.items()}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in ("application/merge-patch+json",
                            "application/strategic-merge-patch+json"):
            return self._update(request, lambda stored: merge_patch(stored, request.data))
        if content_type == "application/json-patch+json" and isinstance(request.data, list):
            return self._update(request, lambda stored: jsonpatch.apply_patch(stored, request.data))
        if content_type == "application/json-patch+json":
            return status_response(400, "BadRequest", "a JSON patch must be a list of operations")
        return status_response(415, "UnsupportedMediaType", f"unsupported patch: {content_type!r}")

    async def _serve_replace(self, request: kmock.Request) -> Response:  # PUT
        if request.resource is None or request.name is None:
            return status_response(405, "MethodNotAllowed", "PUT needs an object URL")
        try:
            data = self._payload(request)
        except _Unsupported as e:
            return status_response(415, "UnsupportedMediaType", f"{e}: send application/json")
        return self._update(request, lambda stored: copy.deepcopy(data))

    def _update(self, request: kmock.Request, write: Callable[[Body], Any]) -> Response:
        info = self._info(request)
        if info is None or request.subresource not in (None, "status") or (
                request.subresource == "status" and "status" not in info.subresources):
            return not_found(request)
        key = self._key(request, info)
        old = self._stored(key)
        if old is None:
            return not_found(request)
        try:
            intended = write(copy.deepcopy(old))
        except jsonpatch.InvalidJsonPatch as e:
            return status_response(400, "BadRequest", str(e))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            return status_response(422, "Invalid", str(e))  # incl. a failed "test" op
        if not isinstance(intended, dict) or not isinstance(intended.get("metadata", {}), dict):
            return status_response(400, "BadRequest", "the object must be a JSON object")
        if (undeclared := self._undeclared(request, info, intended)) is not None:
            return undeclared

        # A resourceVersion in what the client wrote is a precondition, as in kube-apiserver.
        sent = intended.get("metadata", {}).get("resourceVersion")
        if sent is not None and sent != old["metadata"]["resourceVersion"]:
            return conflict(request, "the object has been modified; please apply your "
                                     "changes to the latest version and try again")

        # Keep what this endpoint may change: the status only, or all but the status.
        if request.subresource == "status":
            new = {**copy.deepcopy(old), "status": intended.get("status")}
        else:
            new = {**intended, "status": old.get("status")} if "status" in info.subresources \
                else intended
        if new.get("status") is None:
            new.pop("status", None)
        new = self._conform(request, new)
        new.update({field: old[field] for field in ("apiVersion", "kind") if field in old})
        meta = new.setdefault("metadata", {})
        for field in SERVER_MANAGED:
            meta.pop(field, None)
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
        omit_empty(meta)
        if (refused := self._refused(request, info, new, old)) is not None:
            return refused

        if new == old:  # a no-op is not written: no new version, no event
            return Response(status=200, payload=old)
        if request.subresource is None and generation_content(new) != generation_content(old):
            meta["generation"] = meta.get("generation", 0) + 1
        self._commit(key, "MODIFIED", new, old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._commit(key, "DELETED", copy.deepcopy(new), new)  # its last finalizer is gone
        return Response(status=200, payload=new)

    async def _serve_delete(self, request: kmock.Request) -> Response:
        info = self._info(request)
        if info is None or request.subresource is not None:
            return not_found(request)
        key = self._key(request, info)
        old = self._stored(key)
        if old is None:
            return not_found(request)
        meta = old["metadata"]
        options = request.data if isinstance(request.data, dict) else {}
        for field, expected in (options.get("preconditions") or {}).items():
            if expected is not None and expected != meta.get(field):
                return conflict(request, f"Precondition failed: {field} mismatch")
        if meta.get("deletionTimestamp"):  # already terminating, waiting for its finalizers
            return Response(status=200, payload=old)
        if meta.get("finalizers"):
            new = copy.deepcopy(old)
            new["metadata"].update(deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0,
                                   generation=meta.get("generation", 0) + 1)
            return Response(status=200, payload=self._commit(key, "MODIFIED", new, old))
        gone = self._commit(key, "DELETED", copy.deepcopy(old), old)
        return Response(status=200, payload=gone)
