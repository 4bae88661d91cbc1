"""Template: a message body with variables, reviewed before any campaign may use it.

TemplateApproval is its own small kind so that RBAC can let reviewers approve
(`create` on templateapprovals) without letting them edit templates, and editors
edit without approving. An approval pins the template's content hash: editing the
body, signature or opt-out text changes the hash and so voids the approval.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum

from pydantic import ConfigDict, Field

from crds.base import (
    AGE_COLUMN,
    MESSAGE_MAX,
    NAME_MAX,
    REASON_COLUMN,
    SHORT_TEXT_MAX,
    Condition,
    HeraldModel,
    HeraldResource,
    list_map,
    validations,
)
from crds.channel import Gsm7Coding

BODY_MAX = 1600  # ten concatenated GSM-7 segments; carriers rarely accept more
VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
CONTENT_HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"


class Category(StrEnum):
    MARKETING = "Marketing"
    NOTIFICATION = "Notification"
    VERIFICATION = "Verification"


class ReviewMode(StrEnum):
    AUTO = "Auto"
    MANUAL = "Manual"


class SignaturePlacement(StrEnum):
    PREFIX = "Prefix"
    SUFFIX = "Suffix"


class TemplateVariable(HeraldModel):
    """A variable the body may use as {name}."""

    name: str = Field(min_length=1, max_length=64, pattern=VARIABLE_NAME_PATTERN)
    """Variable name, as written between braces in the body."""
    description: str = Field(default="", max_length=SHORT_TEXT_MAX)
    """What the variable holds, for people reading the template (its reviewers). For
    people only: Herald does not use it."""
    example: str = Field(default="", max_length=SHORT_TEXT_MAX)
    """A typical value, used for the preview and the segment count."""


class TemplateSpec(HeraldModel):
    """The message and how it is reviewed."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "self.category != 'Marketing' || (size(self.signature) > 0"
                " && size(self.optOutText) > 0)",
                "Marketing templates need a signature and optOutText",
            ),
            # Editors must not skip the reviewer by relaxing the mode; the operator's
            # policy (HERALD_MANUAL_REVIEW_CATEGORIES) covers templates created as Auto.
            (
                "oldSelf.review != 'Manual' || self.review == 'Manual'",
                "review cannot be relaxed from Manual to Auto",
            ),
        )
    )

    category: Category
    """Marketing, Notification or Verification. Marketing requires signature and optOutText."""
    body: str = Field(min_length=1, max_length=BODY_MAX)
    """Message text; {variable} placeholders are filled per recipient, {{ and }} are braces.
    {link:URL} (an http(s) URL) is sent as a short link of the install's links domain,
    one per recipient, whose clicks the campaign counts (see the Campaign's spec.links)."""
    variables: list[TemplateVariable] = Field(
        default_factory=list, max_length=64, json_schema_extra=list_map("name")
    )
    """Variables the body may use. A used variable that is not declared rejects the template."""
    signature: str = Field(default="", max_length=64)
    """Sender signature, e.g. 【Brand】 or "- Brand"."""
    signature_placement: SignaturePlacement = SignaturePlacement.PREFIX
    """Where the signature goes: Prefix (usual in China) or Suffix."""
    opt_out_text: str = Field(default="", max_length=SHORT_TEXT_MAX)
    """Opt-out instruction appended to the message, e.g. 回T退订 or "Reply STOP to opt out"."""
    locale: str = Field(default="en", max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    """BCP 47 language tag of the text, e.g. zh-CN or en-US."""
    review: ReviewMode = ReviewMode.AUTO
    """Auto: approved when the checks pass. Manual: also needs a TemplateApproval."""
    flash: bool = False
    """Send as class 0 (flash): the phone shows the message at once and most do not
    store it. For urgent notices; carriers may refuse or bill it differently."""

    def compose(self, rendered_body: str) -> str:
        """The whole text a recipient reads: signature, body and opt-out text.

        Chinese, Japanese and Korean text runs on without spaces (【Brand】正文回T退订);
        other scripts take a space between the parts.
        """
        gap = "" if self.locale.split("-")[0].lower() in ("zh", "ja", "ko") else " "
        if self.signature_placement == SignaturePlacement.PREFIX:
            parts = [self.signature, rendered_body, self.opt_out_text]
        else:
            parts = [rendered_body, self.opt_out_text, self.signature]
        return gap.join(part for part in parts if part)

    def content_hash(self) -> str:
        """Hash of everything that changes what recipients read.

        A TemplateApproval pins this, so any such edit voids it. Variable descriptions,
        examples and the review mode do not change the message, so they are left out.
        """
        content: dict[str, object] = {
            "category": self.category.value,
            "body": self.body,
            "signature": self.signature,
            "signaturePlacement": self.signature_placement.value,
            "optOutText": self.opt_out_text,
            "locale": self.locale,
        }
        if self.flash:  # only when set, so hashes (and approvals) made before it stand
            content["flash"] = True
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class TemplatePhase(StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"


class Severity(StrEnum):
    ERROR = "Error"
    WARNING = "Warning"


class ReviewFinding(HeraldModel):
    """One thing the review found."""

    reason: str = Field(max_length=128)
    """CamelCase reason, e.g. MissingSignature."""
    severity: Severity
    """Error rejects the template; Warning does not."""
    message: str = Field(max_length=MESSAGE_MAX)
    """What was found and how to fix it."""


class VariableUsage(HeraldModel):
    """Declared against used variables."""

    declared: list[str] = Field(default_factory=list)
    """Variables listed in spec.variables."""
    used: list[str] = Field(default_factory=list)
    """Variables the body uses, in order of first use."""
    undeclared: list[str] = Field(default_factory=list)
    """Used but not declared (rejects the template)."""
    unused: list[str] = Field(default_factory=list)
    """Declared but not used (a warning)."""


class Encoding(StrEnum):
    GSM7 = "GSM7"
    UCS2 = "UCS2"
    IA5 = "IA5"
    LATIN1 = "Latin1"


class CodingMeasure(HeraldModel):
    """How the preview goes on a channel of one gsm7Coding."""

    name: Gsm7Coding
    """The channel's smpp.gsm7Coding."""
    encoding: Encoding
    """GSM7, IA5 or Latin1 when the coding carries every character, else UCS2."""
    segments: int
    """Segments there: 160/153 in GSM7 and IA5, 140/134 in Latin1, 70/67 in UCS2."""
    uncarried: str = Field(default="", max_length=SHORT_TEXT_MAX)
    """Characters of the preview the coding lacks, which make it UCS2 there."""


class TemplateStatus(HeraldModel):
    """The review's result."""

    observed_generation: int | None = None
    """The metadata.generation this status describes."""
    phase: TemplatePhase | None = None
    """Pending, Approved or Rejected; for display, derived from the conditions."""
    findings: list[ReviewFinding] = Field(default_factory=list)
    """Errors and warnings from the review."""
    encoding: Encoding | None = None
    """GSM7 when every character is in the GSM 03.38 alphabet, else UCS2."""
    characters: int | None = None
    """Characters of the preview, signature and opt-out text included."""
    encoded_units: int | None = None
    """GSM-7 septets (extension characters count twice) or UCS-2 code units."""
    segments: int | None = None
    """SMS segments the preview takes: 160/153 per segment in GSM7, 70/67 in UCS2."""
    codings: list[CodingMeasure] = Field(
        default_factory=list, max_length=3, json_schema_extra=list_map("name"))
    """The same on a channel of each gsm7Coding: SmscDefault (as encoding and segments
    above), IA5 and Latin1, which lack some characters GSM-7 has (and have others)."""
    variables: VariableUsage | None = None
    """Declared against used variables."""
    preview: str | None = None
    """The full message rendered with each variable's example, and each {link:URL} as a
    short link as long as the ones recipients get (the install's links domain and a
    sample code), which is what its length and segments count."""
    content_hash: str | None = None
    """Hash of the reviewed content; a TemplateApproval must name this hash."""
    approval: str | None = None
    """Name of the TemplateApproval that approved this content (Manual review)."""
    conditions: list[Condition] = Field(default_factory=list, json_schema_extra=list_map("type"))
    """Ready is True when the template is Approved and may be sent."""


class Template(HeraldResource):
    """An SMS message template, reviewed before campaigns may send it."""

    KIND = "Template"
    PLURAL = "templates"
    SHORT_NAMES = ("smstpl",)
    PRINTER_COLUMNS = (
        {"name": "Category", "type": "string", "jsonPath": ".spec.category"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Encoding", "type": "string", "jsonPath": ".status.encoding"},
        {"name": "Segments", "type": "integer", "jsonPath": ".status.segments"},
        REASON_COLUMN,
        AGE_COLUMN,
    )

    spec: TemplateSpec
    status: TemplateStatus = Field(default_factory=TemplateStatus)


class TemplateApprovalSpec(HeraldModel):
    """Approves one exact content of one template."""

    # Immutable, so the audit trail shows who approved what: new content, new approval.
    model_config = ConfigDict(
        json_schema_extra=validations(
            ("self == oldSelf", "an approval is immutable; create a new TemplateApproval"),
        )
    )

    template_name: str = Field(min_length=1, max_length=NAME_MAX)
    """Name of the Template in this namespace."""
    content_hash: str = Field(pattern=CONTENT_HASH_PATTERN, max_length=71)
    """The template's status.contentHash at review time. An edit changes it and voids this."""
    note: str = Field(default="", max_length=SHORT_TEXT_MAX)
    """Reviewer's note, kept for the audit trail."""


class TemplateApproval(HeraldResource):
    """A reviewer's approval of one exact content of a Manual-review Template."""

    KIND = "TemplateApproval"
    PLURAL = "templateapprovals"
    SHORT_NAMES = ("smsapproval",)
    PRINTER_COLUMNS = (
        {"name": "Template", "type": "string", "jsonPath": ".spec.templateName"},
        AGE_COLUMN,
    )
    spec: TemplateApprovalSpec
