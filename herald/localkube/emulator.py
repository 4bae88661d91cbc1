"""
An in-memory Kubernetes API server that the real kopf operator can run against.

kmock.KubernetesEmulator stores objects and serves discovery, list, watch, get, create,
patch and delete, but treats objects as plain JSON. HeraldEmulator subclasses it and
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
    unknown fields are pruned and defaults filled in, so what Herald reads back is
    what a real cluster would store.
11. Errors are Kubernetes Status bodies: 404 NotFound, 409 AlreadyExists or Conflict,
    422 Invalid, 400 BadRequest, 415 UnsupportedMediaType. Namespaced objects need
    their namespace to exist.
12. /api/v1/namespaces[/name[/status]] reach the namespaces resource: kmock 0.8 reads
    them as "the namespace called X" and fails on the bare collection, which kopf lists
    when it serves chosen namespaces.

Writes happen in kmock's fallback reactions, so a test can still intercept a request
with kmock's DSL (``emulator['patch', kmock.resource(...)] << 500``); an intercepted
write changes nothing. Write through the API, not into ``emulator.objects``, when
watchers must see it. Every mutation is synchronous code in the server's event loop,
hence atomic without locks.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import random
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

Body = dict[str, Any]
Key = tuple[Any, ...]  # (kmock.resource, namespace or None, name), as in emulator.objects

NAMESPACES = kmock.resource('', 'v1', 'namespaces')
CRDS = kmock.resource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')
CRD_VERBS = {'create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'}

# kmock cannot parse the namespaces' own URLs. We rewrite them to put this marker where
# its parser expects a namespace (no namespace can be called "-"), and read it as None.
_NO_NAMESPACE = '-'
_NAMESPACE_URL = re.compile(r'/api/v1/namespaces(?:/(?P<name>[^/]+)(?P<sub>/status|/finalize)?)?/?')

# Only the server writes these; what a client sends for them is ignored.
_SERVER_MANAGED = ('name', 'namespace', 'uid', 'creationTimestamp', 'generation',
                   'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds')

# Go's omitempty: the API server never stores an empty list or map in these fields.
_OMIT_EMPTY = ('labels', 'annotations', 'finalizers', 'ownerReferences')

# The alphabet kube-apiserver uses for generateName suffixes (no vowels, no look-alikes).
_SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'


@dataclasses.dataclass(frozen=True)
class Change:
    """One committed write, kept so that a watch can start from any version."""
    revision: int
    resource: kmock.resource
    type: str  # ADDED, MODIFIED, DELETED
    obj: Body  # the new state; for DELETED, the last state under the deletion's version
    old: Body | None  # the state before; None for ADDED


class SelectorError(ValueError):
    pass


def status_response(code: int, reason: str, message: str, **details: Any) -> Response:
    """A failure as kube-apiserver reports it: a v1 Status body with the same code."""
    return Response(status=code, payload={
        'apiVersion': 'v1', 'kind': 'Status', 'metadata': {}, 'status': 'Failure',
        'code': code, 'reason': reason, 'message': message, 'details': details,
    })


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def conform(schema: Mapping[str, Any], value: Any, *, root: bool = False) -> Any:
    """A structural schema's effect on a write: prune unknown fields, fill in defaults."""
    if isinstance(value, list) and isinstance(schema.get('items'), dict):
        return [conform(schema['items'], item) for item in value]
    if not isinstance(value, dict):
        return value
    properties: Mapping[str, Any] = schema.get('properties') or {}
    additional = schema.get('additionalProperties')
    preserved = schema.get('x-kubernetes-preserve-unknown-fields') or additional is True
    result = {}
    for key, item in value.items():
        if root and key in ('apiVersion', 'kind', 'metadata'):  # the server's, not the schema's
            result[key] = item
        elif key in properties:
            result[key] = conform(properties[key], item)
        elif isinstance(additional, dict):
            result[key] = conform(additional, item)
        elif preserved:
            result[key] = item
    for key, subschema in properties.items():
        if key not in result and 'default' in subschema:
            result[key] = conform(subschema, copy.deepcopy(subschema['default']))
    return result


# Label keys may carry a DNS prefix ("sms.herald.dev/channel"); values may be empty.
_KEY = r'(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?'
_VALUE = r'(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?'
_LABEL_REQUIREMENT = re.compile(rf"""\s*(?:
    (?P<absent>!)\s*(?P<absent_key>{_KEY})
  | (?P<key>{_KEY})\s*(?:
        (?P<op>==|=|!=)\s*(?P<value>{_VALUE})
      | \s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\)
    )?
)\s*""", re.VERBOSE)
_FIELD_REQUIREMENT = re.compile(r'\s*(?P<path>[\w.-]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*')

# A requirement on labels: (key, operator, values), with "=" and "==" read as "in",
# "!=" as "notin" (true also without the label), plus "exists" and "!exists".
LabelRequirement = tuple[str, str, frozenset[str]]


def parse_label_selector(selector: str) -> Callable[[Mapping[str, str]], bool]:
    """Compile a labelSelector into a predicate on an object's labels."""
    requirements: list[LabelRequirement] = []
    for text in re.split(r',(?![^(]*\))', selector) if selector.strip() else []:
        match = _LABEL_REQUIREMENT.fullmatch(text)
        if match is None:
            raise SelectorError(f'unable to parse requirement: {text!r}')
        if match['absent']:
            requirements.append((match['absent_key'], '!exists', frozenset()))
        elif match['op']:
            op = 'notin' if match['op'] == '!=' else 'in'
            requirements.append((match['key'], op, frozenset([match['value']])))
        elif match['setop']:
            values = frozenset(value.strip() for value in match['values'].split(','))
            requirements.append((match['key'], match['setop'], values))
        else:
            requirements.append((match['key'], 'exists', frozenset()))
    return lambda labels: all(_satisfies(labels, r) for r in requirements)


def _satisfies(labels: Mapping[str, str], requirement: LabelRequirement) -> bool:
    key, op, values = requirement
    return {'exists': key in labels, '!exists': key not in labels,
            'in': labels.get(key) in values, 'notin': labels.get(key) not in values}[op]


def parse_field_selector(selector: str) -> Callable[[Body], bool]:
    """Compile a fieldSelector into a predicate on the whole object."""
    requirements: list[tuple[list[str], bool, str]] = []  # (path, equal?, value)
    for text in selector.split(',') if selector.strip() else []:
        match = _FIELD_REQUIREMENT.fullmatch(text)
        if match is None:
            raise SelectorError(f'invalid field selector: {text!r}')
        requirements.append((match['path'].split('.'), match['op'] != '!=', match['value']))
    return lambda obj: all((_field(obj, path) == value) == equal
                           for path, equal, value in requirements)


def _field(obj: Any, path: list[str]) -> str:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return '' if obj is None else str(obj).lower() if isinstance(obj, bool) else str(obj)


@attrs.define(kw_only=True)
class HeraldEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with kube-apiserver's semantics; see the module's docstring."""

    _revision: int = attrs.field(default=0, init=False)
    _changes: list[Change] = attrs.field(factory=list, init=False)  # _changes[n-1] is rev. n
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)  # new per write
    _schemas: dict[kmock.resource, Body] = attrs.field(factory=dict, init=False)
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
        spec, names = crd['spec'], crd['spec']['names']
        registered = []
        for version in spec.get('versions', []):
            if not version.get('served', True):
                continue
            resource = kmock.resource(spec['group'], version['name'], names['plural'])
            subresources = version.get('subresources') or spec.get('subresources') or {}
            self.resources[resource] = kmock.ResourceInfo(
                kind=names['kind'], singular=names.get('singular') or names['kind'].lower(),
                namespaced=spec.get('scope', 'Namespaced') == 'Namespaced',
                shortnames=names.get('shortNames', []), categories=names.get('categories', []),
                verbs=CRD_VERBS, subresources=set(subresources))
            schema = (version.get('schema') or spec.get('validation') or {}).get('openAPIV3Schema')
            if schema:
                self._schemas[resource] = schema
            registered.append(resource)
        return registered

    # -- routing --------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        match = _NAMESPACE_URL.fullmatch(raw_request.path)
        if match:
            path = f"/api/v1/namespaces/{_NO_NAMESPACE}/namespaces"
            path += f"/{match['name']}{match['sub'] or ''}" if match['name'] else ''
            url = raw_request.rel_url.with_path(path).with_query(raw_request.rel_url.query)
            raw_request = raw_request.clone(rel_url=url)
        return await super().__call__(raw_request)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # Skip KubernetesEmulator._handle: it writes objects before the reactions run, and
        # without versions. Our writes happen in the _serve_* fallbacks below instead.
        return await super(kmock.KubernetesEmulator, self)._handle(request)

    def _get_resources(self) -> list[kmock.resource]:
        # Discovery serves the registered resources only; kmock adds those of any stored
        # object, even of a deleted CRD.
        return kmock.KubernetesScaffold._get_resources(self)

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

    @staticmethod
    def _failure(code: int, reason: str, resource: kmock.resource | None, name: str | None,
                 message: str) -> Response:
        """A failure about one object, worded as kube-apiserver words it."""
        group, plural = (resource.group, resource.plural) if resource else ('', 'resource')
        what = f'{plural}.{group} "{name}"' if group else f'{plural} "{name}"'
        return status_response(code, reason, message.format(what=what),
                               name=name, group=group, kind=plural)

    def _not_found(self, request: kmock.Request) -> Response:
        return self._failure(404, 'NotFound', request.resource, request.name, '{what} not found')

    def _conflict(self, request: kmock.Request, why: str) -> Response:
        return self._failure(409, 'Conflict', request.resource, request.name,
                             'Operation cannot be fulfilled on {what}: ' + why)

    # -- reads ----------------------------------------------------------------------------

    def _selection(self, request: kmock.Request) -> Callable[[Body], bool]:
        """What a list or watch request asks for: namespace, name, selectors."""
        labels = parse_label_selector(request.params.get('labelSelector', ''))
        fields = parse_field_selector(request.params.get('fieldSelector', ''))
        namespace = self._namespace(request)

        def selected(obj: Body) -> bool:
            meta = obj.get('metadata', {})
            return ((namespace is None or meta.get('namespace') == namespace)
                    and (request.name is None or meta.get('name') == request.name)
                    and labels(meta.get('labels') or {}) and fields(obj))
        return selected

    def _current(self, request: kmock.Request, selected: Callable[[Body], bool]) -> list[Body]:
        objs = [obj.raw for (resource, _, _), obj in self.objects.items()
                if resource == request.resource and not obj.deleted]
        # In etcd's key order: by namespace, then name.
        return sorted((obj for obj in objs if selected(obj)),
                      key=lambda obj: (obj['metadata'].get('namespace') or '',
                                       obj['metadata'].get('name') or ''))

    def _type_meta(self, request: kmock.Request, info: kmock.ResourceInfo) -> Body:
        assert request.resource is not None  # for type checkers: a Kubernetes URL here
        group, version = request.resource.group, request.resource.version
        kind = info.kind or str(request.resource.plural).capitalize()
        return {'apiVersion': f'{group}/{version}' if group else version, 'kind': kind}

    async def _serve_fetch(self, request: kmock.Request) -> Response:
        info = self._info(request)
        obj = self._stored(self._key(request, info)) if info else None
        return self._not_found(request) if obj is None else Response(status=200, payload=obj)

    async def _serve_list(self, request: kmock.Request) -> Response:
        info = self._info(request)
        if info is None:
            return self._not_found(request)
        try:
            selected = self._selection(request)
        except SelectorError as e:
            return status_response(400, 'BadRequest', str(e))
        type_meta = self._type_meta(request, info)
        return Response(status=200, payload={
            'apiVersion': type_meta['apiVersion'], 'kind': f"{type_meta['kind']}List",
            'metadata': {'resourceVersion': str(self._revision)},
            'items': self._current(request, selected),
        })

    async def _serve_watch(self, request: kmock.Request) -> Response:  # type: ignore[override]
        info = self._info(request)
        if info is None:
            return self._not_found(request)
        params = request.params
        try:
            selected = self._selection(request)
            since = int(params.get('resourceVersion') or '0')
            timeout = float(params['timeoutSeconds']) if 'timeoutSeconds' in params else None
        except (SelectorError, ValueError) as e:
            return status_response(400, 'BadRequest', str(e))
        stream = self._watch(request, info, selected, since, timeout)
        return Response(status=200, payload=stream)

    async def _watch(
            self, request: kmock.Request, info: kmock.ResourceInfo,
            selected: Callable[[Body], bool], since: int, timeout: float | None,
    ) -> AsyncIterator[Any]:
        yield b''  # send the headers now: clients wait for them before reading events
        bookmarks = request.params.get('allowWatchBookmarks') == 'true'
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        cursor = min(since, self._revision)

        # Version 0 (or none) asks for the current state first, as does sendInitialEvents.
        initial_events = request.params.get('sendInitialEvents') == 'true'
        if since == 0 or initial_events:
            cursor = self._revision
            for obj in self._current(request, selected):
                yield {'type': 'ADDED', 'object': obj}
            if bookmarks and initial_events:
                yield self._bookmark(request, info, cursor, initial_events_end=True)

        while not self._stopping:
            changed = self._changed  # taken before reading: a write while we yield sets it
            changes = [c for c in self._changes[cursor:] if c.resource == request.resource]
            cursor = len(self._changes)
            for change in changes:
                event = self._seen_as(change, selected)
                if event is not None:
                    yield event
            if not changes:
                now = asyncio.get_running_loop().time()
                remaining = None if deadline is None else deadline - now
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    if bookmarks:
                        yield self._bookmark(request, info, cursor)
                    return

    def _bookmark(self, request: kmock.Request, info: kmock.ResourceInfo, revision: int,
                  *, initial_events_end: bool = False) -> Body:
        meta: Body = {'resourceVersion': str(revision)}
        if initial_events_end:
            meta['annotations'] = {'k8s.io/initial-events-end': 'true'}
        return {'type': 'BOOKMARK', 'object': {**self._type_meta(request, info), 'metadata': meta}}

    @staticmethod
    def _seen_as(change: Change, selected: Callable[[Body], bool]) -> Body | None:
        """The event a watch with this selection sees: objects can enter or leave it."""
        was = change.old is not None and selected(change.old)
        now = change.type != 'DELETED' and selected(change.obj)
        event_type = 'MODIFIED' if was and now else 'ADDED' if now else 'DELETED' if was else None
        return {'type': event_type, 'object': change.obj} if event_type else None

    # -- writes ---------------------------------------------------------------------------

    def _commit(self, key: Key, event_type: str, obj: Body, old: Body | None) -> Body:
        """Store one write under the next resourceVersion and wake up the watches."""
        self._revision += 1
        obj['metadata']['resourceVersion'] = str(self._revision)
        if event_type == 'DELETED':
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
            if event_type == 'DELETED':
                for key, obj in list(self.objects.items()):
                    if key[0] == resource and not obj.deleted:
                        self._commit(key, 'DELETED', copy.deepcopy(obj.raw), obj.raw)
                del self.resources[resource]
                self._schemas.pop(resource, None)

    def _conform(self, request: kmock.Request, obj: Body) -> Body:
        schema = self._schemas.get(request.resource)  # type: ignore[arg-type]
        return conform(schema, obj, root=True) if schema else obj

    async def _serve_create(self, request: kmock.Request) -> Response:
        info = self._info(request)
        if info is None:
            return self._not_found(request)
        if not isinstance(request.data, dict) or not isinstance(request.data.get('metadata', {}),
                                                                dict):
            return status_response(400, 'BadRequest', 'the object must be a JSON object')
        body = self._conform(request, copy.deepcopy(request.data))
        meta = body.setdefault('metadata', {})

        namespaced = self._namespaced(request, info)
        namespace = (self._namespace(request) or meta.get('namespace')) if namespaced else None
        if namespaced and not namespace:
            return status_response(422, 'Invalid', 'metadata.namespace: Required value')
        if namespace and meta.get('namespace', namespace) != namespace:
            return status_response(400, 'BadRequest', 'the namespace of the provided object '
                                   'does not match the namespace sent on the request')
        if namespace and self._stored((NAMESPACES, None, namespace)) is None:
            return self._failure(404, 'NotFound', NAMESPACES, namespace, '{what} not found')
        name = meta.get('name') or self._generate_name(request, namespace, meta.get('generateName'))
        if not name:
            return status_response(422, 'Invalid', 'metadata.name: Required value: '
                                   'name or generateName is required')
        key = (request.resource, namespace, name)
        if self._stored(key) is not None:
            return self._failure(409, 'AlreadyExists', request.resource, name,
                                 '{what} already exists')

        for field in _SERVER_MANAGED:
            meta.pop(field, None)
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(),
                    generation=1, **({'namespace': namespace} if namespace else {}))
        self._omit_empty(meta)
        body = {**self._type_meta(request, info), **body}  # apiVersion & kind, if absent
        if 'status' in info.subresources:
            body.pop('status', None)  # status is written only through /status
        if request.resource == CRDS:
            body['status'] = self._crd_status(body)
        return Response(status=201, payload=self._commit(key, 'ADDED', body, None))

    def _generate_name(self, request: kmock.Request, namespace: str | None, prefix: Any,
                       ) -> str | None:
        while prefix:
            name = f'{prefix}{"".join(random.choices(_SUFFIX_ALPHABET, k=5))}'
            if self._stored((request.resource, namespace, name)) is None:
                return name
        return None

    @staticmethod
    def _crd_status(crd: Body) -> Body:
        conditions = [('NamesAccepted', 'NoConflicts'), ('Established', 'InitialNamesAccepted')]
        return {'acceptedNames': crd.get('spec', {}).get('names', {}), 'conditions': [
            {'type': type_, 'status': 'True', 'reason': reason, 'lastTransitionTime': now_rfc3339()}
            for type_, reason in conditions]}

    async def _serve_update(self, request: kmock.Request) -> Response:  # PATCH
        headers = {key.lower(): value for key, value in request.headers.items()}
        content_type = headers.get('content-type', '').split(';')[0].strip().lower()
        if content_type in ('application/merge-patch+json',
                            'application/strategic-merge-patch+json'):
            return self._update(request, lambda stored: merge_patch(stored, request.data))
        if content_type == 'application/json-patch+json' and isinstance(request.data, list):
            return self._update(request, lambda stored: jsonpatch.apply_patch(stored, request.data))
        if content_type == 'application/json-patch+json':
            return status_response(400, 'BadRequest', 'a JSON patch must be a list of operations')
        return status_response(415, 'UnsupportedMediaType', f'unsupported patch: {content_type!r}')

    async def _serve_replace(self, request: kmock.Request) -> Response:  # PUT
        if request.resource is None or request.name is None:
            return status_response(405, 'MethodNotAllowed', 'PUT needs an object URL')
        return self._update(request, lambda stored: copy.deepcopy(request.data))

    def _update(self, request: kmock.Request, write: Callable[[Body], Any]) -> Response:
        info = self._info(request)
        if info is None or request.subresource not in (None, 'status') or (
                request.subresource == 'status' and 'status' not in info.subresources):
            return self._not_found(request)
        key = self._key(request, info)
        old = self._stored(key)
        if old is None:
            return self._not_found(request)
        try:
            intended = write(copy.deepcopy(old))
        except jsonpatch.InvalidJsonPatch as e:
            return status_response(400, 'BadRequest', str(e))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            return status_response(422, 'Invalid', str(e))  # incl. a failed "test" op
        if not isinstance(intended, dict) or not isinstance(intended.get('metadata', {}), dict):
            return status_response(400, 'BadRequest', 'the object must be a JSON object')

        # A resourceVersion in what the client wrote is a precondition, as in kube-apiserver.
        sent = intended.get('metadata', {}).get('resourceVersion')
        if sent is not None and sent != old['metadata']['resourceVersion']:
            return self._conflict(request, 'the object has been modified; please apply your '
                                           'changes to the latest version and try again')

        # Keep what this endpoint may change: the status only, or all but the status.
        if request.subresource == 'status':
            new = {**copy.deepcopy(old), 'status': intended.get('status')}
        else:
            new = {**intended, 'status': old.get('status')} if 'status' in info.subresources \
                else intended
        if new.get('status') is None:
            new.pop('status', None)
        new = self._conform(request, new)
        new.update({field: old[field] for field in ('apiVersion', 'kind') if field in old})
        meta = new.setdefault('metadata', {})
        for field in _SERVER_MANAGED:
            meta.pop(field, None)
            if field in old['metadata']:
                meta[field] = old['metadata'][field]
        self._omit_empty(meta)

        if new == old:  # a no-op is not written: no new version, no event
            return Response(status=200, payload=old)
        if request.subresource is None and self._content(new) != self._content(old):
            meta['generation'] = meta.get('generation', 0) + 1
        self._commit(key, 'MODIFIED', new, old)
        if meta.get('deletionTimestamp') and not meta.get('finalizers'):
            self._commit(key, 'DELETED', copy.deepcopy(new), new)  # its last finalizer is gone
        return Response(status=200, payload=new)

    async def _serve_delete(self, request: kmock.Request) -> Response:
        info = self._info(request)
        if info is None or request.subresource is not None:
            return self._not_found(request)
        key = self._key(request, info)
        old = self._stored(key)
        if old is None:
            return self._not_found(request)
        meta = old['metadata']
        options = request.data if isinstance(request.data, dict) else {}
        for field, expected in (options.get('preconditions') or {}).items():
            if expected is not None and expected != meta.get(field):
                return self._conflict(request, f'Precondition failed: {field} mismatch')
        if meta.get('deletionTimestamp'):  # already terminating, waiting for its finalizers
            return Response(status=200, payload=old)
        if meta.get('finalizers'):
            new = copy.deepcopy(old)
            new['metadata'].update(deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0,
                                   generation=meta.get('generation', 0) + 1)
            return Response(status=200, payload=self._commit(key, 'MODIFIED', new, old))
        gone = self._commit(key, 'DELETED', copy.deepcopy(old), old)
        return Response(status=200, payload=gone)

    @staticmethod
    def _content(obj: Body) -> Body:
        """What metadata.generation tracks: everything but the metadata."""
        return {key: value for key, value in obj.items() if key != 'metadata'}

    @staticmethod
    def _omit_empty(meta: Body) -> None:
        for field in _OMIT_EMPTY:
            if field in meta and not meta[field]:
                del meta[field]
