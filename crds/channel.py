"""Channel: one carrier connection over SMPP 3.4, with its rate limit and routing."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

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


class BindMode(StrEnum):
    TRANSCEIVER = "Transceiver"
    TRANSMITTER_AND_RECEIVER = "TransmitterAndReceiver"


class TypeOfNumber(StrEnum):
    """SMPP 3.4 TON, section 5.2.5."""

    UNKNOWN = "Unknown"
    INTERNATIONAL = "International"
    NATIONAL = "National"
    NETWORK_SPECIFIC = "NetworkSpecific"
    SUBSCRIBER_NUMBER = "SubscriberNumber"
    ALPHANUMERIC = "Alphanumeric"
    ABBREVIATED = "Abbreviated"


class NumberingPlan(StrEnum):
    """SMPP 3.4 NPI, section 5.2.6."""

    UNKNOWN = "Unknown"
    ISDN = "ISDN"
    DATA = "Data"
    TELEX = "Telex"
    LAND_MOBILE = "LandMobile"
    NATIONAL = "National"
    PRIVATE = "Private"
    ERMES = "ERMES"
    INTERNET = "Internet"
    WAP_CLIENT_ID = "WAPClientId"


class Gsm7Coding(StrEnum):
    """data_coding used for GSM-7 text; UCS-2 text always goes as data_coding 8."""

    SMSC_DEFAULT = "SmscDefault"
    IA5 = "IA5"
    LATIN1 = "Latin1"


class SourceAddress(HeraldModel):
    """The sender address recipients see."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "self.ton != 'Alphanumeric' || size(self.address) <= 11",
                "an alphanumeric sender ID has 11 characters at most",
            ),
        )
    )

    # SMPP's source_addr is a C-Octet String of at most 20 characters; SMSCs take
    # printable ASCII in it, and the sender writes it as single octets.
    address: str = Field(min_length=1, max_length=20, pattern=r"^[ -~]+$")
    """Sender ID: a number, a short code or an alphanumeric name, in printable ASCII
    (letters, digits, space and punctuation); with ton Alphanumeric, 11 characters at
    most, as phones show no more."""
    ton: TypeOfNumber = TypeOfNumber.UNKNOWN
    """Type of number of the address."""
    npi: NumberingPlan = NumberingPlan.UNKNOWN
    """Numbering plan of the address."""

    @model_validator(mode="after")
    def _alphanumeric_fits(self) -> SourceAddress:
        """The CEL rule's check, for objects read without the API server (tests, tools)."""
        if self.ton == TypeOfNumber.ALPHANUMERIC and len(self.address) > 11:
            raise ValueError("an alphanumeric sender ID has 11 characters at most")
        return self


class PooledSourceAddress(SourceAddress):
    """One sender address of a pool, with the recipients it suits and its own limit."""

    countries: list[str] = Field(
        default_factory=list,
        max_length=250,
        json_schema_extra={"items": {"type": "string", "pattern": "^[A-Z]{2}$", "maxLength": 2}},
    )
    """ISO 3166-1 alpha-2 codes of the recipients' countries this address sends to, e.g.
    US, CA (the country of the recipient's number, by phonenumbers). A recipient goes
    from the addresses that list its country; failing those, from the addresses that
    list none; failing those too, from any address of the pool. A code phonenumbers has
    no numbers for (UK: GB is meant) is listed in the SourceAddressesValid condition."""
    messages_per_second: int | None = Field(default=None, ge=1, le=100000)
    """Most messages per second from this address (a carrier limits a long code to
    about 1), across every sender of every campaign on the channel, within the channel's
    own rate limit; each part of a long message counts, and so do the answers to
    keyword replies (keywordReplies) sent from it. Unset: only the channel's limit
    applies."""


class SourceSelection(StrEnum):
    ROUND_ROBIN = "RoundRobin"
    STICKY = "Sticky"


class CaSourceKind(StrEnum):
    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"


class CaReference(HeraldModel):
    """A CA bundle (PEM) in a ConfigMap or a Secret of the channel's namespace."""

    kind: CaSourceKind = CaSourceKind.CONFIG_MAP
    """ConfigMap or Secret."""
    name: str = Field(min_length=1, max_length=NAME_MAX)
    """Name of the ConfigMap or Secret."""
    key: str = Field(default="ca.crt", min_length=1, max_length=NAME_MAX)
    """Key holding the PEM certificates."""


class TlsSettings(HeraldModel):
    """TLS to the SMSC. Set (even empty) turns TLS on for every connection Herald makes
    to the SMSC: senders, the channel receiver and the operator's bind check."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "!(self.insecureSkipVerify && has(self.caRef))",
                "caRef has no effect with insecureSkipVerify: set one or the other",
            ),
        )
    )

    ca_ref: CaReference | None = None
    """CA bundle that signs the SMSC's certificate. Unset: the system trust store."""
    client_cert_secret_ref: LocalObjectReference | None = None
    """A kubernetes.io/tls Secret (keys tls.crt and tls.key) with a client certificate,
    for carriers that require mutual TLS."""
    server_name: str = Field(default="", max_length=253)
    """Name sent for SNI and checked against the SMSC's certificate. Empty: smpp.host."""
    insecure_skip_verify: bool = False
    """Accept any certificate the SMSC shows: encrypted, but open to a man in the middle.
    The Channel says so in its TLSVerified condition."""


class SmppSettings(HeraldModel):
    """How to reach and bind to the carrier's SMSC."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "!has(self.password)",
                "a literal password is refused: put it in a Secret and set passwordSecretRef",
            ),
            (
                "has(self.sourceAddr) != has(self.sourceAddresses)",
                "set exactly one of sourceAddr and sourceAddresses",
            ),
        )
    )

    host: str = Field(min_length=1, max_length=253)
    """Host name or IP address of the SMSC."""
    port: int = Field(default=2775, ge=1, le=65535)
    """TCP port of the SMSC."""
    tls: TlsSettings | None = None
    """TLS to the SMSC; unset: plain TCP (the password crosses the network as it is).
    Was a boolean before 2026-12: `tls: true` is now `tls: {}`."""
    system_id: str = Field(min_length=1, max_length=15)
    """SMPP system_id (at most 15 characters, per SMPP 3.4)."""
    password_secret_ref: SecretKeyReference
    """Secret key holding the SMPP password (at most 8 characters, per SMPP 3.4)."""
    password: str | None = Field(default=None, max_length=64, exclude=True)
    """Refused. Declared only so that a literal password is rejected, not silently dropped."""
    system_type: str = Field(default="", max_length=12)
    """SMPP system_type, if the carrier asks for one."""
    bind_mode: BindMode = BindMode.TRANSCEIVER
    """Transceiver: each bind submits and receives. TransmitterAndReceiver: each sender
    opens binds in pairs, a transmitter for submits and a receiver for receipts and
    replies; both count against maxBinds and reconnect independently."""
    enquire_link_interval_seconds: int = Field(default=30, ge=5, le=3600)
    """Seconds between enquire_link keep-alives on an idle bind."""
    response_timeout_seconds: int = Field(default=30, ge=1, le=600)
    """Seconds to wait for a submit_sm_resp before the message is counted unknown."""
    window: int = Field(default=100, ge=1, le=10000)
    """Most submit_sm awaiting their response on one bind."""
    source_addr: SourceAddress | None = None
    """The one sender address of every message. Exactly one of sourceAddr and
    sourceAddresses is set."""
    source_addresses: list[PooledSourceAddress] | None = Field(
        default=None, min_length=1, max_length=100, json_schema_extra=list_map("address"))
    """A pool of sender addresses (long codes, short codes, alphanumeric IDs), at least
    one. Each message goes from one of them, chosen by sourceSelection among those that
    suit its recipient's country (see countries). Replies and receipts to any of them
    are read alike."""
    source_selection: SourceSelection = SourceSelection.ROUND_ROBIN
    """How a message's address is chosen from sourceAddresses. RoundRobin: the next of
    the addresses that suit the recipient, in turn, per sender process. Sticky: a
    recipient's first message on this channel chooses so, and every later message to it
    on this channel, of any campaign, goes from that same address (remembered in Redis
    for a year after its last message); if that address leaves the pool, or its
    countries no longer list the recipient's, a new one is chosen. No effect with
    sourceAddr."""
    gsm7_coding: Gsm7Coding = Gsm7Coding.SMSC_DEFAULT
    """The alphabet for text that needs no UCS-2. SmscDefault: GSM-7 septets,
    data_coding 0. IA5: ASCII octets, data_coding 1. Latin1: ISO-8859-1 octets,
    data_coding 3 (140 per SMS). Text with a character the alphabet lacks goes as UCS-2;
    a Template's status.codings shows which characters and what it costs."""

    @model_validator(mode="after")
    def _one_source(self) -> SmppSettings:
        """The CEL rule's check, for objects read without the API server (tests, tools)."""
        if (self.source_addr is None) == (self.source_addresses is None):
            raise ValueError("set exactly one of sourceAddr and sourceAddresses")
        return self

    @property
    def sources(self) -> list[PooledSourceAddress]:
        """The addresses messages go from: the pool, or sourceAddr as a pool of one."""
        if self.source_addresses is not None:
            return list(self.source_addresses)
        assert self.source_addr is not None  # _one_source
        return [PooledSourceAddress.model_validate(self.source_addr.model_dump())]

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_was_a_boolean(cls, value: object) -> object:
        """A Channel stored before `tls` became an object reads as it meant."""
        if isinstance(value, bool):
            return {} if value else None
        return value


class RateLimit(HeraldModel):
    """Carrier rate limit, shared by every sender pod of every campaign on the channel."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            ("self.burst <= self.messagesPerSecond", "burst must not exceed messagesPerSecond"),
        )
    )

    messages_per_second: int = Field(ge=1, le=100000)
    """Sustained rate the carrier allows. Herald's senders together take at most this
    many tokens in any second (within 1%); a submit goes out a few milliseconds after
    its token, so the carrier may count a busy second up to about 2% above it
    (bench/sender.py --channel-rate): set it that much under a limit the carrier
    enforces to the message."""
    burst: int = Field(default=1, ge=1, le=100000)
    """Messages that may go at once after an idle spell; at most messagesPerSecond."""


class Routing(HeraldModel):
    """Which recipients this channel serves: a number must match every list that is set
    (country and prefix and carrier); an empty list takes any. A campaign's import routes
    each recipient to the first of its channels, in spec.channels order, that serves it
    and is not passed over (not Ready when the run started, or failed over since: see
    retry.failoverAfterSeconds); a number that only passed-over channels serve is queued
    for the first of them and waits until it is Ready; a number none serves is counted
    unroutable, by country (status.unroutableCountries), and not sent. A trigger
    campaign's events are routed as they come. Fixed for a run once it starts."""

    countries: list[str] = Field(
        default_factory=list,
        max_length=250,
        json_schema_extra={"items": {"type": "string", "pattern": "^[A-Z]{2}$", "maxLength": 2}},
    )
    """ISO 3166-1 alpha-2 country codes, e.g. CN, US: the region phonenumbers gives the
    number (+852 is HK, not CN). One phonenumbers has no numbers for is listed in the
    RoutingValid condition."""
    prefixes: list[str] = Field(
        default_factory=list,
        max_length=1000,
        json_schema_extra={
            "items": {"type": "string", "pattern": r"^\+[0-9]{1,15}$", "maxLength": 16}
        },
    )
    """E.164 number prefixes, e.g. +86138 (China Mobile's 138 range)."""
    carriers: list[str] = Field(
        default_factory=list,
        max_length=100,
        json_schema_extra={"items": {"type": "string", "maxLength": 64}},
    )
    """Carrier names as phonenumbers reports them, in any of its languages, e.g. China
    Mobile or 中国移动, matched against the carrier its data gives the number's prefix
    (numbers ported to another carrier keep their prefix's); a name it does not know is
    listed in the RoutingValid condition."""


class ErrorClass(StrEnum):
    THROTTLED = "Throttled"
    TEMPORARY = "Temporary"
    PERMANENT = "Permanent"


class ErrorClassOverride(HeraldModel):
    """Treat one SMPP command_status the carrier returns as another class of error."""

    command_status: int = Field(ge=1, le=4294967295)
    """The command_status value, e.g. 88 for ESME_RTHROTTLED."""
    error_class: ErrorClass
    """Throttled slows down and retries; Temporary retries with backoff; Permanent fails."""


class RetryPolicy(HeraldModel):
    """What to do with each class of SMPP error."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "self.initialBackoffSeconds <= self.maxBackoffSeconds",
                "initialBackoffSeconds must not exceed maxBackoffSeconds",
            ),
        )
    )

    max_attempts: int = Field(default=3, ge=1, le=20)
    """Attempts for a temporary error before the message fails (or fails over)."""
    initial_backoff_seconds: int = Field(default=1, ge=0, le=3600)
    """Delay before the first retry; doubles on each attempt."""
    max_backoff_seconds: int = Field(default=60, ge=0, le=86400)
    """Longest delay between retries."""
    fail_over: bool = False
    """After the last attempt on a temporary error, move the message to the campaign's
    next channel that serves its number instead of failing it (it fails when there is
    none). A message whose submit got no answer is never moved: the SMSC may have it;
    nor is a long one of which the SMSC took some parts: it fails, as the recipient
    has part of it."""
    failover_after_seconds: int = Field(default=300, ge=0, le=86400)
    """A campaign's run passes over this channel once it has been not Ready this long:
    its queued messages (none of them on the wire) move to the next channel in the
    campaign's order that serves them, and new ones route there, until it is Ready again.
    Messages no other channel serves wait for it. A channel not Ready when a run starts
    is passed over from the start. 0: never, not even then (its messages wait for it).
    """
    resend_unknown: bool = False
    """Resend messages whose submit_sm got no response (the bind dropped, or no response
    came within responseTimeoutSeconds, or a sender was killed with them on the wire),
    up to maxAttempts (at-least-once). Off by default: the SMSC may have accepted them,
    so a resend can deliver twice."""
    overrides: list[ErrorClassOverride] = Field(
        default_factory=list, max_length=64, json_schema_extra=list_map("commandStatus")
    )
    """Carrier-specific command_status values and their class."""


OPT_OUT_KEYWORDS = (
    "td", "t", "退订", "退定", "tuiding",
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout",
)  # fmt: skip
"""Replies that always opt a number out, compared case-folded (sender.sms.replies). Here,
in the API, so that the schema can refuse a keyword that would collide with one."""
KEYWORD_MAX = 32
"""Longest keyword: a reply longer than this, folded, is never a keyword."""
REPLY_TEXT_MAX = 640
"""Longest reply text: a few concatenated parts, never a campaign's worth."""
_KEYWORD_ITEMS: dict[str, Any] = {
    "items": {"type": "string", "minLength": 1, "maxLength": KEYWORD_MAX}}
_ALL_KEYWORDS = (
    "((has(self.keywordReplies) && has(self.keywordReplies.help)"
    " ? self.keywordReplies.help.keywords : [])"
    " + (has(self.keywordReplies) && has(self.keywordReplies.custom)"
    " ? self.keywordReplies.custom.map(c, c.keyword) : [])"
    " + (has(self.optIn.keywords) ? self.optIn.keywords : []))"
)
"""Every keyword a Channel defines, as a CEL list (its rules compare them)."""


class HelpReply(HeraldModel):
    """The answer to HELP: who sends, how to stop, where to get support (CTIA asks
    every program to answer HELP)."""

    keywords: list[str] = Field(default=["HELP"], min_length=1,
                                max_length=16, json_schema_extra=_KEYWORD_ITEMS)
    """Keywords (any case or width) that ask for help, e.g. HELP, INFO, 帮助."""
    reply: str = Field(min_length=1, max_length=REPLY_TEXT_MAX)
    """Sent back every time one of the keywords comes, unless the number is opted out."""


class CustomKeyword(HeraldModel):
    """A keyword of the business's own, e.g. JOIN or VIP, with its answer."""

    keyword: str = Field(min_length=1, max_length=KEYWORD_MAX)
    """The keyword (any case or width)."""
    reply: str = Field(min_length=1, max_length=REPLY_TEXT_MAX)
    """Sent back every time the keyword comes, unless the number is opted out."""
    label: str = Field(default="", max_length=63,
                       pattern=r"^([a-z0-9]([-a-z0-9_.]*[a-z0-9])?)?$")
    """Recorded on the number when the keyword comes, opted out or not: in Redis, the
    hash herald:labels:NAMESPACE:NUMBER (label -> time, channel, keyword) and the set
    herald:labelled:NAMESPACE:LABEL (its numbers, usable as a campaign's
    audience.redisKey). Empty: nothing recorded."""


class KeywordReplies(HeraldModel):
    """Answers to keyword replies, sent by the channel's receiver through the channel's
    rate limit, from the address the reply was sent to. Each answer is decided when it is
    about to go: a number opted out then gets nothing but its one opt-out confirmation,
    and an opt-in by then cancels that confirmation. A reply is answered within 10 minutes of
    its arrival or not at all (the receiver was down longer). The receiver needs binds
    of its own: maxBinds 2 or more (4 with bindMode TransmitterAndReceiver), and the
    operator's channel receivers on; the KeywordReplies condition says whether they are
    answered."""

    help: HelpReply | None = None
    """The answer to HELP and its localised keywords; unset: HELP gets no answer."""
    opt_out_reply: str = Field(default="", max_length=REPLY_TEXT_MAX)
    """Confirmation of an opt-out (TD, 退订, STOP and the other opt-out keywords), sent once
    per opt-out: a second STOP from a number already opted out gets nothing; after an
    opt-in, the next opt-out is confirmed again. Empty: opt-outs are not confirmed."""
    opt_in_reply: str = Field(default="", max_length=REPLY_TEXT_MAX)
    """Confirmation sent every time one of optIn.keywords comes. Empty: none."""
    custom: list[CustomKeyword] = Field(default_factory=list, max_length=64,
                                        json_schema_extra=list_map("keyword"))
    """Keywords of the business's own, with their answers and labels."""


class OptIn(HeraldModel):
    """Replies that opt a number back in, after it opted out."""

    keywords: list[str] = Field(default_factory=list, max_length=32,
                                json_schema_extra=_KEYWORD_ITEMS)
    """Keywords (any case or width), e.g. START, UNSTOP, 订阅. Empty: a reply cannot opt a
    number back in. Each opt-in, like each opt-out, is logged with its time, channel and
    keyword (Redis herald:optout:log)."""


DECIMAL_PATTERN = r"^(0|[1-9][0-9]{0,8})(\.[0-9]{1,6})?$"
"""A non-negative decimal written as a string (the API allows no floats): 0.045, 12."""


class CountryPrice(HeraldModel):
    """The price of one segment to the numbers of one country."""

    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")
    """ISO 3166-1 alpha-2 code of the recipients' country, e.g. CN: the region
    phonenumbers gives the number (+852 is HK, not CN), as in routing.countries. A code
    phonenumbers has no numbers for (UK: GB is meant) prices no number; the PricingValid
    condition lists it."""
    price_per_segment: str = Field(min_length=1, max_length=16, pattern=DECIMAL_PATTERN)
    """Price of one segment (one submit_sm: a message of three parts costs three), in
    pricing.currency, as a decimal string, e.g. "0.045"."""


class Pricing(HeraldModel):
    """What the carrier charges per segment, by the recipient's country. Used only to
    estimate a campaign's cost before it sends (Campaign status.plan.estimatedCost):
    nothing is billed or capped by it."""

    currency: str = Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    """ISO 4217 code of the prices, e.g. USD, CNY. A campaign whose channels price in
    different currencies gives each channel's cost but no total."""
    price_per_segment: str | None = Field(default=None, min_length=1, max_length=16,
                                          pattern=DECIMAL_PATTERN)
    """Price of one segment to a country that countries does not list, as a decimal
    string. Empty: such countries are unpriced (the plan lists them, and leaves them out
    of its cost)."""
    countries: list[CountryPrice] = Field(
        default_factory=list, max_length=250, json_schema_extra=list_map("country"))
    """Prices per country, one entry a country."""


class ChannelSpec(HeraldModel):
    """A carrier connection."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            (
                "self.smpp.bindMode != 'TransmitterAndReceiver' || self.maxBinds >= 2",
                "bindMode TransmitterAndReceiver opens two binds: maxBinds must be 2 or more",
            ),
            (
                "!has(self.keywordReplies) || self.maxBinds >="
                " (self.smpp.bindMode == 'TransmitterAndReceiver' ? 4 : 2)",
                "keyword replies are sent by the channel's receiver, which needs binds of its"
                " own: maxBinds must be 2 or more (4 with bindMode TransmitterAndReceiver)",
            ),
            (
                "!has(self.keywordReplies) || size(self.keywordReplies.optInReply) == 0"
                " || (has(self.optIn.keywords) && size(self.optIn.keywords) > 0)",
                "keywordReplies.optInReply needs optIn.keywords: without them no reply opts in",
            ),
            (
                f"{_ALL_KEYWORDS}.all(k, !(k.lowerAscii() in"
                f" [{', '.join(repr(k) for k in OPT_OUT_KEYWORDS)}]))",
                "a keyword of keywordReplies or optIn is an opt-out keyword (TD, 退订, STOP,"
                " UNSUBSCRIBE, CANCEL, END, QUIT...), which always opts out",
            ),
            (
                f"{_ALL_KEYWORDS}.all(k, {_ALL_KEYWORDS}.exists_one(j,"
                " j.lowerAscii() == k.lowerAscii()))",
                "a keyword is defined twice (in keywordReplies.help, keywordReplies.custom or"
                " optIn, in any case)",
            ),
        )
    )

    smpp: SmppSettings
    """SMPP connection and bind settings."""
    rate_limit: RateLimit
    """Carrier rate limit across all senders."""
    max_binds: int = Field(default=1, ge=1, le=64)
    """Most simultaneous binds the carrier allows for this account. Herald keeps every
    bind it opens within it, across all pods and campaigns: the channel's receiver takes
    one when this is 2 or more, senders share the rest: a campaign's run divides them
    among its sender pods (a bind that finds no free slot waits for one), except a
    trigger Api campaign, which runs until cancelled and opens one a pod."""
    routing: Routing = Field(default_factory=Routing)
    """Recipients this channel serves, when a campaign has several channels or this one
    serves only some numbers. Empty: every number."""
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    """Retry and failover policy per SMPP error class."""
    default_region: str = Field(default="", max_length=2, pattern=r"^([A-Z]{2})?$")
    """ISO 3166-1 alpha-2 region of numbers the SMSC writes in national format, as it
    often writes the source of a reply (13800138000 for +8613800138000): without it, a
    STOP from such a number cannot be matched to the recipient and is not applied."""
    opt_in: OptIn = Field(default_factory=OptIn)
    """Replies that opt back in (opt-out replies, TD 退订 STOP..., are always honoured)."""
    keyword_replies: KeywordReplies | None = None
    """Answers to HELP, opt-outs, opt-ins and the business's own keywords, sent by the
    channel's receiver through the channel's rate limit, from the address the reply was
    sent to, whichever bind of the channel took the reply. Each answer is decided when it
    is about to go: a number opted out then gets nothing but its one opt-out
    confirmation. A reply not answered within 10 minutes (the receiver was down) is
    dropped. Needs maxBinds 2 or more (4 with bindMode TransmitterAndReceiver: the
    receiver then opens a transmitter too) and the operator's channel receivers on; the
    KeywordReplies condition says whether they are answered. Unset: replies are read for
    opt-outs and opt-ins only, and answered with nothing."""
    pricing: Pricing | None = None
    """Price per segment by country, from which a campaign's pre-send plan estimates
    its cost (status.plan). Empty: campaigns through this channel show no cost for it."""


class DeliveryGuarantee(StrEnum):
    AT_MOST_ONCE = "AtMostOnce"
    AT_LEAST_ONCE = "AtLeastOnce"


class BindStatus(HeraldModel):
    """Binds as last observed."""

    bound: int = 0
    """Binds up now: the senders' of running campaigns and the receiver's."""
    receiver_bound: int = 0
    """Of those, the channel receiver's, which takes late receipts and replies."""
    last_bind_time: datetime | None = None
    """When a bind last succeeded."""


class ChannelError(HeraldModel):
    """The last error the channel met."""

    reason: str = Field(max_length=128)
    """CamelCase reason, e.g. BindFailed."""
    message: str = Field(max_length=MESSAGE_MAX)
    """Detail, never containing secrets."""
    time: datetime
    """When it happened."""


class ChannelStatus(HeraldModel):
    """Health and throughput of the carrier connection."""

    observed_generation: int | None = None
    """The metadata.generation this status describes."""
    binds: BindStatus | None = None
    """Bind health."""
    measured_messages_per_second: int | None = None
    """submit_sm accepted per second by the carrier, over the last minute, all senders."""
    delivery_guarantee: DeliveryGuarantee | None = None
    """AtMostOnce unless spec.retry.resendUnknown asks for AtLeastOnce."""
    last_error: ChannelError | None = None
    """The last error met, if any."""
    message: str | None = Field(default=None, max_length=SHORT_TEXT_MAX)
    """One line summary for kubectl get."""
    conditions: list[Condition] = Field(default_factory=list, json_schema_extra=list_map("type"))
    """Ready is True when the password Secret resolves and the SMSC accepts a bind.
    TLSVerified (with smpp.tls) says whether the SMSC's certificate is checked;
    RoutingValid (when routing names countries or carriers) is False, reason
    UnknownRoutingTarget, while one of them can match no number (a country phonenumbers
    has no numbers for, a carrier name it does not know), which it lists.
    SourceAddressesValid (when an address of smpp.sourceAddresses lists countries) is
    False, reason UnknownSourceCountry, while one of those countries has no numbers in
    phonenumbers (UK, where GB is meant), which it lists with its address.
    PricingValid (when pricing lists countries) is False, reason UnknownPricingCountry,
    while one of them has no numbers in phonenumbers, which it lists.
    KeywordReplies (with spec.keywordReplies) is True, reason Answering, when the
    receiver answers them; False, reason DuplicateKeyword, when two keywords read the
    same once folded (full-width, punctuation; the schema refuses plain duplicates), or
    reason NoReceiver when the channel has no receiver to send them."""


class Channel(HeraldResource):
    """A carrier SMSC reached over SMPP 3.4."""

    KIND = "Channel"
    PLURAL = "channels"
    SHORT_NAMES = ("smsch",)
    PRINTER_COLUMNS = (
        READY_COLUMN,
        REASON_COLUMN,
        {"name": "Rate", "type": "integer", "jsonPath": ".spec.rateLimit.messagesPerSecond"},
        {"name": "Binds", "type": "integer", "jsonPath": ".status.binds.bound"},
        {"name": "Max Binds", "type": "integer", "jsonPath": ".spec.maxBinds", "priority": 1},
        AGE_COLUMN,
    )

    spec: ChannelSpec
    status: ChannelStatus = Field(default_factory=ChannelStatus)
