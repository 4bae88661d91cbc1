"""Template review decisions, without I/O: one row per case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.decisions import reasons
from controllers.decisions.status import merge_patch_diff
from controllers.decisions.template_review import (
    ApprovalSeen,
    TemplateWorld,
    find_sensitive_words,
    review_template,
)
from crds.base import find_condition
from crds.template import Category, TemplateSpec, TemplateStatus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EMPTY = TemplateStatus()
NO_WORLD = TemplateWorld()


def spec(**fields: Any) -> TemplateSpec:
    base: dict[str, Any] = {"category": "Notification", "body": "Your code is ready."}
    return TemplateSpec.model_validate({**base, **fields})


MARKETING_ZH = spec(
    category="Marketing", locale="zh-CN", signature="【Herald】", optOutText="回T退订",
    body="{name}您好，会员日全场八折。",
    variables=[{"name": "name", "example": "王小明"}],
)


def reasons_of(status: TemplateStatus) -> list[str]:
    return [f.reason for f in status.findings]


@pytest.mark.parametrize("template, phase, finding", [
    pytest.param(MARKETING_ZH, "Approved", None, id="marketing-zh-complete"),
    pytest.param(spec(category="Marketing", optOutText="Reply STOP to opt out"),
                 "Rejected", reasons.MISSING_SIGNATURE, id="marketing-no-signature"),
    pytest.param(spec(category="Marketing", signature="【Herald】"),
                 "Rejected", reasons.MISSING_OPT_OUT_TEXT, id="marketing-no-opt-out"),
    pytest.param(spec(category="Verification", body="Code {code}"),
                 "Rejected", reasons.UNDECLARED_VARIABLE, id="undeclared-variable"),
    pytest.param(spec(body="Hello", variables=[{"name": "name"}]),
                 "Approved", reasons.UNUSED_VARIABLE, id="unused-variable-warns"),
    pytest.param(spec(body="Hello {1st}"),
                 "Rejected", reasons.MALFORMED_PLACEHOLDER, id="malformed-placeholder"),
    pytest.param(spec(body="Hello {name", variables=[{"name": "name"}]),
                 "Rejected", reasons.MALFORMED_PLACEHOLDER, id="unclosed-placeholder"),
    pytest.param(spec(body="x" * 1540), "Rejected", reasons.TOO_MANY_SEGMENTS,
                 id="eleven-segments"),
    pytest.param(spec(body="It\u2019s ready \u2013 come by the shop on Main Street before"
                           " six and bring your receipt."), "Approved",
                 reasons.AVOIDABLE_UNICODE, id="curly-quote-costs-a-segment"),
    pytest.param(spec(review="Manual"), "Pending", None, id="manual-awaits-approval"),
])
def test_review_outcome(template: TemplateSpec, phase: str, finding: str | None) -> None:
    status = review_template(template, 1, EMPTY, NO_WORLD, NOW).status
    assert status.phase == phase
    if finding is not None:
        assert finding in reasons_of(status)
    else:
        assert [f for f in status.findings if f.severity == "Error"] == []


def test_avoidable_unicode_is_quiet_when_it_costs_nothing() -> None:
    status = review_template(spec(body="It\u2019s ready"), 1, EMPTY, NO_WORLD, NOW).status
    assert status.encoding == "UCS2" and status.findings == []


@pytest.mark.parametrize("body, encoding, units, segments", [
    pytest.param("Hello", "GSM7", 5, 1, id="ascii"),
    pytest.param("€" * 80, "GSM7", 160, 1, id="euro-counts-twice-fits"),
    pytest.param("€" * 81, "GSM7", 162, 2, id="euro-counts-twice-spills"),
    pytest.param("{[]}"[1:3] + "x" * 157, "GSM7", 161, 2, id="brackets-are-extension"),
    pytest.param("您好" * 35, "UCS2", 70, 1, id="chinese-70"),
    pytest.param("您好" * 35 + "!", "UCS2", 71, 2, id="chinese-71"),
    pytest.param("Party \U0001f389", "UCS2", 8, 1, id="emoji-is-two-units"),
    pytest.param("Café ç", "UCS2", 6, 1, id="lowercase-c-cedilla-is-not-gsm7"),
    pytest.param("Ça va", "GSM7", 5, 1, id="capital-c-cedilla-is-gsm7"),
])
def test_encoding_and_segments(body: str, encoding: str, units: int, segments: int) -> None:
    status = review_template(spec(body=body), 1, EMPTY, NO_WORLD, NOW).status
    assert (status.encoding, status.encoded_units, status.segments) == (encoding, units, segments)


def test_preview_composes_signature_body_and_opt_out() -> None:
    status = review_template(MARKETING_ZH, 1, EMPTY, NO_WORLD, NOW).status
    assert status.preview == "【Herald】王小明您好，会员日全场八折。回T退订"
    assert status.characters == len(status.preview)
    assert status.variables is not None and status.variables.used == ["name"]


def test_preview_of_suffix_signature_in_english() -> None:
    template = spec(body="Hi {name}", signature="- Herald", signaturePlacement="Suffix",
                    optOutText="STOP to end", variables=[{"name": "name", "example": "Ann"}])
    status = review_template(template, 1, EMPTY, NO_WORLD, NOW).status
    assert status.preview == "Hi Ann STOP to end - Herald"


@pytest.mark.parametrize("text, words, found", [
    pytest.param("请开发票", {"发票"}, ["发票"], id="chinese-substring"),
    pytest.param("请开发 票", {"发票"}, ["发票"], id="chinese-split-by-space"),
    pytest.param("请开发-票", {"发票"}, ["发票"], id="chinese-split-by-punctuation"),
    pytest.param("Join our class today", {"ass"}, [], id="latin-whole-words-only"),
    pytest.param("FREE money", {"free"}, ["free"], id="latin-case-insensitive"),
    pytest.param("ＦＲＥＥ money", {"free"}, ["free"], id="full-width-folded"),
    pytest.param("free-money", {"free"}, ["free"], id="latin-word-before-hyphen"),
    pytest.param("nothing here", {"", "  "}, [], id="blank-words-ignored"),
    pytest.param("加VX领取优惠", {"vx"}, ["vx"], id="latin-word-inside-chinese-text"),
    pytest.param("加vx123领取", {"vx"}, [], id="latin-word-glued-to-digits-is-another-word"),
])
def test_sensitive_words(text: str, words: set[str], found: list[str]) -> None:
    assert find_sensitive_words(text, words) == found


def test_sensitive_word_rejects_with_the_word_named() -> None:
    world = TemplateWorld(sensitive_words=frozenset({"八折"}))
    status = review_template(MARKETING_ZH, 1, EMPTY, world, NOW).status
    assert status.phase == "Rejected"
    assert "八折" in status.findings[-1].message


MANUAL = spec(review="Manual")
HASH = MANUAL.content_hash()


@pytest.mark.parametrize("approvals, phase, reason, approval", [
    pytest.param((), "Pending", reasons.AWAITING_APPROVAL, None, id="none"),
    pytest.param((ApprovalSeen("ok", HASH),), "Approved", reasons.MANUALLY_APPROVED, "ok",
                 id="matching"),
    pytest.param((ApprovalSeen("old", "sha256:" + "0" * 64),), "Pending",
                 reasons.APPROVAL_VOIDED, None, id="stale-hash"),
    pytest.param((ApprovalSeen("old", "sha256:" + "0" * 64), ApprovalSeen("new", HASH)),
                 "Approved", reasons.MANUALLY_APPROVED, "new", id="stale-and-matching"),
])
def test_manual_review(
    approvals: tuple[ApprovalSeen, ...], phase: str, reason: str, approval: str | None
) -> None:
    status = review_template(MANUAL, 3, EMPTY, TemplateWorld(approvals=approvals), NOW).status
    ready = find_condition(status.conditions, "Ready")
    assert (status.phase, ready and ready.reason, status.approval) == (phase, reason, approval)
    assert ready is not None and ready.observed_generation == 3


@pytest.mark.parametrize("template, policy, phase", [
    pytest.param(MARKETING_ZH, {"Marketing"}, "Pending", id="policy-makes-marketing-manual"),
    pytest.param(MARKETING_ZH, {"Verification"}, "Approved", id="policy-for-other-category"),
    pytest.param(MARKETING_ZH, set(), "Approved", id="no-policy"),
])
def test_manual_review_policy(template: TemplateSpec, policy: set[str], phase: str) -> None:
    world = TemplateWorld(manual_categories=frozenset(Category(c) for c in policy))
    status = review_template(template, 1, EMPTY, world, NOW).status
    assert status.phase == phase
    if phase == "Pending":
        ready = find_condition(status.conditions, "Ready")
        assert ready is not None and "policy: Marketing templates need approval" in ready.message


def test_editing_content_changes_the_hash_but_examples_do_not() -> None:
    assert spec(review="Manual", body="Other text").content_hash() != HASH
    with_example = spec(review="Manual", variables=[{"name": "x", "example": "1"}])
    assert with_example.content_hash() == HASH


def test_rereview_with_same_outcome_posts_nothing_and_keeps_transition_time() -> None:
    first = review_template(MANUAL, 1, EMPTY, NO_WORLD, NOW)
    assert [(e.type, e.reason) for e in first.events] == [("Normal", reasons.AWAITING_APPROVAL)]
    again = review_template(MANUAL, 1, first.status, NO_WORLD, NOW + timedelta(minutes=5))
    assert again.events == ()
    assert again.status.conditions == first.status.conditions


def test_voided_approval_is_a_warning_and_moves_the_transition_time() -> None:
    approved = review_template(
        MANUAL, 1, EMPTY, TemplateWorld(approvals=(ApprovalSeen("a", HASH),)), NOW
    )
    edited = spec(review="Manual", body="Edited after approval")
    later = NOW + timedelta(minutes=5)
    voided = review_template(
        edited, 2, approved.status, TemplateWorld(approvals=(ApprovalSeen("a", HASH),)), later
    )
    assert [(e.type, e.reason) for e in voided.events] == [("Warning", reasons.APPROVAL_VOIDED)]
    ready = find_condition(voided.status.conditions, "Ready")
    assert ready is not None and ready.last_transition_time == later


@pytest.mark.parametrize("old, new, patch", [
    pytest.param({"a": 1}, {"a": 1}, {}, id="equal"),
    pytest.param({"a": 1}, {"a": 2}, {"a": 2}, id="changed"),
    pytest.param({"a": 1, "b": 2}, {"a": 1}, {"b": None}, id="removed"),
    pytest.param({"v": {"x": 1, "y": 2}}, {"v": {"x": 1, "y": 3}}, {"v": {"y": 3}}, id="nested"),
    pytest.param({"l": [1, 2]}, {"l": [1]}, {"l": [1]}, id="list-replaced"),
    pytest.param({}, {"v": {"x": 1}}, {"v": {"x": 1}}, id="added-object"),
])
def test_merge_patch_diff(old: dict[str, Any], new: dict[str, Any], patch: dict[str, Any]) -> None:
    assert merge_patch_diff(old, new) == patch


# Each row: a body; then per channel coding (SmscDefault, IA5, Latin1) its encoding,
# segments, and the characters it lacks.
@pytest.mark.parametrize("body, codings", [
    pytest.param("Sale today", [("GSM7", 1, ""), ("IA5", 1, ""), ("Latin1", 1, "")],
                 id="ascii-everywhere"),
    pytest.param("Café é 5€", [("GSM7", 1, ""), ("UCS2", 1, "é€"), ("UCS2", 1, "€")],
                 id="euro-and-accents"),
    pytest.param("x" * 150, [("GSM7", 1, ""), ("IA5", 1, ""), ("Latin1", 2, "")],
                 id="latin1-is-140-octets"),
    pytest.param("Ça coute Δ", [("GSM7", 1, ""), ("UCS2", 1, "ÇΔ"), ("UCS2", 1, "Δ")],
                 id="greek-only-gsm7"),
    pytest.param("Ça coûte", [("UCS2", 1, "û"), ("UCS2", 1, "Çû"), ("Latin1", 1, "")],
                 id="u-circumflex-only-latin1"),
])
def test_each_channel_coding_is_measured(body: str, codings: list[tuple[str, int, str]]) -> None:
    status = review_template(spec(body=body), 1, EMPTY, NO_WORLD, NOW).status
    assert [(c.name, c.encoding, c.segments, c.uncarried) for c in status.codings] == [
        (name, *measure) for name, measure in zip(("SmscDefault", "IA5", "Latin1"), codings,
                                                  strict=True)]
