"""CamelCase reasons for conditions and Events, in one place so they stay consistent.

Users grep for these and alert on them; renaming one is an API change.
"""

# Template review: findings.
MALFORMED_PLACEHOLDER = "MalformedPlaceholder"
UNDECLARED_VARIABLE = "UndeclaredVariable"
BAD_LINK = "BadLink"
LINKS_NOT_CONFIGURED = "LinksNotConfigured"
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

# Campaign: why it is (not) Ready, Progressing, Stalled or Degraded; also Event reasons.
TEMPLATE_NOT_FOUND = "TemplateNotFound"
TEMPLATE_NOT_APPROVED = "TemplateNotApproved"
CHANNEL_NOT_FOUND = "ChannelNotFound"
CHANNEL_NOT_READY = "ChannelNotReady"
CHANNEL_FAILED_OVER = "ChannelFailedOver"
CHANNEL_RECOVERED = "ChannelRecovered"
SCHEDULED = "Scheduled"
OUTSIDE_SEND_WINDOW = "OutsideSendWindow"
INVALID_SCHEDULE = "InvalidSchedule"
OPT_OUTS_REQUIRED = "OptOutsRequired"
INVALID_FILTER = "InvalidFilter"
AUDIENCE_NOT_FOUND = "AudienceNotFound"
SUPPRESSION_LIST_NOT_FOUND = "SuppressionListNotFound"
UNKNOWN_ENCODING = "UnknownEncoding"
IMPORTING = "Importing"
IMPORT_FAILED = "ImportFailed"
NO_VALID_RECIPIENTS = "NoValidRecipients"
SENDING = "Sending"
ACCEPTING_EVENTS = "AcceptingEvents"
INGEST_TOKEN_NOT_FOUND = "IngestTokenNotFound"
PAUSED = "Paused"
CANCELLING = "Cancelling"
CANCELLED = "Cancelled"
COMPLETED = "Completed"
SENDERS_FAILED = "SendersFailed"
NO_PROGRESS = "NoProgress"
HIGH_FAILURE_RATIO = "HighFailureRatio"
DELIVERING_WELL = "FailureRatioNormal"
NOT_STALLED = "NotStalled"
EDIT_NOT_APPLIED = "EditNotApplied"
AWAITING_WINNER = "AwaitingWinner"
DRY_RUN = "DryRun"
WINNER_CHOSEN = "WinnerChosen"
RUN_RESET = "StaleRunReset"
# spec.canary and spec.autoPause (controllers.decisions.campaign_guard): the Ready reason
# of a campaign that paused itself, the CanaryFailed and AutoPaused conditions, Events.
AWAITING_CANARY = "AwaitingCanary"
CANARY_PASSED = "CanaryPassed"
CANARY_FAILED = "CanaryFailed"
AUTO_PAUSED = "AutoPaused"
FAILURE_RATIO_EXCEEDED = "FailureRatioExceeded"
OPT_OUT_RATIO_EXCEEDED = "OptOutRatioExceeded"
NO_FINAL_OUTCOME = "NoFinalOutcome"
WITHIN_THRESHOLDS = "WithinThresholds"
RESUMED = "Resumed"
FINISHED = "Finished"

# Channel: why it is (not) Ready.
SECRET_NOT_FOUND = "SecretNotFound"
SECRET_KEY_MISSING = "SecretKeyMissing"
PASSWORD_TOO_LONG = "PasswordTooLong"
BOUND = "Bound"
TLS_SOURCE_NOT_FOUND = "TLSSourceNotFound"
TLS_KEY_MISSING = "TLSKeyMissing"
TLS_HANDSHAKE_FAILED = "TLSHandshakeFailed"  # = sender.smpp.tls, from the bind check
CERTIFICATE_NOT_TRUSTED = "CertificateNotTrusted"
TLS_MATERIAL_INVALID = "TLSMaterialInvalid"

# Any kind: its IgnoredFields condition (controllers.decisions.unimplemented).
NOT_YET_IMPLEMENTED = "NotYetImplemented"

# Channel: its TLSVerified condition.
CERTIFICATE_VERIFIED = "CertificateVerified"
INSECURE_SKIP_VERIFY = "InsecureSkipVerify"
UNKNOWN_ROUTING_TARGET = "UnknownRoutingTarget"
ROUTING_KNOWN = "RoutingKnown"
UNKNOWN_SOURCE_COUNTRY = "UnknownSourceCountry"
SOURCE_COUNTRIES_KNOWN = "SourceCountriesKnown"
UNKNOWN_PRICING_COUNTRY = "UnknownPricingCountry"
PRICING_COUNTRIES_KNOWN = "PricingCountriesKnown"
ANSWERING = "Answering"
DUPLICATE_KEYWORD = "DuplicateKeyword"
NO_RECEIVER = "NoReceiver"
CHANNEL_IN_USE = "ChannelInUse"
RECEIVER_FAILED = "ReceiverFailed"

# A recurring Campaign (controllers.decisions.campaign_recurrence): Ready, Degraded, Events.
RUN_ACTIVE = "RunActive"
RUN_STARTED = "RunStarted"
RUN_SKIPPED = "RunSkipped"
RUN_REPLACED = "RunReplaced"
MISSED_SCHEDULE = "MissedSchedule"
LAST_RUN_FAILED = "LastRunFailed"
LAST_RUN_SUCCEEDED = "LastRunSucceeded"

# A finished Campaign's spec.export (controllers.decisions.campaign_export): Events.
EXPORT_WRITTEN = "ExportWritten"
EXPORT_FAILED = "ExportFailed"
