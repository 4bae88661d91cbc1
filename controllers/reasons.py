"""CamelCase reasons for conditions and Events, in one place so they stay consistent.

Users grep for these and alert on them; renaming one is an API change.
"""

# Template review: findings.
MALFORMED_PLACEHOLDER = "MalformedPlaceholder"
UNDECLARED_VARIABLE = "UndeclaredVariable"
UNUSED_VARIABLE = "UnusedVariable"
MISSING_SIGNATURE = "MissingSignature"
MISSING_OPT_OUT_TEXT = "MissingOptOutText"
SENSITIVE_WORD = "SensitiveWord"
TOO_MANY_SEGMENTS = "TooManySegments"
AVOIDABLE_UNICODE = "AvoidableUnicode"

# Template review: outcome (Ready condition and Events).
APPROVED = "Approved"
MANUALLY_APPROVED = "ManuallyApproved"
REJECTED = "Rejected"
AWAITING_APPROVAL = "AwaitingApproval"
APPROVAL_VOIDED = "ApprovalVoided"
