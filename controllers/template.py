"""kopf handlers for Template and TemplateApproval: observe, decide, apply.

The decisions live in `template_review`; this module only gathers what they need
(the template, its approvals, the sensitive-word lists) and writes the outcome.
Create, update, resume, approval events and word-list events all run the same
level-based reconcile, so an operator restart converges on resume. There is no
timer: kopf puts a finalizer on every object with a timer, and a Template that
cannot be deleted while the operator is down is a worse deal than reacting to the
word-list ConfigMaps' own events.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import kopf

from controllers import metrics
from controllers.config import SENSITIVE_WORDS_LABEL, OperatorConfig
from controllers.context import OperatorContext
from controllers.decisions.events import Event
from controllers.decisions.status import merge_patch_diff
from controllers.decisions.template_review import ApprovalSeen, TemplateWorld, review_template
from controllers.retrying import with_retries
from crds.base import GROUP, VERSION
from crds.template import Template, TemplateApproval

TEMPLATES = (GROUP, VERSION, Template.PLURAL)
APPROVALS = (GROUP, VERSION, TemplateApproval.PLURAL)

ApprovalIndex = kopf.Index[tuple[str, str], ApprovalSeen]
WordIndex = kopf.Index[str, frozenset[str]]


@kopf.index(*APPROVALS)
def approvals_by_template(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], ApprovalSeen]:
    """(namespace, template name) -> the approvals naming that template."""
    key = (namespace or "", str(spec.get("templateName", "")))
    return {key: ApprovalSeen(name, str(spec.get("contentHash", "")))}


@kopf.index("", "v1", "configmaps", labels={SENSITIVE_WORDS_LABEL: "true"})
def sensitive_words_by_namespace(
    namespace: str | None, body: kopf.Body, **_: Any
) -> dict[str, frozenset[str]]:
    """namespace -> words from one labelled ConfigMap (one word per line, any key)."""
    data = body.get("data") or {}
    words = {line.strip() for text in data.values() for line in str(text).splitlines()}
    return {namespace or "": frozenset(w for w in words if w and not w.startswith("#"))}


@kopf.index(*TEMPLATES)
def templates_by_namespace(namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """namespace -> names of its templates, to re-review them when a word list changes."""
    return {namespace or "": name}


def observe_template(
    config: OperatorConfig, namespace: str, name: str, approvals: ApprovalIndex,
    word_lists: WordIndex,
) -> TemplateWorld:
    """What the review needs besides the template: read from kopf's in-memory indexes."""
    words: set[str] = set()
    for ns in {config.namespace, namespace}:
        for found in word_lists.get(ns, ()):
            words |= found
    return TemplateWorld(
        sensitive_words=frozenset(words),
        approvals=tuple(approvals.get((namespace, name), ())),
        manual_categories=config.manual_review_categories,
        links_base_url=config.links_base_url,
    )


def post_events(body: kopf.Body | dict[str, Any], events: Iterable[Event]) -> None:
    for event in events:
        # kopf.event takes any object body; a fetched dict is one too.
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)  # type: ignore[arg-type]


def review(
    config: OperatorConfig, body: kopf.Body | dict[str, Any], approvals: ApprovalIndex,
    word_lists: WordIndex,
) -> tuple[dict[str, Any], tuple[Event, ...]]:
    """The status patch (empty when nothing changed) and Events for one template."""
    template = Template.model_validate(body)
    world = observe_template(
        config, template.metadata.namespace or "", template.metadata.name, approvals,
        word_lists)
    decision = review_template(
        template.spec, template.metadata.generation, template.status, world, datetime.now(UTC)
    )
    old = dict(body.get("status") or {})
    return merge_patch_diff(old, decision.status.to_api()), decision.events


async def reconcile_template_now(
    namespace: str, name: str, memo: Any, approvals: ApprovalIndex, word_lists: WordIndex
) -> None:
    """Review one template from its current state and write what changed.

    Create, update, resume, approval events and word-list events all land here. They
    run concurrently in kopf (an approval's or a ConfigMap's event is handled by that
    object's worker), so one lock per template serialises them, and each reads the object
    afresh inside it: every decision then starts from the status the previous one
    wrote, and an outcome is announced once, not once per trigger.
    """
    context: OperatorContext = memo.context
    async with context.template_locks[(namespace, name)]:
        body = await context.kube.get(Template.PLURAL, namespace, name)
        if body is None or body.get("metadata", {}).get("deletionTimestamp"):
            return
        status_patch, events = review(context.config, body, approvals, word_lists)
        if status_patch:
            await context.kube.patch_status(Template.PLURAL, namespace, name, status_patch)
            metrics.STATUS_WRITES.labels("Template").inc()
        post_events(body, events)


# kopf passes indexes as keyword arguments named after them; its handler protocols
# do not list them, hence the type ignores on the registering decorators.
@kopf.on.resume(*TEMPLATES, id="review-on-resume")
@kopf.on.create(*TEMPLATES, id="review-on-create")
@kopf.on.update(*TEMPLATES, id="review-on-update", field="spec")  # type: ignore[arg-type]
async def reconcile_template(
    namespace: str | None,
    name: str,
    memo: Any,
    approvals_by_template: ApprovalIndex,
    sensitive_words_by_namespace: WordIndex,
    **_: Any,
) -> None:
    await reconcile_template_now(
        namespace or "", name, memo, approvals_by_template, sensitive_words_by_namespace
    )


@kopf.on.event(*APPROVALS)  # type: ignore[arg-type]
async def rereview_on_approval(
    namespace: str | None,
    spec: kopf.Spec,
    memo: Any,
    approvals_by_template: ApprovalIndex,
    sensitive_words_by_namespace: WordIndex,
    **_: Any,
) -> None:
    """An approval came, changed or went: re-review its template now."""
    template_name = str(spec.get("templateName", ""))
    await with_retries(
        lambda: reconcile_template_now(
            namespace or "", template_name, memo, approvals_by_template,
            sensitive_words_by_namespace,
        ),
        what=f"re-review of template {namespace}/{template_name}",
    )


@kopf.on.event(  # type: ignore[arg-type]
    "", "v1", "configmaps", labels={SENSITIVE_WORDS_LABEL: "true"}
)
async def rereview_on_word_list(
    namespace: str | None,
    memo: Any,
    templates_by_namespace: kopf.Index[str, str],
    approvals_by_template: ApprovalIndex,
    sensitive_words_by_namespace: WordIndex,
    **_: Any,
) -> None:
    """A word list came, changed or went: re-review the templates it applies to."""
    context: OperatorContext = memo.context
    namespace = namespace or ""
    own = context.config.namespace
    scope = list(templates_by_namespace) if namespace == own else [namespace]
    for ns in scope:
        for name in sorted(set(templates_by_namespace.get(ns, ()))):
            await with_retries(
                functools.partial(
                    reconcile_template_now,
                    ns, name, memo, approvals_by_template, sensitive_words_by_namespace,
                ),
                what=f"re-review of template {ns}/{name}",
            )
