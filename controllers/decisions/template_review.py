"""Template review: what a template costs to send and whether it may be sent.

Pure functions over the spec and what the operator observed (sensitive words,
approvals); no kopf, kubernetes or redis here. `review_template` is the one entry
point: it returns the status to write and the Events to post.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from controllers.decisions import reasons
from controllers.decisions.events import Event
from crds.base import Condition, ConditionStatus, find_condition, set_condition
from crds.channel import Gsm7Coding
from crds.template import (
    Category,
    CodingMeasure,
    Encoding,
    ReviewFinding,
    ReviewMode,
    Severity,
    TemplatePhase,
    TemplateSpec,
    TemplateStatus,
    VariableUsage,
)
from sender.sms import links as sms_links
from sender.sms import text as sms_text

# Concatenated messages beyond this are refused by most carriers or arrive broken.
MAX_SEGMENTS = 10

# Characters that silently turn a GSM-7 message into UCS-2 (halving its length per
# segment) although a GSM-7 character would read the same. Word processors put them in.
GSM7_LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}  # fmt: skip
LOOKALIKE_TABLE = {ord(k): v for k, v in GSM7_LOOKALIKES.items()}


@dataclass(frozen=True)
class ApprovalSeen:
    """A TemplateApproval naming this template."""

    name: str
    content_hash: str


@dataclass(frozen=True)
class TemplateWorld:
    """What the operator observed besides the template itself."""

    sensitive_words: frozenset[str] = frozenset()
    approvals: tuple[ApprovalSeen, ...] = ()
    manual_categories: frozenset[Category] = frozenset()
    """Categories the operator's policy always reviews manually, whatever spec.review says."""
    links_base_url: str = ""
    """The base URL of short links (the operator's HERALD_LINKS_BASE_URL); "": the
    install has none, and a template with a {link:URL} cannot be sent."""


@dataclass(frozen=True)
class TemplateReview:
    """The decision: the status to hold and the Events to post."""

    status: TemplateStatus
    events: tuple[Event, ...]


def error(reason: str, message: str) -> ReviewFinding:
    return ReviewFinding(reason=reason, severity=Severity.ERROR, message=message)


def warning(reason: str, message: str) -> ReviewFinding:
    return ReviewFinding(reason=reason, severity=Severity.WARNING, message=message)


def check_variables(spec: TemplateSpec) -> tuple[VariableUsage, list[ReviewFinding]]:
    """Declared against used variables, and placeholders that are not variables at all."""
    findings = [
        error(reasons.MALFORMED_PLACEHOLDER, problem)
        for problem in sms_text.malformed_placeholders(spec.body)
    ]
    declared = [v.name for v in spec.variables]
    used = sms_text.find_variables(spec.body)
    usage = VariableUsage(
        declared=declared,
        used=used,
        undeclared=[name for name in used if name not in declared],
        unused=[name for name in declared if name not in used],
    )
    if usage.undeclared:
        findings.append(error(
            reasons.UNDECLARED_VARIABLE,
            f"the body uses {_names(usage.undeclared)} but spec.variables does not declare"
            " them; declare each so campaigns know which columns to map",
        ))
    if usage.unused:
        findings.append(warning(
            reasons.UNUSED_VARIABLE, f"declared but not used in the body: {_names(usage.unused)}"
        ))
    return usage, findings


def check_marketing_rules(spec: TemplateSpec) -> list[ReviewFinding]:
    """Marketing messages must say who sends them and how to stop them."""
    if spec.category != Category.MARKETING:
        return []
    findings = []
    if not spec.signature.strip():
        findings.append(error(
            reasons.MISSING_SIGNATURE,
            "Marketing templates need a signature naming the sender, e.g. 【Brand】",
        ))
    if not spec.opt_out_text.strip():
        findings.append(error(
            reasons.MISSING_OPT_OUT_TEXT,
            "Marketing templates need optOutText, e.g. 回T退订 or 'Reply STOP to opt out'",
        ))
    return findings


def check_links(spec: TemplateSpec, base_url: str) -> list[ReviewFinding]:
    """Each {link:URL} must be an http(s) URL, and the install must have short links."""
    targets = sms_text.find_links(spec.body)
    findings = [error(reasons.BAD_LINK, f"{{link:…}}: {problem}")
                for url in targets if (problem := sms_links.target_problem(url))]
    if targets and not base_url:
        findings.append(error(
            reasons.LINKS_NOT_CONFIGURED,
            "the body has {link:…} but this install has no short-link domain: the"
            " platform team sets the chart's links.baseUrl (HERALD_LINKS_BASE_URL)"))
    return findings


def _normalise(text: str) -> str:
    """Fold case and width (ＳＴＯＰ, ｓｔｏｐ and STOP are one word)."""
    return unicodedata.normalize("NFKC", text).casefold()


_SEPARATORS = re.compile(r"[\s\W_]+")


def find_sensitive_words(text: str, words: Iterable[str]) -> list[str]:
    """The listed words that occur in `text`.

    ASCII words match whole ASCII words only, so "ass" does not reject "class" but
    "vx" does reject "加VX领取" (Chinese characters are not word letters here). Other
    scripts (Chinese has no spaces) match anywhere, also across the spaces and
    punctuation senders put between characters to slip past filters (发 票, 发-票).
    """
    folded = _normalise(text)
    squeezed = _SEPARATORS.sub("", folded)
    found = []
    for word in sorted(words):
        needle = _normalise(word).strip()
        if not needle:
            continue
        if needle.isascii():
            pattern = rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])"
            hit = re.search(pattern, folded) is not None
        else:
            hit = needle in folded or _SEPARATORS.sub("", needle) in squeezed
        if hit:
            found.append(word)
    return found


def check_length(text: str, count: sms_text.SegmentCount) -> list[ReviewFinding]:
    """Too many segments, or Unicode that only look-alike characters force."""
    findings = []
    if count.segments > MAX_SEGMENTS:
        findings.append(error(
            reasons.TOO_MANY_SEGMENTS,
            f"the message takes {count.segments} segments; carriers accept at most"
            f" {MAX_SEGMENTS}",
        ))
    if count.encoding == sms_text.Encoding.UCS2:
        ucs2_only = sms_text.Encoding.UCS2
        culprits = sorted({c for c in text if sms_text.detect_encoding(c) == ucs2_only})
        if culprits and all(c in GSM7_LOOKALIKES for c in culprits):
            plain = text.translate(LOOKALIKE_TABLE)
            cheaper = sms_text.count_segments(plain)
            if cheaper.segments < count.segments:
                shown = " ".join(f"U+{ord(c):04X}" for c in culprits)
                findings.append(warning(
                    reasons.AVOIDABLE_UNICODE,
                    f"{shown} force UCS-2 ({count.segments} segments); their GSM-7 look-alikes"
                    f" would need {cheaper.segments}",
                ))
    return findings


CHANNEL_CODINGS = (
    (Gsm7Coding.SMSC_DEFAULT, sms_text.Encoding.GSM7),
    (Gsm7Coding.IA5, sms_text.Encoding.IA5),
    (Gsm7Coding.LATIN1, sms_text.Encoding.LATIN1),
)


def measure_codings(text: str) -> list[CodingMeasure]:
    """The preview on a channel of each gsm7Coding: its encoding there, its segments,
    and the characters that coding cannot carry."""
    measures = []
    for coding, alphabet in CHANNEL_CODINGS:
        encoding = sms_text.detect_encoding(text, alphabet)
        count = sms_text.count_segments(text, encoding)
        measures.append(CodingMeasure(
            name=coding, encoding=Encoding(encoding.value), segments=count.segments,
            uncarried=sms_text.uncarried(text, alphabet)[:64]))
    return measures


def preview(spec: TemplateSpec, links_base_url: str = "") -> str:
    """The full message with each variable's example (or its placeholder when none) and
    each {link:URL} as a short link as long as the recipients' (sender.sms.links; its
    placeholder without a base URL)."""
    values = {name: "{" + name + "}" for name in sms_text.find_variables(spec.body)}
    values.update({v.name: v.example for v in spec.variables if v.example})
    links = {url: sms_links.sample_link(links_base_url) if links_base_url
             else "{link:" + url + "}" for url in sms_text.find_links(spec.body)}
    try:
        body = sms_text.render(spec.body, values, links)
    except sms_text.TemplateError:
        body = spec.body  # malformed placeholders are reported as findings
    return spec.compose(body)


def _names(names: Iterable[str]) -> str:
    return ", ".join("{" + n + "}" for n in names)


def _decide(
    spec: TemplateSpec, content_hash: str, errors: list[ReviewFinding], world: TemplateWorld
) -> tuple[TemplatePhase, ConditionStatus, str, str, str | None]:
    """(phase, Ready status, reason, message, approval name) from the findings."""
    if errors:
        return (
            TemplatePhase.REJECTED, ConditionStatus.FALSE, reasons.REJECTED,
            "; ".join(f.message for f in errors), None,
        )
    by_policy = spec.category in world.manual_categories
    if spec.review == ReviewMode.AUTO and not by_policy:
        return (
            TemplatePhase.APPROVED, ConditionStatus.TRUE, reasons.APPROVED,
            "passed automatic review", None,
        )
    matching = sorted(a.name for a in world.approvals if a.content_hash == content_hash)
    if matching:
        return (
            TemplatePhase.APPROVED, ConditionStatus.TRUE, reasons.MANUALLY_APPROVED,
            f"approved by TemplateApproval {matching[0]}", matching[0],
        )
    if world.approvals:
        stale = sorted(a.name for a in world.approvals)
        return (
            TemplatePhase.PENDING, ConditionStatus.FALSE, reasons.APPROVAL_VOIDED,
            f"the content changed since TemplateApproval {', '.join(stale)}; a reviewer must"
            f" approve {content_hash}", None,
        )
    why = f"policy: {spec.category} templates need approval" if by_policy else "review is Manual"
    return (
        TemplatePhase.PENDING, ConditionStatus.FALSE, reasons.AWAITING_APPROVAL,
        f"{why}: a reviewer must create a TemplateApproval for {content_hash}", None,
    )


def review_template(
    spec: TemplateSpec,
    generation: int | None,
    old: TemplateStatus,
    world: TemplateWorld,
    now: datetime,
) -> TemplateReview:
    """Review a template: the status it should carry and the Events for what changed."""
    usage, findings = check_variables(spec)
    findings += check_marketing_rules(spec)
    findings += check_links(spec, world.links_base_url)
    text = preview(spec, world.links_base_url)
    whole_text = spec.compose(spec.body)  # words hidden in the raw body count too
    hits = find_sensitive_words(f"{whole_text}\n{text}", world.sensitive_words)
    if hits:
        findings.append(error(
            reasons.SENSITIVE_WORD, f"contains words on the sensitive-word list: {', '.join(hits)}"
        ))
    count = sms_text.count_segments(text)
    findings += check_length(text, count)

    content_hash = spec.content_hash()
    errors = [f for f in findings if f.severity == Severity.ERROR]
    phase, ready, reason, message, approval = _decide(spec, content_hash, errors, world)
    conditions = set_condition(old.conditions, Condition(
        type="Ready", status=ready, observed_generation=generation,
        last_transition_time=now, reason=reason, message=message,
    ))
    status = TemplateStatus(
        observed_generation=generation,
        phase=phase,
        findings=findings,
        encoding=Encoding(count.encoding.value),
        characters=count.characters,
        encoded_units=count.units,
        segments=count.segments,
        codings=measure_codings(text),
        variables=usage,
        preview=text,
        content_hash=content_hash,
        approval=approval,
        conditions=conditions,
    )
    return TemplateReview(status=status, events=_events(old, reason, message))


def _events(old: TemplateStatus, reason: str, message: str) -> tuple[Event, ...]:
    """One Event when the outcome changes; nothing when a re-review agrees."""
    before = find_condition(old.conditions, "Ready")
    if before is not None and before.reason == reason and before.message == message:
        return ()
    unhealthy = reason in (reasons.REJECTED, reasons.APPROVAL_VOIDED)
    return (Event("Warning" if unhealthy else "Normal", reason, message),)
