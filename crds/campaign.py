"""Campaign: who gets which template over which channels, when, how fast, under which rules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from crds.base import (
    AGE_COLUMN,
    MESSAGE_MAX,
    NAME_MAX,
    READY_COLUMN,
    REASON_COLUMN,
    SHORT_TEXT_MAX,
    Condition,
    HeraldModel,
    HeraldResource,
    LocalObjectReference,
    SecretKeyReference,
    list_map,
    validations,
)

VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
VARIANT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""Names of variants and suppression lists: DNS labels, as they appear in status rows."""
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# Five fields (minute hour day-of-month month day-of-week) or a macro like @daily;
# the operator parses it fully and reports a bad one as a condition.
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|hourly)|(\S+\s+){4}\S+)$"
INLINE_RECIPIENTS_MAX = 1000  # larger lists belong in a ConfigMap, Secret, URL or Redis key


class Variant(HeraldModel):
    """One arm of an A/B test."""

    name: str = Field(min_length=1, max_length=63, pattern=VARIANT_NAME_PATTERN)
    """Variant name, used in status breakdowns."""
    template_ref: LocalObjectReference
    """Template this variant sends."""
    weight: int = Field(ge=0, le=100)
    """Percent of recipients who get this variant; the weights sum to 100."""


class ChannelRef(HeraldModel):
    """A channel the campaign may send through."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    """Name of the Channel in this namespace."""


class NamedValue(HeraldModel):
    """A name and its value."""

    name: str = Field(min_length=1, max_length=64, pattern=VARIABLE_NAME_PATTERN)
    """Name."""
    value: str = Field(default="", max_length=SHORT_TEXT_MAX)
    """Value."""


class InlineRecipient(HeraldModel):
    """One recipient written into the Campaign."""

    phone: str = Field(min_length=1, max_length=32)
    """Phone number, E.164 (+8613800138000) or national with audience.defaultRegion."""
    variables: list[NamedValue] = Field(
        default_factory=list, max_length=32, json_schema_extra=list_map("name")
    )
    """Template variables and filter attributes for this recipient."""


class ObjectKeyReference(HeraldModel):
    """A key of a ConfigMap or Secret in the same namespace."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    """Name of the object."""
    key: str = Field(default="recipients.csv", min_length=1, max_length=NAME_MAX)
    """Key holding the file: CSV text under data, or any file under binaryData (XLSX, or
    CSV in an encoding other than UTF-8)."""


class FileFormat(StrEnum):
    AUTO = "Auto"
    CSV = "Csv"
    XLSX = "Xlsx"


ENCODING_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
AUTO_ENCODING = "Auto"


class UrlSource(HeraldModel):
    """A recipient file fetched over HTTP(S)."""

    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    """http:// or https:// address of the file."""
    headers_secret_ref: LocalObjectReference | None = None
    """Secret whose keys are sent as HTTP headers (e.g. Authorization)."""


class VariableType(StrEnum):
    """How the audience filter sees a column's value (templates always get its text)."""

    STRING = "String"
    INT = "Int"
    DECIMAL = "Decimal"
    BOOL = "Bool"
    DATE = "Date"
    TIMESTAMP = "Timestamp"
    LIST = "List"


class ColumnVariable(HeraldModel):
    """A variable taken from a column, with the type the filter sees it as."""

    name: str = Field(min_length=1, max_length=64, pattern=VARIABLE_NAME_PATTERN)
    """The variable, as templates ({name}) and the filter (vars.name) use it."""
    value: str = Field(default="", max_length=SHORT_TEXT_MAX)
    """The column holding it."""
    type: VariableType = VariableType.STRING
    """What the filter sees: String; Int (42, 42.0); Decimal (3.5); Bool (true/false,
    yes/no, 1/0, 是/否); Date (2026-12-01, 2026/12/01, 20261201: midnight in
    schedule.timeZone); Timestamp (ISO 8601; without an offset, in schedule.timeZone);
    List (items separated by ; or |). A value that does not convert, or a row on which
    the filter errors, is counted invalid with reason FilterError; an empty cell leaves
    the variable out (`has(vars.name)` tells)."""


class ColumnMapping(HeraldModel):
    """Which columns of the source hold what."""

    phone: str = Field(default="phone", min_length=1, max_length=64)
    """Column with the phone number. A file whose header lacks it fails the import, with
    the columns it has named."""
    time_zone: str = Field(default="", max_length=64)
    """Column with the recipient's IANA time zone (e.g. Asia/Shanghai), which times its
    quiet hours and, with sendWindow.timeZoneSource Recipient, its send window. A row
    whose cell is empty or not an IANA zone is timed by its number's zone instead
    (counted UnknownZone in status.timeZoneSources when the cell is not a zone)."""
    variables: list[ColumnVariable] = Field(
        default_factory=list, max_length=32, json_schema_extra=list_map("name")
    )
    """Template variables from columns: name is the variable, value the column, type
    what the filter sees. Empty: every column but the phone's, as a String."""


IMPORTERS_MAX = 16
"""spec.audience.importers at most."""


class Audience(HeraldModel):
    """The recipients: exactly one source, how to read it, and whom to keep."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "[has(self.inline), has(self.configMapRef), has(self.secretRef),"
                " has(self.url), has(self.redisKey)].filter(x, x).size() == 1",
                "set exactly one of inline, configMapRef, secretRef, url, redisKey",
            ),
            (
                "self.format != 'Csv' || self.sheet == ''",
                "sheet names a worksheet of an XLSX file: leave it empty with format Csv",
            ),
        )
    )

    inline: list[InlineRecipient] | None = Field(default=None, max_length=INLINE_RECIPIENTS_MAX)
    """Recipients listed here (up to 1000)."""
    config_map_ref: ObjectKeyReference | None = None
    """A CSV or XLSX file in a ConfigMap key (an XLSX file, or a CSV that is not UTF-8,
    goes under binaryData). The operator waits, AudienceNotFound, while the ConfigMap or
    its key does not exist."""
    secret_ref: ObjectKeyReference | None = None
    """The same in a Secret key, for lists that are personal data."""
    url: UrlSource | None = None
    """A CSV or XLSX file over HTTP(S)."""
    redis_key: str | None = Field(default=None, min_length=1, max_length=512)
    """An existing key in Herald's Redis: a list or set of numbers, or a stream whose
    entries are rows (the field columns.phone names holds the number; the other fields
    are the row's variables)."""
    format: FileFormat = FileFormat.AUTO
    """Format of the configMapRef, secretRef or url file. Auto: told by its first bytes
    (an XLSX file is a ZIP archive; anything else is read as CSV). Csv or Xlsx: the file
    must be one; a file that is not fails the import, saying what it is."""
    sheet: str = Field(default="", max_length=31)
    """Worksheet of an XLSX file to read, by name; empty: the first one. Its first row
    that is not empty is the header. Number cells are read as written (13800138000,
    never 1.38E+10); dates as ISO 8601; formulas as their last computed value."""
    encoding: str = Field(default=AUTO_ENCODING, min_length=1, max_length=64,
                          pattern=ENCODING_PATTERN)
    """Text encoding of a CSV file: Auto, or a Python codec name (gb18030, big5, utf-16,
    shift_jis, cp1252, ...). Auto: a byte order mark, else UTF-8 when the first 64 KiB
    read as UTF-8, else detected from them (GB18030, Big5, UTF-16, Shift_JIS, EUC-KR,
    Windows code pages). An unknown name stops the campaign before it imports
    (UnknownEncoding). A row with bytes the encoding cannot decode is counted invalid
    (Undecodable), never sent with replacement characters; a file whose first lines
    mostly cannot be decoded fails the import. Not used for XLSX, which names its own."""
    columns: ColumnMapping = Field(default_factory=ColumnMapping)
    """Column mapping for CSV and XLSX files and Redis streams."""
    importers: int = Field(default=1, ge=1, le=IMPORTERS_MAX)
    """Importer pods that import the list at once (an Indexed Job): each reads every
    row and normalises, dedupes and queues every importers-th batch of 1,000 rows, and
    each resumes on its own after a crash; the counts are one importer's, though of a
    number listed twice the row queued (its variables) may be another. Worth it past a few hundred
    thousand rows of CSV (one importer takes 50,000-90,000 rows a second); an XLSX is
    parsed whole by each pod, so more importers gain it less."""
    default_region: str = Field(default="", max_length=2, pattern=r"^([A-Z]{2})?$")
    """ISO 3166-1 country for numbers written without +country code, e.g. CN."""
    filter: str = Field(default="", max_length=4096)
    """CEL expression over `vars` (the recipient's variables, typed by columns.variables);
    recipients for whom it is false are skipped (suppressed, Filtered), e.g.
    `vars.city == "Shanghai" && age(vars.born) >= 18`. Beside CEL's own: `now` and
    `today` (timestamps; today is midnight in schedule.timeZone), `age(date)` in whole
    years, `daysUntil(date)`, `daysToAnniversary(date)` (0 on the day, for birthdays and
    renewals), `month(date)` 1-12 and `day(date)` 1-31 in schedule.timeZone. Compiled
    and type-checked against typed sample values when the Campaign is applied: an error
    is Ready False, InvalidFilter, before any import. Empty keeps everyone."""


class DayOfWeek(StrEnum):
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"
    SUNDAY = "Sunday"


class TimeZoneSource(StrEnum):
    CAMPAIGN = "Campaign"
    RECIPIENT = "Recipient"


class SendWindow(HeraldModel):
    """Hours of the day when messages may be sent; outside them sending waits."""

    model_config = ConfigDict(
        json_schema_extra=validations(("self.start < self.end", "start must be before end")),
    )

    start: str = Field(default="09:00", pattern=CLOCK_PATTERN, max_length=5)
    """Opening time, HH:MM, 24-hour clock."""
    end: str = Field(default="21:00", pattern=CLOCK_PATTERN, max_length=5)
    """Closing time, HH:MM, after start (a window does not cross midnight)."""
    days: list[DayOfWeek] = Field(default_factory=list, max_length=7)
    """Days when sending is allowed; empty means every day."""
    time_zone_source: TimeZoneSource = TimeZoneSource.CAMPAIGN
    """Campaign: the window is in schedule.timeZone, for every recipient; outside it the
    sender pods are stopped. Recipient: each recipient's own zone, from the
    audience's columns.timeZone when its row names a zone, else the one its number's
    prefix places it in (phonenumbers), else (a country or range spanning several zones)
    schedule.timeZone; status.timeZoneSources counts which. A message outside its
    window waits in Redis (counted waiting) and goes when the window opens, on the
    recipient's wall clock, DST included."""


class QuietHours(HeraldModel):
    """Hours of each recipient's night when nothing is sent: on the recipient's own wall
    clock (its zone found as for sendWindow.timeZoneSource Recipient), whatever the
    send window's zone. A message due in them waits in Redis (counted waiting) and goes
    when they end."""

    start: str = Field(default="21:00", pattern=CLOCK_PATTERN, max_length=5)
    """When they begin, HH:MM, 24-hour clock."""
    end: str = Field(default="08:00", pattern=CLOCK_PATTERN, max_length=5)
    """When they end, HH:MM; before start, they run past midnight (21:00-08:00). Equal to
    start: no quiet hours (for marketing, only where the law allows it)."""


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class Schedule(HeraldModel):
    """When the campaign runs."""

    model_config = ConfigDict(json_schema_extra=validations((
        "(self.recurrence == '') == (oldSelf.recurrence == '')",
        "a campaign cannot turn recurring or one-shot: create another Campaign",
    )))

    start_time: datetime | None = None
    """Earliest start (RFC 3339). Empty: as soon as the campaign is ready. With
    recurrence: the first tick at or after it."""
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)
    """IANA time zone for the send window and recurrence, e.g. Asia/Shanghai."""
    send_window: SendWindow | None = None
    """Allowed sending hours. Empty: any time."""
    quiet_hours: QuietHours | None = None
    """Hours of the recipient's night when nothing is sent. Empty: for a campaign with a
    Marketing template, the operator's default (21:00-08:00 unless the install sets
    another, Helm value operator.marketingQuietHours); none for other campaigns."""
    recurrence: str = Field(default="", max_length=128, pattern=CRON_PATTERN + "|^$")
    """Cron expression (minute hour day-of-month month day-of-week, or @daily and the
    like) on the wall clock of timeZone, e.g. "0 10 * * 1": each tick starts a new run,
    a CampaignRun owned by this Campaign with its own counters and phase, which imports
    the audience afresh (the same dedupe and caps apply). A wall-clock time skipped by a
    DST change runs as many minutes after the change as it lay after the skipped hour's
    start (02:30 becomes 03:30); one that occurs twice runs once, at its first occurrence.
    With startTime, the first tick at or after it. An expression that does not parse is
    Ready False, reason InvalidSchedule, and no run starts. Empty: the campaign runs once."""
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.FORBID
    """With recurrence, what a tick does while an earlier run is still active. Forbid:
    the tick is skipped (Event RunSkipped). Replace: the active runs are cancelled and
    the new one starts. Allow: runs overlap."""
    starting_deadline_seconds: int | None = Field(default=None, ge=0, le=31 * 24 * 3600)
    """With recurrence, how late a run may start after its tick (the operator was down,
    or the campaign was paused then): within it the run starts late, past it the tick is
    skipped (Event MissedSchedule). After a long outage only the latest missed tick is
    considered, as a CronJob does. Empty: a missed tick starts however late."""
    successful_runs_history_limit: int = Field(default=3, ge=0, le=100)
    """With recurrence, how many Completed runs to keep (older ones are deleted)."""
    failed_runs_history_limit: int = Field(default=1, ge=0, le=100)
    """With recurrence, how many Failed or Cancelled runs to keep."""


class CampaignRateLimit(HeraldModel):
    """The campaign's own cap, applied below each channel's limit."""

    messages_per_second: int = Field(ge=1, le=100000)
    """Most messages per second this campaign sends, over all its senders."""


class FrequencyCapScope(StrEnum):
    NAMESPACE = "Namespace"
    CATEGORY = "Category"


class FrequencyCap(HeraldModel):
    """Most messages one number receives in a sliding period from the campaigns of this
    namespace that set a frequencyCap, this one included. Each such campaign records every
    message it sends in the number's ledger (in Redis, shared by all their sender pods)
    and checks its own cap there: a message goes out only if the number got fewer than
    maxMessages counted messages in the last periodHours; else it is not sent and is
    counted capped. Campaigns without a frequencyCap are neither counted nor capped, and
    other namespaces keep ledgers of their own. A message is charged as its turn to go
    out comes (before its submit_sm) and refunded if the SMSC refuses it for good; one
    that went out counts whatever its receipt says. A long message counts once."""

    max_messages: int = Field(ge=1, le=1000)
    """Messages allowed per number in the period, this one included."""
    period_hours: int = Field(ge=1, le=8760)
    """Length of the sliding period in hours, up to the moment a message is charged (by
    the Redis server's clock)."""
    scope: FrequencyCapScope = FrequencyCapScope.NAMESPACE
    """Which recorded messages count against this cap. Namespace: every message a capped
    campaign of the namespace sent the number. Category: only those whose template has
    the same category (Marketing, Notification, Verification) as the message being sent,
    so marketing can be held to a few a week without holding back verification codes."""


class SuppressionList(HeraldModel):
    """Numbers never to send to (a do-not-contact list, complaints, staff), from one
    source: a CSV or XLSX file, in any encoding, read as audience files are, with the
    numbers in its `column`."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "[has(self.configMapRef), has(self.secretRef), has(self.url)]"
                ".filter(x, x).size() == 1",
                "a suppression list takes exactly one of configMapRef, secretRef or url",
            ),
        )
    )

    name: str = Field(min_length=1, max_length=63, pattern=VARIANT_NAME_PATTERN)
    """Name of the list, in its messages (a missing list, a list that cannot be read);
    status counts every list's numbers together, under reason SuppressionList."""
    config_map_ref: ObjectKeyReference | None = None
    """A ConfigMap key holding the file."""
    secret_ref: ObjectKeyReference | None = None
    """A Secret key holding the file."""
    url: str | None = Field(default=None, min_length=1, max_length=2048, pattern=r"^https?://")
    """The file over HTTP(S), fetched without credentials."""
    column: str = Field(default="phone", min_length=1, max_length=64)
    """Column with the numbers. Numbers are read as the audience's are (its
    defaultRegion); rows that hold no valid number are skipped."""


class Compliance(HeraldModel):
    """Opt-out, frequency and duplicate rules."""

    respect_opt_outs: bool = True
    """Skip numbers that opted out, at import and again before each submit. The opt-out
    list is shared by every campaign of every namespace of this Herald install (one
    Redis): a STOP to any channel holds for all. false is allowed only when every
    template of the campaign is Verification; otherwise the campaign waits, Ready False
    with reason OptOutsRequired."""
    frequency_cap: FrequencyCap | None = None
    """Cap on messages per number across the namespace's capped campaigns, checked as
    each message goes out. Empty: this campaign neither checks nor is counted."""
    dedupe: bool = True
    """Send once per number even if the audience lists it more than once."""
    suppression_lists: list[SuppressionList] = Field(
        default_factory=list, max_length=16, json_schema_extra=list_map("name"))
    """Lists of numbers never to send to in this campaign, read when it imports: a
    listed number is counted suppressed (reason SuppressionList), like the opt-outs but
    for this campaign only. A missing ConfigMap, Secret or key is said before any pod."""


class CampaignTrigger(StrEnum):
    AUDIENCE = "Audience"
    API = "Api"


class TokenSecretReference(SecretKeyReference):
    """A key of a Secret in the same namespace holding a bearer token."""

    key: str = Field(default="token", min_length=1, max_length=NAME_MAX)
    """Key within the Secret's data."""


class Ingest(HeraldModel):
    """How a trigger Api campaign takes events: who may post them, how many may wait."""

    token_secret_ref: TokenSecretReference
    """Secret key (default key `token`) holding the bearer token that posts and reads
    this campaign's messages (`Authorization: Bearer TOKEN`), at least 16 characters.
    The operator hands the ingest pods only its SHA-256; a rotated token holds within
    ten seconds. A token may read every message of its campaign. While the Secret or
    key is missing the campaign waits (IngestTokenNotFound); once it runs, no token
    is taken until it is back."""
    default_region: str = Field(default="", max_length=2, pattern=r"^([A-Z]{2})?$")
    """ISO 3166-1 country for posted numbers written without +country code, e.g. CN."""
    max_queued: int = Field(default=100000, ge=1, le=10_000_000)
    """Most messages still to send (queued, and waiting for their send window) before
    a post is refused with 429 and Retry-After (the seconds the campaign's send rate
    takes to make room)."""
    retention_seconds: int = Field(default=86400, ge=60, le=30 * 86400)
    """How long an Idempotency-Key is remembered: a post repeating it within this time
    is answered with its first message and not sent again."""


class WinnerMetric(StrEnum):
    DELIVERY_RATIO = "DeliveryRatio"
    OPT_OUT_RATIO = "OptOutRatio"
    CLICK_RATIO = "ClickRatio"


class WinnerFallback(StrEnum):
    KEEP_WEIGHTS = "KeepWeights"
    FIRST_VARIANT = "FirstVariant"


class Winner(HeraldModel):
    """An A/B test with a winner: testPercent of the audience is sent first, split by the
    variants' weights; decideAfterSeconds after those messages went, the variant with the
    best metric wins if a two-proportion test says so, and the rest of the audience gets
    the winner (status.winner and a WinnerChosen Event tell the decision)."""

    test_percent: int = Field(ge=1, le=50)
    """Percent of the audience in the test group, a share of the same whole as
    holdoutPercent (holdout 20 and test 10 leave 70% for the winner), chosen among the
    recipients not held out by a stable hash of the number of its own (independent of the
    variant). Invalid, suppressed and opted-out rows are in no group. The others wait,
    counted awaitingWinner, and go once the winner is chosen. Fixed for a run."""
    decide_after_seconds: int = Field(default=3600, ge=10, le=604800)
    """How long after the test group's senders finished to wait for its delivery receipts
    before deciding (at least 10 s, at most a week)."""
    metric: WinnerMetric = WinnerMetric.DELIVERY_RATIO
    """What makes the best variant. DeliveryRatio: delivered over test messages with a
    final outcome (delivered, failed, expired); the highest wins. OptOutRatio: recipients
    who opted out (a STOP reply to any channel, logged since the campaign started,
    status.startTime) over test messages the SMSC accepted; the lowest wins. ClickRatio:
    recipients who clicked a tracked link ({link:URL}, spec.links; previews and crawlers
    not counted) over test messages the SMSC accepted; the highest wins. Clicks come
    later than receipts: give decideAfterSeconds the time recipients take to read."""
    confidence_percent: int = Field(default=95, ge=80, le=99)
    """The best variant wins only if a two-sided two-proportion z-test against every other
    variant gives a p-value (Bonferroni-corrected for the comparisons) at most 1 -
    confidencePercent/100."""
    min_sample_per_variant: int = Field(default=100, ge=1, le=1000000)
    """Test messages each variant needs in its sample (status.winner.arms) before the
    test may pick it; with fewer in any variant the fallback applies."""
    fallback: WinnerFallback = WinnerFallback.KEEP_WEIGHTS
    """When the test picks no winner: KeepWeights (the rest goes by the variants' weights)
    or FirstVariant (the rest gets the first variant)."""
    manual: str | None = Field(default=None, min_length=1, max_length=63,
                               pattern=VARIANT_NAME_PATTERN)
    """A variant named here wins whatever the figures (reason Manual), as soon as the test
    group is sent, without waiting for decideAfterSeconds. A decision is made once: set
    after it, this changes nothing."""


class Canary(HeraldModel):
    """Send a share of the audience first, and the rest only if it went well: holdSeconds
    after the share's senders finished, its failure ratio and (if maxOptOutPercent is
    set) its opt-out ratio are judged against the thresholds. Within them, the rest goes
    (condition CanaryFailed False, reason CanaryPassed). Over one, the campaign pauses
    itself without touching spec: phase Paused, Ready reason and condition CanaryFailed
    True with the figures, and a Warning Event CanaryFailed with them. The rest waits,
    counted awaitingWinner, until a person takes the pause over: set spec.paused to true
    (after the pause: status then says reason Paused), then back to false, and the rest
    is sent. Not with winner (its test group already goes first) nor trigger Api."""

    percent: int = Field(ge=1, le=50)
    """Percent of the audience in the canary share, a share of the same whole as
    holdoutPercent, chosen among the recipients not held out by a stable hash of the
    number (the same number is in it in every run, whatever its variant or shard).
    Invalid, suppressed and opted-out rows are in no share. Fixed for a run."""
    hold_seconds: int = Field(default=300, ge=0, le=86400)
    """How long after the canary share's senders finished (each waits for receipts as it
    does at the end of any run) to wait for late receipts and opt-out replies before
    judging; at most a day."""
    max_failure_percent: int = Field(default=10, ge=0, le=100)
    """The canary fails when more than this percent of its messages with a final outcome
    (delivered, failed, expired) failed or expired, the complement of
    status.deliveryRatio; messages still awaiting a receipt, and unknown ones, are left
    out. It fails too when none has a final outcome (no receipt came at all). 100:
    never on failures."""
    max_opt_out_percent: int | None = Field(default=None, ge=0, le=100)
    """The canary fails when more than this percent of its messages the SMSC accepted
    went to recipients who opted out since the campaign started (a STOP reply to any
    channel, status.startTime on). Empty: opt-outs are not judged."""


class AutoPause(HeraldModel):
    """Pause the campaign by itself when the whole run goes badly, judged at every status
    fold once minMessages messages have a final outcome: over a threshold, it pauses
    without touching spec (the sender Jobs are suspended; phase Paused, Ready reason and
    condition AutoPaused True with the figures, and a Warning Event AutoPaused with
    them). A person resumes by taking the pause over: set spec.paused to true (after the
    pause: status then says reason Paused), then back to false. From then on the run is
    judged afresh, on the outcomes since the resume only. The same figures as the chart's
    HeraldDeliveryRatioLow alert (deliveryRatioThreshold 0.8 is maxFailurePercent 20)."""

    max_failure_percent: int = Field(default=20, ge=0, le=100)
    """Pause when more than this percent of the run's messages with a final outcome
    (delivered, failed, expired) failed or expired; unknown messages, and those awaiting
    a receipt, are left out. 100: never on failures."""
    max_opt_out_percent: int | None = Field(default=None, ge=0, le=100)
    """Pause when more than this percent of the messages the SMSC accepted went to
    recipients who opted out since the campaign started (a STOP reply to any channel);
    the operator counts them by reading the run's queues, once a minute (the operator's
    HERALD_OPT_OUT_COUNT_SECONDS). Empty: opt-outs are not judged."""
    min_messages: int = Field(default=100, ge=1, le=1000000)
    """Messages with a final outcome (for the opt-out ratio: accepted) needed before
    either ratio is judged, so that one failure among the first two does not pause."""


class CampaignLinks(HeraldModel):
    """Tracked links: each {link:URL} of the campaign's templates is sent as a short link
    of the install's links domain (the chart's links.baseUrl), one per recipient, which
    `herald links` redirects to URL, counting the recipient's clicks (status clicks and
    clickers, per variant and channel). Link previews and crawlers are redirected but not
    counted."""

    expire_after_seconds: int = Field(default=30 * 86400, ge=3600, le=366 * 86400)
    """How long a recipient's short link works from when its message was sent; after it,
    `herald links` answers 410 Gone for a day, then 404. The campaign's Redis keys (its
    clicks and counters, which the links count into) are kept until then, beyond the
    operator's retention if need be. Taken when a run starts."""


class ExportFormat(StrEnum):
    CSV = "Csv"
    PARQUET = "Parquet"


_PATH_SEGMENT = r"(?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+|\.)"
"""One part of a relative path, neither empty nor "..": the API server's regular
expressions (RE2) have no lookahead to say it more briefly."""


class ExportVolume(HeraldModel):
    """A PersistentVolumeClaim of the namespace, and the file's path on it."""

    claim_name: str = Field(min_length=1, max_length=NAME_MAX)
    """The claim, mounted read-write in the export Job's pod (ReadWriteOnce needs that
    pod scheduled where the claim is attached; ReadWriteMany anywhere)."""
    path: str = Field(default="export.csv", min_length=1, max_length=SHORT_TEXT_MAX,
                      pattern=rf"^{_PATH_SEGMENT}(?:/{_PATH_SEGMENT})*$")
    """The file's path inside the claim, relative (no leading /, no empty or .. part: it
    stays inside the claim). Written as
    PATH.partial, renamed to PATH when complete; an earlier file of that name is
    replaced."""


class ExportDestination(HeraldModel):
    """Where the export goes: a file on a PersistentVolumeClaim, or an object at an
    S3-compatible URL."""

    model_config = ConfigDict(json_schema_extra=validations(
        ("has(self.persistentVolumeClaim) != has(self.url)",
         "set exactly one of persistentVolumeClaim or url"),
        ("!has(self.url) || has(self.credentialsSecretRef)",
         "an export URL needs credentials: set credentialsSecretRef to a Secret with"
         " accessKeyId and secretAccessKey (and endpoint and region for a server not AWS's)"),
        ("has(self.url) || !has(self.credentialsSecretRef)",
         "credentialsSecretRef is for a url destination"),
    ))

    persistent_volume_claim: ExportVolume | None = None
    """A file on a claim of the namespace."""
    url: str | None = Field(default=None, max_length=MESSAGE_MAX, pattern=r"^s3://[^/]+/.+$")
    """s3://BUCKET/KEY on any S3-compatible server (AWS, MinIO, Ceph...): uploaded as a
    multipart upload while the rows are read, completed at the end (the object appears
    whole or not at all); an object of that key is replaced."""
    credentials_secret_ref: LocalObjectReference | None = None
    """A Secret of the namespace with accessKeyId and secretAccessKey, and optionally
    endpoint (the server's URL, e.g. https://minio.example:9000; empty: AWS) and region.
    Required with url."""


class CampaignExport(HeraldModel):
    """A finished campaign's per-recipient export (spec.export)."""

    model_config = ConfigDict(json_schema_extra=validations(
        ("!has(self.unmaskedSecretRef) || (has(self.destination.credentialsSecretRef)"
         " && self.destination.credentialsSecretRef.name == self.unmaskedSecretRef.name)",
         "full numbers go only to a url whose credentialsSecretRef is unmaskedSecretRef:"
         " only who can read that Secret can read the export"),
    ))

    format: ExportFormat = ExportFormat.CSV
    """Csv (UTF-8, a header row, RFC 4180 quoting, times in ISO 8601 UTC) or Parquet
    (zstd-compressed row groups of 100,000 rows; the times UTC timestamps in seconds)."""
    destination: ExportDestination
    """A file on a PersistentVolumeClaim, or an S3-compatible URL with its credentials."""
    unmasked_secret_ref: LocalObjectReference | None = None
    """Export full numbers: only to a url destination whose credentialsSecretRef names
    this same Secret, so reading the export takes reading that Secret. `kubectl herald
    export --unmasked` also checks it: it shows full numbers only to a caller whose own
    RBAC lets them read this Secret. The gate is Kubernetes RBAC: whoever can read the
    campaign's Redis can read full numbers there. Empty: numbers are masked."""


class CampaignSpec(HeraldModel):
    """What to send, to whom, through which channels, when and how fast."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "has(self.templateRef) != has(self.variants)",
                "set exactly one of templateRef or variants",
            ),
            (
                "!has(self.variants) || self.variants.map(v, v.weight).sum() == 100",
                "variant weights must sum to 100",
            ),
            (
                "!has(self.variants) || self.variants.all(v,"
                " self.variants.exists_one(w, w.name == v.name))",
                "variant names must be unique",
            ),
            (
                "self.channels.all(c, self.channels.exists_one(d, d.name == c.name))",
                "channel names must be unique",
            ),
            (
                "!has(self.variants) || self.variants.all(v, v.name != 'holdout')",
                "the variant name holdout is taken by the holdout group",
            ),
            (
                "self.trigger == 'Api' ? !has(self.audience) : has(self.audience)",
                "a trigger Api campaign takes its recipients from posted events and has no"
                " audience; any other campaign needs one",
            ),
            (
                "(self.trigger == 'Api') == has(self.ingest)",
                "ingest is the API of a trigger Api campaign: set it exactly when trigger is"
                " Api",
            ),
            (
                "self.trigger != 'Api' || self.holdoutPercent == 0",
                "a trigger Api campaign sends every posted event: holdoutPercent must be 0",
            ),
            (
                "self.trigger != 'Api' || !has(self.schedule.recurrence)"
                " || self.schedule.recurrence == ''",
                "a trigger Api campaign runs until cancelled: it has no recurrence",
            ),
            (
                "self.trigger != 'Api' || !has(self.compliance.suppressionLists)"
                " || size(self.compliance.suppressionLists) == 0",
                "suppression lists are read at import, which a trigger Api campaign has"
                " not: leave compliance.suppressionLists empty",
            ),
            (
                "!has(self.dryRun) || !self.dryRun || self.trigger != 'Api'",
                "a trigger Api campaign has no audience to plan: dryRun needs trigger"
                " Audience",
            ),
            (
                "!has(self.dryRun) || !self.dryRun || !has(self.schedule.recurrence)"
                " || self.schedule.recurrence == ''",
                "a recurring campaign plans each run in its CampaignRun's status.plan and"
                " sends it: dryRun is for a one-shot campaign",
            ),
            (
                "self.trigger != 'Api' || !has(self.winner)",
                "a trigger Api campaign sends each event as it comes: it has no test group"
                " to choose a winner from",
            ),
            (
                "!has(self.winner) || has(self.variants)",
                "winner needs variants to choose from",
            ),
            (
                "!has(self.winner) || (has(self.holdoutPercent) ? self.holdoutPercent : 0)"
                " + self.winner.testPercent < 100",
                "holdoutPercent + winner.testPercent must leave part of the audience for"
                " the winner (below 100)",
            ),
            (
                "!has(self.winner) || !has(self.winner.manual) || (has(self.variants)"
                " && self.variants.exists(v, v.name == self.winner.manual))",
                "winner.manual must name one of the variants",
            ),
            (
                "!has(self.canary) || !has(self.winner)",
                "canary and winner both send a first share: set one of them",
            ),
            (
                "!has(self.canary) || self.trigger != 'Api'",
                "a trigger Api campaign sends each event as it comes: it has no audience"
                " to send a canary share of",
            ),
            (
                "!has(self.canary) || (has(self.holdoutPercent) ? self.holdoutPercent : 0)"
                " + self.canary.percent < 100",
                "holdoutPercent + canary.percent must leave part of the audience for the"
                " rest (below 100)",
            ),
        )
    )

    template_ref: LocalObjectReference | None = None
    """The Template to send (or use variants)."""
    variants: list[Variant] | None = Field(
        default=None, min_length=2, max_length=10, json_schema_extra=list_map("name")
    )
    """A/B variants with weights summing to 100 (or use templateRef)."""
    holdout_percent: int = Field(default=0, ge=0, le=50)
    """Percent of the audience held out: chosen by a stable hash of the number (the same
    number is held out in every run, independently of its variant), recorded and never
    sent, as the baseline a campaign's lift is measured against. Counted `holdout`, and
    as the `holdout` row of status.variants."""
    winner: Winner | None = None
    """Test the variants on part of the audience, then send the rest the winner. Only
    with variants. Empty: every recipient gets its weighted variant."""
    canary: Canary | None = None
    """Send percent of the audience first; holdSeconds after those senders finished,
    judge them: within maxFailurePercent and maxOptOutPercent the rest goes (condition
    CanaryFailed False, a CanaryPassed Event); over one, the campaign pauses itself
    without touching spec (phase Paused, Ready reason and condition CanaryFailed True,
    a Warning CanaryFailed Event and status.canary with the figures) and the rest waits,
    counted awaitingWinner. To send it anyway, set paused to true (after the pause; the
    Ready reason turns Paused), then back to false. Not with winner nor trigger Api.
    Removed once the share went, the share is still judged, by the default thresholds
    (holdSeconds 300, maxFailurePercent 10, opt-outs not judged). Empty: the whole
    audience goes at once."""
    auto_pause: AutoPause | None = None
    """Pause the campaign by itself when the run's failure or opt-out ratio passes a
    threshold (once minMessages count): the sender Jobs are suspended without touching
    spec (phase Paused, Ready reason and condition AutoPaused True, a Warning AutoPaused
    Event and status.autoPause with the figures). To resume, set paused to true (after
    the pause; the Ready reason turns Paused), then back to false; from then on only
    what comes after is judged. Empty: it never pauses by itself."""
    channels: list[ChannelRef] = Field(min_length=1, max_length=8)
    """Channels in order of preference: the import routes each recipient to the first
    that serves its number (the Channel's spec.routing) and is Ready when the run starts
    (a number only channels not Ready serve waits for the first of them), and each
    channel sends its share at its own rate. Later ones take over: a message
    that exhausts its retries (the Channel's retry.failOver), or the queue of a channel
    not Ready for its retry.failoverAfterSeconds, moves to the next channel that serves
    the number."""
    trigger: CampaignTrigger = CampaignTrigger.AUDIENCE
    """Audience: send once to the audience, imported when the campaign starts. Api: send
    one message per event posted to the ingest API (POST
    /v1/namespaces/NS/campaigns/NAME/messages, see docs/ingest.md) from when the campaign
    starts until it is cancelled; it never completes by itself. Cannot be changed once
    the campaign runs."""
    ingest: Ingest | None = None
    """The ingest API's settings; required with trigger Api, absent otherwise."""
    audience: Audience | None = None
    """Recipients; required unless trigger is Api."""
    schedule: Schedule = Field(default_factory=Schedule)
    """Start time, send window, quiet hours, recurrence."""
    rate_limit: CampaignRateLimit | None = None
    """Campaign cap below the channels' limits."""
    senders: int = Field(default=1, ge=1, le=64)
    """Sender pods running at once (one shard each)."""
    compliance: Compliance = Field(default_factory=Compliance)
    """Opt-out, frequency and duplicate rules."""
    links: CampaignLinks = Field(default_factory=CampaignLinks)
    """Tracked links ({link:URL} in a template): how long they work."""
    export: CampaignExport | None = None
    """Every queued recipient's result, written once the campaign finished (Completed,
    Failed or Cancelled) by an export Job (`herald export`): one row a recipient the
    import queued (not the rows it dropped as invalid, suppressed, duplicate or
    unroutable, nor the holdout group: status.counters counts those), with its
    number (masked, e.g. +86*******8000, unless unmaskedSecretRef), variant, channel,
    state (as status.counters names it: delivered, failed, queued, awaitingWinner...),
    error code (a failure's SMSC command_status or receipt error, a capped message's
    cap), segments (the parts the SMSC accepted), submitted (when the SMSC accepted it)
    and done (when it reached its final state) times, first click time and clicks, and
    its message key; what the run did not see is empty (no submit time for a message
    the SMSC never took or whose submit went unanswered, no done time before it is
    final). A message failed over to another channel is one row, on the
    channel it ended on. The run's Redis keys are kept past the operator's retention
    until the export is written or its Job failed for good; status.export says where it
    went and how many rows. The export starts as soon as the campaign finished:
    receipts that come after it are not in it. Set on a finished campaign whose run's
    keys are still in Redis, it is written then; once written, a change writes no second
    export. Empty: no export (`kubectl herald export` still makes one while the
    run's Redis keys last)."""
    dry_run: bool = False
    """Import the audience and stop at the pre-send plan (status.plan: audience, messages,
    segments, estimated cost, ETA), phase Planned, Ready False with reason DryRun: no
    sender Job is created and no message is sent. The import waits for
    schedule.startTime, not for the send window. Set back to false, the campaign sends
    the run it imported, without importing again: the recipients the plan counted. It
    applies until sending starts; set true once the sender Job exists, it changes
    nothing (pause with paused). Not with trigger Api (no audience to plan) nor with
    recurrence (each run's CampaignRun shows its plan, and sends it)."""
    paused: bool = False
    """Suspend sending; set back to false to resume where it stopped. A campaign that
    paused itself (canary, autoPause: status says CanaryFailed or AutoPaused) resumes when
    this is set to true after the pause and then back to false. A recurring
    campaign pauses its active runs and starts none while paused (its ticks then count
    as missed, see schedule.startingDeadlineSeconds)."""
    cancel: bool = Field(
        default=False,
        json_schema_extra=validations(
            ("self || !oldSelf", "a cancelled campaign cannot be resumed")
        ),
    )
    """Stop for good: unsent messages are counted cancelled. Cannot be undone. A
    recurring campaign cancels its active runs and starts no more."""


class CampaignPhase(StrEnum):
    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    IMPORTING = "Importing"
    RUNNING = "Running"
    PAUSED = "Paused"
    PLANNED = "Planned"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class Counters(HeraldModel):
    """Message counts by state, and the running totals sent and segmentsSubmitted."""

    total: int = 0
    """Rows in the audience."""
    invalid: int = 0
    """Rows whose number could not be parsed or is not a valid mobile number."""
    suppressed: int = 0
    """Dropped at import by dedupe, the filter or a suppression list."""
    opted_out: int = 0
    """Skipped because the number opted out."""
    holdout: int = 0
    """Held out of the campaign by holdoutPercent: recorded, never sent."""
    unroutable: int = 0
    """Valid numbers no channel of the campaign serves (each Channel's spec.routing):
    never sent; status.unroutableCountries gives their countries. Routing comes before
    dedupe, the filter and opt-outs, so a number listed twice counts twice here."""
    awaiting_winner: int = 0
    """Beyond spec.winner.testPercent: held in Redis until the winner is chosen, then
    queued with the winner's template (or their own variant's, by the fallback). With
    spec.canary: beyond the canary share, held until it passed (or a person resumed the
    campaign it paused), then queued with their own variants."""
    capped: int = 0
    """Not sent: the number had reached compliance.frequencyCap when its turn came (each
    such message's state records the cap it met)."""
    queued: int = 0
    """Waiting to be sent."""
    waiting: int = 0
    """Held in Redis until their recipient's send window opens or quiet hours end
    (status.nextWindowTime says when the next opens)."""
    submitted: int = 0
    """Accepted by the SMSC, receipt not yet in (for a long message: not every part's)."""
    delivered: int = 0
    """Receipt says delivered (for a long message: every part's)."""
    failed: int = 0
    """Refused by the SMSC, not renderable, or a receipt says undeliverable or rejected
    (for a long message: any part's, even if the others' are not in)."""
    expired: int = 0
    """Receipt says expired (for a long message: a part's, and no part failed)."""
    unknown: int = 0
    """On the wire when a bind dropped or its sender was killed, so the SMSC may or may
    not have taken it; after a kill, also those marked to go next (at most a window a
    bind), which cannot be told from them."""
    cancelled: int = 0
    """Not sent because the campaign was cancelled."""
    sent: int = 0
    """Messages the SMSC accepted so far (every part), whatever their receipts said since:
    submitted, delivered, expired, failed by receipt, and unknown ones a receipt proved
    accepted. A running total, never lower than before; not one of the states above."""
    failed_over: int = 0
    """Messages moved to a later channel so far (spec.channels): a running total, not a
    state; status.channels[] counts them under the channel they left."""
    segments_submitted: int = 0
    """submit_sm the SMSC accepted so far: a message of three parts counts three, and a
    part accepted twice (its message was resent after another part was refused) twice.
    What carriers bill. A running total, not one of the states above."""
    clicks: int = 0
    """Clicks on the messages' tracked links ({link:URL}, spec.links) so far, link
    previews and crawlers not counted: a running total, not a state."""
    clickers: int = 0
    """Recipients who clicked one of their links at least once (unique clicks)."""


class ErrorCount(HeraldModel):
    """An SMPP error code and how often it was seen."""

    code: str = Field(max_length=32)
    """command_status in hex (0x00000058) or the receipt's err: value."""
    name: str = Field(default="", max_length=64)
    """Symbolic name, e.g. ESME_RTHROTTLED."""
    count: int
    """Occurrences."""


class Breakdown(HeraldModel):
    """Counters for one variant or channel."""

    name: str
    """Variant or channel name."""
    counters: Counters
    """Its message counts."""
    top_errors: list[ErrorCount] = Field(default_factory=list, max_length=5)
    """A channel's most frequent failure codes, most first (the campaign's are
    status.topErrors); empty for a variant."""


class CountryCount(HeraldModel):
    """How many numbers of one country."""

    country: str = Field(max_length=2)
    """ISO 3166-1 alpha-2 region of the numbers; ZZ for numbers of no country."""
    count: int
    """Numbers."""


class CountryErrors(HeraldModel):
    """The failures of one country's numbers."""

    country: str = Field(max_length=2)
    """ISO 3166-1 alpha-2 region of the numbers; ZZ for numbers of no country."""
    failed: int
    """Messages to its numbers that failed (at submit, by receipt, or never sent: render,
    NoSendTime)."""
    top_errors: list[ErrorCount] = Field(default_factory=list, max_length=5)
    """Its most frequent failure codes, most first."""


class ReasonCount(HeraldModel):
    """How many rows were dropped for one reason."""

    reason: str = Field(max_length=128)
    """CamelCase reason, e.g. InvalidNumber."""
    count: int
    """Rows."""


class PlanCountry(HeraldModel):
    """One country's share of a channel in the plan."""

    country: str = Field(max_length=2)
    """ISO 3166-1 alpha-2 region of the numbers (phonenumbers); ZZ for none."""
    messages: int = 0
    """Messages to numbers of this country routed to the channel."""
    segments: int = 0
    """Their estimated segments (as the plan's)."""
    price_per_segment: str | None = None
    """The Channel's price of a segment to this country (its pricing.countries entry,
    else pricing.pricePerSegment); empty: unpriced."""
    estimated_cost: str | None = None
    """segments x pricePerSegment, in the channel's currency, rounded to 1/10000;
    empty when unpriced."""


class PlanChannel(HeraldModel):
    """One channel's share of the plan."""

    name: str
    """Channel name."""
    messages: int = 0
    """Messages the import routed to this channel."""
    segments: int = 0
    """Their estimated segments, measured on this channel's smpp.gsm7Coding."""
    segments_per_second: int = 0
    """The channel's rateLimit.messagesPerSecond (each segment takes a token) as the run
    took it; less when every address of its smpp.sourceAddresses has a messagesPerSecond
    and they add up to less."""
    estimated_cost: str | None = None
    """The sum over its priced countries, in currency; empty without pricing."""
    currency: str | None = None
    """The Channel's pricing.currency."""
    unpriced_countries: list[str] = Field(
        default_factory=list, max_length=250,
        json_schema_extra={"items": {"type": "string", "maxLength": 2}})
    """Countries of its messages the Channel's pricing prices not: left out of
    estimatedCost."""
    countries: list[PlanCountry] = Field(
        default_factory=list, max_length=250, json_schema_extra=list_map("country"))
    """Its messages by country of the number, with their cost."""


class PlanVariant(HeraldModel):
    """One A/B variant's share of the plan."""

    name: str
    """Variant name."""
    messages: int = 0
    """Recipients the import gave this variant (the holdout group is not one)."""
    segments_per_message: int = 0
    """Segments of its Template's preview (status.preview: the body with each
    variable's example, signature and opt-out text) on the first channel's gsm7Coding."""
    segments: int = 0
    """Its estimated segments over every channel (each measured on its own coding)."""


class PresendPlan(HeraldModel):
    """What the run will send, worked out once the import is done and before the first
    submit. Until the campaign finishes it is worked out again from the import's counts
    with the current rateLimit, send window and Channel prices (counted from `time`, so
    it changes only when one of those does, or when messages fail over: each channel's
    share follows them to the channel that sends them); after, it stays as it was."""

    time: datetime
    """When the plan was made: the ETA counts from then (or from when sending starts,
    for a dryRun campaign set to send)."""
    rows: int = 0
    """Rows the audience source held."""
    audience: int = 0
    """Recipients to send to: the rows left after invalid numbers, dedupe, the filter,
    suppression lists, opt-outs, the holdout group and numbers no channel serves.
    compliance.frequencyCap, checked as each message goes out, may still skip some."""
    messages: int = 0
    """Messages to send: one a recipient."""
    segments: int = 0
    """Estimated submit_sm: each message counted as the segments of its template's
    rendered preview (status.preview of the Template) on its channel's gsm7Coding.
    Recipients' own variable values may make a message longer or shorter. A winner
    campaign's rest is counted with the variants' weights."""
    estimated_cost: str | None = None
    """The channels' estimatedCost summed, a decimal string in currency; empty when no
    channel is priced or their currencies differ. Leaves out unpriced countries (each
    channel's unpricedCountries)."""
    currency: str | None = None
    """ISO 4217 currency of estimatedCost."""
    segments_per_second: int = 0
    """The effective rate: the lower of rateLimit.messagesPerSecond and the sum of the
    rate limits of the channels with messages, each channel sending its own share at
    most at its own rate."""
    eta: datetime | None = None
    """When the last segment would go: segments at the effective rate (each channel's
    share at its own rate at most; with spec.winner, the test group's share first, then
    decideAfterSeconds, then the rest), from time, counting only the hours the send window
    and quiet hours leave open in schedule.timeZone (quiet hours are timed in the
    campaign's zone here, not each recipient's). Assumes no other campaign shares the
    channels and no throttling or retries; empty when the window never opens."""
    variants: list[PlanVariant] = Field(default_factory=list,
                                        json_schema_extra=list_map("name"))
    """Messages and segments per variant (spec.variants; empty with templateRef)."""
    channels: list[PlanChannel] = Field(default_factory=list,
                                        json_schema_extra=list_map("name"))
    """Messages, segments and cost per channel."""
    message: str = Field(default="", max_length=MESSAGE_MAX)
    """The plan in words, with what its estimate leaves out."""


class WinnerReason(StrEnum):
    SIGNIFICANT = "Significant"
    FALLBACK = "Fallback"
    MANUAL = "Manual"


class ArmFigures(HeraldModel):
    """One variant's figures in the A/B test."""

    name: str
    """Variant name."""
    sample: int = 0
    """Test messages with a final outcome (delivered, failed or expired) for
    DeliveryRatio; accepted by the SMSC for OptOutRatio."""
    count: int = 0
    """Of those, delivered (DeliveryRatio) or opted out since (OptOutRatio)."""
    ratio: str | None = None
    """count over sample, to one decimal, e.g. "97.4%"; empty while sample is 0."""


class WinnerStatus(HeraldModel):
    """The A/B test's decision (spec.winner), or its figures while it waits."""

    variant: str = ""
    """The winning variant, which the rest of the audience gets; empty before the decision
    and when the fallback KeepWeights applies (the rest goes by weight)."""
    reason: WinnerReason | None = None
    """Significant (the test picked it), Fallback (it did not: spec.winner.fallback
    applies) or Manual (spec.winner.manual); empty before the decision."""
    metric: WinnerMetric = WinnerMetric.DELIVERY_RATIO
    """The metric the variants are compared by."""
    p_value: str | None = None
    """The test's p-value (Bonferroni-corrected), e.g. "0.0123"; empty when no test ran."""
    arms: list[ArmFigures] = Field(default_factory=list, json_schema_extra=list_map("name"))
    """Each variant's test figures, as decided on (live while waiting)."""
    decision_time: datetime | None = None
    """When the winner was chosen; before that, when it will be."""
    message: str = Field(default="", max_length=MESSAGE_MAX)
    """The decision in words."""


class GuardFigures(HeraldModel):
    """The figures a canary or autoPause judgement was made on."""

    final: int = 0
    """Messages with a final outcome: delivered, failed or expired."""
    failed: int = 0
    """Of those, failed or expired."""
    failure_ratio: str | None = None
    """failed over final, to one decimal, e.g. "30.2%"; empty while final is 0."""
    sent: int = 0
    """Messages the SMSC accepted (counters.sent)."""
    opted_out: int | None = None
    """Of their recipients, those who opted out since the campaign started; empty when
    opt-outs are not judged (maxOptOutPercent empty)."""
    opt_out_ratio: str | None = None
    """optedOut over sent, to one decimal; empty when not judged or sent is 0."""


class GuardResult(StrEnum):
    PASSED = "Passed"
    FAILED = "Failed"


class GuardStatus(HeraldModel):
    """A canary's judgement (spec.canary) or the last autoPause trip (spec.autoPause)."""

    result: GuardResult | None = None
    """Passed or Failed; empty while a canary waits for its judgement."""
    reason: str = ""
    """Why: CanaryPassed, FailureRatioExceeded, OptOutRatioExceeded or NoFinalOutcome."""
    figures: GuardFigures = Field(default_factory=GuardFigures)
    """The figures judged (a canary's, live while it waits)."""
    decision_time: datetime | None = None
    """When it was judged; while a canary waits, when it will be."""
    generation: int | None = None
    """The Campaign's metadata.generation when it was judged: spec.paused set true at a
    later generation takes a pause over."""
    resumed: bool = False
    """A person took the pause over (spec.paused set to true after it): the campaign
    goes on when spec.paused is false."""
    message: str = Field(default="", max_length=MESSAGE_MAX)
    """The judgement in words, with the figures and the thresholds."""


class RunReference(HeraldModel):
    """One CampaignRun of a recurring campaign."""

    name: str
    """The CampaignRun's name."""
    phase: CampaignPhase | None = None
    """Its phase."""
    scheduled_time: datetime | None = None
    """The tick it runs for."""
    completion_time: datetime | None = None
    """When it finished."""


class ExportStatus(HeraldModel):
    """The per-recipient export (spec.export)."""

    location: str = ""
    """Where it was written: the claim and path (pvc://CLAIM/PATH) or the s3:// URL."""
    format: ExportFormat | None = None
    """Csv or Parquet, as spec.export.format said."""
    rows: int | None = None
    """Recipients written."""
    unmasked: bool = False
    """Full numbers (spec.export.unmaskedSecretRef), else masked."""
    completion_time: datetime | None = None
    """When the export was complete; empty while its Job runs."""
    error: str = ""
    """Why its last attempt failed; its Job retries, and after its backoffLimit the
    campaign's Redis keys go after the retention without an export."""


class CampaignStatus(HeraldModel):
    """Progress and delivery statistics, folded from Redis at a bounded rate."""

    observed_generation: int | None = None
    """The metadata.generation this status describes."""
    phase: CampaignPhase | None = None
    """For display; derived from the conditions."""
    counters: Counters | None = None
    """Message counts by state."""
    progress_percent: int | None = None
    """Share of sendable messages that reached a final state or the SMSC."""
    submit_rate_per_second: int | None = None
    """Submit rate over the last fold interval."""
    delivery_ratio: str | None = None
    """Delivered over the messages with a final outcome: delivered / (delivered + failed
    + expired), to one decimal, e.g. "97.4%". Failed includes messages the SMSC refused at
    submit. Unknown messages, and those still awaiting a receipt (submitted), are left
    out until a receipt settles them. Empty until one message has a final outcome."""
    variants: list[Breakdown] = Field(default_factory=list, json_schema_extra=list_map("name"))
    """Counters per A/B variant."""
    winner: WinnerStatus | None = None
    """The A/B test's winner (spec.winner): its figures while it waits, then the decision."""
    canary: GuardStatus | None = None
    """The canary's judgement (spec.canary): its figures while it waits, then Passed or
    Failed."""
    export: ExportStatus | None = None
    """The per-recipient export (spec.export): where it went and how many rows."""
    auto_pause: GuardStatus | None = None
    """The last time spec.autoPause paused the campaign, with the figures; empty while it
    never did."""
    channels: list[Breakdown] = Field(default_factory=list, json_schema_extra=list_map("name"))
    """Counters per channel."""
    top_errors: list[ErrorCount] = Field(default_factory=list)
    """Most frequent error codes."""
    errors_by_country: list[CountryErrors] = Field(
        default_factory=list, max_length=10, json_schema_extra=list_map("country"))
    """The countries whose numbers failed most (at most 10), with their top error codes:
    a carrier refusing one country's numbers shows here before it shows in the total."""
    invalid_reasons: list[ReasonCount] = Field(default_factory=list)
    """Why rows were dropped at import."""
    unroutable_countries: list[CountryCount] = Field(default_factory=list,
                                                     json_schema_extra=list_map("country"))
    """The countries of the unroutable numbers, most first: which Channel's routing to
    widen, or which channel to add."""
    time_zone_sources: list[ReasonCount] = Field(default_factory=list)
    """Where recipients' time zones came from, for quiet hours and per-recipient send
    windows: ZoneFromColumn (columns.timeZone), ZoneFromNumber (its prefix),
    CampaignZone (neither gave a single zone: schedule.timeZone), and UnknownZone (the
    row's column held no IANA zone; also counted under where its zone came from)."""
    plan: PresendPlan | None = None
    """The pre-send plan (spec.dryRun stops at it): audience, segments, estimated cost
    and ETA, once the import is done; empty for a trigger Api campaign."""
    next_window_time: datetime | None = None
    """When the next waiting message's window opens (send window or end of quiet
    hours). Empty while none waits."""
    start_time: datetime | None = None
    """When sending started."""
    completion_time: datetime | None = None
    """When the campaign reached Completed, Failed or Cancelled."""
    next_run_time: datetime | None = None
    """Next tick of a recurring campaign; empty while paused, cancelled or invalid."""
    last_schedule_time: datetime | None = None
    """The latest tick a recurring campaign took: started, skipped or missed."""
    last_run: RunReference | None = None
    """A recurring campaign's latest run; counters, progressPercent and deliveryRatio
    above are that run's."""
    active_runs: list[RunReference] = Field(default_factory=list,
                                            json_schema_extra=list_map("name"))
    """A recurring campaign's runs that have not finished."""
    edits_not_applied: list[str] = Field(
        default_factory=list, max_length=16,
        json_schema_extra={"items": {"type": "string", "maxLength": 64}})
    """Spec fields edited since the run started that it does not apply: templateRef,
    variants, holdoutPercent, channels, audience, compliance, trigger, winner.testPercent
    and canary.percent are fixed for a run (the rest of winner applies until the winner
    is chosen, the rest of canary until it is judged). paused, cancel, senders,
    rateLimit, sendWindow, ingest and autoPause apply while it runs, and dryRun until
    sending starts."""
    message: str | None = Field(default=None, max_length=MESSAGE_MAX)
    """One line summary."""
    conditions: list[Condition] = Field(default_factory=list, json_schema_extra=list_map("type"))
    """Ready, Progressing, Degraded, Stalled; CanaryFailed with spec.canary (True: the
    canary failed and the campaign paused itself) and AutoPaused with spec.autoPause."""


class Campaign(HeraldResource):
    """A bulk SMS send: audience, template, channels, schedule and compliance rules."""

    KIND = "Campaign"
    PLURAL = "campaigns"
    SHORT_NAMES = ("smscamp",)
    PRINTER_COLUMNS = (
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        READY_COLUMN,
        {"name": "Progress", "type": "integer", "jsonPath": ".status.progressPercent",
         "priority": 1},
        {"name": "Sent", "type": "integer", "jsonPath": ".status.counters.sent",
         "description": "Messages the SMSC accepted, whatever their receipts said."},
        {"name": "Delivered", "type": "integer", "jsonPath": ".status.counters.delivered"},
        {"name": "Failed", "type": "integer", "jsonPath": ".status.counters.failed"},
        {"name": "Delivery", "type": "string", "jsonPath": ".status.deliveryRatio",
         "description": "Delivered over messages with a final outcome."},
        {"name": "Awaiting", "type": "integer", "jsonPath": ".status.counters.submitted",
         "priority": 1, "description": "Accepted by the SMSC, receipt not yet in."},
        {"name": "Cost", "type": "string", "jsonPath": ".status.plan.estimatedCost",
         "priority": 1, "description": "Estimated cost of the plan, in Currency."},
        {"name": "Currency", "type": "string", "jsonPath": ".status.plan.currency",
         "priority": 1},
        {"name": "ETA", "type": "string", "jsonPath": ".status.plan.eta", "priority": 1,
         "description": "When the plan's last segment would go."},
        REASON_COLUMN,
        AGE_COLUMN,
    )

    spec: CampaignSpec
    status: CampaignStatus = Field(default_factory=CampaignStatus)
