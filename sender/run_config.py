"""What one campaign run uses, frozen when it starts: the contract between operator and pods.

The operator resolves a Campaign (its templates, its channel, its audience source) into
a RunConfig and writes it to Redis (`herald:{campaign:NS/NAME}:run`) before it creates
any Job. The importer and sender pods read it from there, so their Jobs carry only the
campaign's name, the Redis address and the SMPP password (from the channel's Secret):
no pod needs access to the Kubernetes API, and a Template edited mid-run does not
change what a restarted sender sends.

This module holds the model only (no Redis), so the operator's pure planning code can
build one.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from crds.campaign import (
    AUTO_ENCODING,
    ColumnMapping,
    FileFormat,
    FrequencyCap,
    GuardFigures,
    GuardResult,
    GuardStatus,
    QuietHours,
    SendWindow,
    TimeZoneSource,
    WinnerStatus,
)
from crds.channel import (
    ErrorClass,
    Gsm7Coding,
    KeywordReplies,
    PooledSourceAddress,
    Routing,
    SourceAddress,
    SourceSelection,
)
from crds.template import TemplateSpec
from sender.smpp.bind import BindSettings, bind_modes
from sender.smpp.tls import TlsClient
from sender.sms.lanes import Lanes
from sender.sms.replies import ReplyRules
from sender.sms.routing import Route, Router
from sender.sms.send_times import SendRules, Span, weekday_numbers

AUDIENCE_DIR = "/var/run/herald/audience"
"""Where the importer pod finds a ConfigMap's or Secret's audience file (the Job also
says so in HERALD_AUDIENCE_DIR, which is what the importer reads)."""
SMPP_CA_FILE = "/var/run/herald/smpp-ca/ca.crt"
SMPP_CLIENT_CERT_FILE = "/var/run/herald/smpp-client-cert/tls.crt"
SMPP_CLIENT_KEY_FILE = "/var/run/herald/smpp-client-cert/tls.key"
"""Where sender and receiver pods find the channel's TLS material, mounted from its
ConfigMap and Secrets. The pods are told by HERALD_SMPP_CA_FILE,
HERALD_SMPP_CLIENT_CERT_FILE and HERALD_SMPP_CLIENT_KEY_FILE (TlsMaterial.from_env).
A sender pod holds every channel of its run: the run's channel i > 0 has its password in
HERALD_SMPP_PASSWORD_i and its files in directories suffixed -i (for_channel)."""


def for_channel(name: str, index: int) -> str:
    """An env variable's name, or a file's path, for the run's channel `index`: as it is
    for the first (so a one-channel run's pods look as they always did), suffixed for
    the others (HERALD_SMPP_PASSWORD_1, /var/run/herald/smpp-ca-1/ca.crt)."""
    if index == 0:
        return name
    if name.startswith("/"):
        directory, _, file = name.rpartition("/")
        return f"{directory}-{index}/{file}"
    return f"{name}_{index}"
SUPPRESSION_DIR = "/var/run/herald/suppression"
"""Where the importer pod finds the files of the campaign's suppression lists, one a
list, named after it (also in HERALD_SUPPRESSION_DIR)."""
HEADERS_DIR = "/var/run/herald/url-headers"
"""Where the importer pod finds the HTTP headers Secret of a URL audience, a file a key
(also in HERALD_URL_HEADERS_DIR)."""


class ObjectRef(BaseModel):
    namespace: str
    name: str


class AudienceSource(BaseModel):
    """Where the importer reads recipients; exactly one of the fields is set."""

    inline: list[dict[str, str]] | None = None
    """Rows written into the Campaign, keyed like CSV columns."""
    file: str = ""
    """Name of a CSV or XLSX file in the importer pod's audience directory (a ConfigMap
    or Secret key mounted there)."""
    url: str = ""
    """A CSV or XLSX file over HTTP(S)."""
    headers: bool = False
    """Send the files of the pod's URL-headers directory as HTTP headers with `url`."""
    redis_key: str = ""
    """A Redis list or set of numbers, or a stream of rows."""
    format: FileFormat = FileFormat.AUTO
    """Of `file` or `url` (spec.audience.format)."""
    sheet: str = ""
    """The XLSX worksheet to read; empty: the first."""
    encoding: str = AUTO_ENCODING
    """A CSV file's text encoding: Auto or a Python codec name (spec.audience.encoding)."""


def text_codec(name: str) -> str | None:
    """The canonical name of the Python text codec `name` stands for, None if there is
    none (unknown, or a bytes codec such as base64). The operator checks
    spec.audience.encoding with it before any pod runs; the importer decodes with it."""
    try:
        "a".encode(name)
    except (LookupError, UnicodeError):
        return None
    return codecs.lookup(name).name


class SuppressionSource(BaseModel):
    """One suppression list as the importer reads it: a mounted file or a URL."""

    name: str
    file: str = ""
    """Its file's name in the pod's suppression directory (SUPPRESSION_DIR)."""
    url: str = ""
    column: str = "phone"


class ImportSettings(BaseModel):
    source: AudienceSource
    columns: ColumnMapping = Field(default_factory=ColumnMapping)
    default_region: str = ""
    filter: str = ""
    time_zone: str = "UTC"
    """The campaign's schedule.timeZone: the filter's dates and helpers count in it."""
    variants: list[tuple[str, int]] = Field(default_factory=list)
    dedupe: bool = True
    respect_opt_outs: bool = True
    suppression_lists: list[SuppressionSource] = Field(default_factory=list)
    holdout_percent: int = 0
    test_percent: int = 0
    """spec.winner.testPercent: the share sent first; the others go to the rest streams
    (RunConfig.lanes), 0 without a winner."""
    recipient_zones: bool = False
    """Find each recipient's time zone (quiet hours or per-recipient send windows need
    it): from the time-zone column, else the number (sender.sms.number_zones)."""
    parts: int = 1
    """Importers of the list at once (spec.audience.importers): importer pod P imports
    part P (its JOB_COMPLETION_INDEX), sender.importer.shards."""


class SendTimesConfig(BaseModel):
    """When the run's messages may go: spec.schedule's window and the quiet hours that
    apply (the campaign's own, or the operator's default for marketing). The operator
    rewrites it when the spec changes; senders read it again as they run."""

    time_zone: str = "UTC"
    window: SendWindow | None = None
    quiet_hours: QuietHours | None = None
    """None, or hours whose start equals their end: none."""

    def rules(self) -> SendRules:
        window, quiet = self.window, self.quiet_hours
        return SendRules(
            default_zone=self.time_zone,
            window=Span.parse(window.start, window.end) if window else None,
            days=weekday_numbers([d.value for d in window.days]) if window else
            weekday_numbers([]),
            window_zone=(None if window and window.time_zone_source == TimeZoneSource.RECIPIENT
                         else self.time_zone),
            quiet=(Span.parse(quiet.start, quiet.end)
                   if quiet is not None and quiet.start != quiet.end else None),
        )

    @property
    def per_recipient(self) -> bool:
        """Whether messages are timed by their recipients' own clocks."""
        rules = self.rules()
        return rules.quiet is not None or (rules.window is not None
                                           and rules.window_zone is None)


class TlsTarget(BaseModel):
    """A channel's TLS settings as its pods take them; the PEM comes in files."""

    server_name: str = ""
    insecure_skip_verify: bool = False


@dataclasses.dataclass(frozen=True)
class TlsMaterial:
    """PEM text a TLS bind needs besides its settings: a CA bundle, a client chain."""

    ca_pem: str = ""
    cert_pem: str = dataclasses.field(default="", repr=False)
    key_pem: str = dataclasses.field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str], channel: int = 0) -> TlsMaterial:
        """Read the files the pod's env names (SMPP_CA_FILE and the others) for the run's
        channel `channel`; OSError when a named file cannot be read."""
        def read(variable: str) -> str:
            path = env.get(for_channel(variable, channel))
            return Path(path).read_text(encoding="ascii") if path else ""
        return cls(read("HERALD_SMPP_CA_FILE"), read("HERALD_SMPP_CLIENT_CERT_FILE"),
                   read("HERALD_SMPP_CLIENT_KEY_FILE"))


class SmppTarget(BaseModel):
    """A channel's SMPP settings, the password excepted (the pod gets it from the Secret)."""

    host: str
    port: int
    tls: TlsTarget | None = None
    """TLS settings; None: plain TCP."""
    system_id: str
    system_type: str = ""
    mode: str = "Transceiver"
    """The channel's bindMode: Transceiver, or TransmitterAndReceiver (a pair)."""
    window: int = 100
    binds: int = 1
    """Binds each sender pod opens; with TransmitterAndReceiver, pairs of binds."""
    max_binds: int = 0
    """The carrier's cap on binds of the account, across all pods (spec.maxBinds)."""
    enquire_link_interval_seconds: int = 30
    response_timeout_seconds: int = 30
    source_addr: SourceAddress | None = None
    """The channel's one address (smpp.sourceAddr); None with a pool."""
    source_addresses: list[PooledSourceAddress] = Field(default_factory=list)
    """The channel's pool (smpp.sourceAddresses); empty with one address."""
    source_selection: SourceSelection = SourceSelection.ROUND_ROBIN
    gsm7_coding: Gsm7Coding = Gsm7Coding.SMSC_DEFAULT
    default_region: str = ""
    """Region of national-format numbers, for the source of replies."""
    opt_in_keywords: list[str] = Field(default_factory=list)
    keyword_replies: bool = False
    """The Channel answers keyword replies (spec.keywordReplies is set)."""

    @property
    def sources(self) -> list[PooledSourceAddress]:
        """The addresses messages go from: the pool, or the one address as a pool of one."""
        if self.source_addresses:
            return list(self.source_addresses)
        if self.source_addr is None:
            raise ValueError("an SMPP target needs source_addr or source_addresses")
        return [PooledSourceAddress.model_validate(self.source_addr.model_dump())]

    def reply_rules(self) -> ReplyRules:
        """How the processes holding this channel's binds read replies."""
        return ReplyRules.of(self.default_region, self.opt_in_keywords, self.keyword_replies)

    def bind_settings(self, password: str, tls: TlsMaterial | None = None,
                      **overrides: Any) -> BindSettings:
        """The one way from a channel's SMPP settings to a bind's: senders take them as
        they are (sender_binds), the receiver overrides the mode, the operator's bind
        check the timeouts (a check must answer soon)."""
        settings = BindSettings(
            host=self.host, port=self.port, system_id=self.system_id, password=password,
            system_type=self.system_type, mode=bind_modes(self.mode)[0], window=self.window,
            enquire_link_interval=self.enquire_link_interval_seconds,
            response_timeout=self.response_timeout_seconds, tls=self.tls_client(tls))
        return dataclasses.replace(settings, **overrides)

    def sender_binds(self, password: str, tls: TlsMaterial | None = None) -> list[BindSettings]:
        """The binds one sender pod opens: `binds` of the channel's mode (a transceiver
        each, or a transmitter and a receiver each)."""
        base = self.bind_settings(password, tls)
        return [dataclasses.replace(base, mode=mode)
                for _ in range(self.binds) for mode in bind_modes(self.mode)]

    def tls_client(self, material: TlsMaterial | None) -> TlsClient | None:
        if self.tls is None:
            return None
        material = material or TlsMaterial()
        return TlsClient(server_name=self.tls.server_name, ca_pem=material.ca_pem,
                         cert_pem=material.cert_pem, key_pem=material.key_pem,
                         insecure_skip_verify=self.tls.insecure_skip_verify)


class ChannelPolicy(BaseModel):
    """A channel's rate limit and retry policy (spec.rateLimit, spec.retry), as every
    process that submits through it takes them: senders and the receiver's answers."""

    rate: int = Field(ge=1)
    """Messages per second: one bucket for every submit through the channel."""
    burst: int = Field(default=1, ge=1)
    max_attempts: int = 3
    initial_backoff_seconds: int = 1
    max_backoff_seconds: int = 60
    resend_unknown: bool = False
    error_overrides: dict[int, ErrorClass] = Field(default_factory=dict)


class ReplyTarget(ChannelPolicy):
    """What a channel's receiver needs to answer keyword replies (spec.keywordReplies),
    besides its SMPP settings: the texts, and the channel's bucket and retry policy. The
    receiver Deployment carries it as JSON in HERALD_CHANNEL_REPLIES."""

    replies: KeywordReplies
    source_rates: dict[str, int] = Field(default_factory=dict)
    """The messagesPerSecond of each address of the channel's pool that has one: an
    answer from such an address takes a token of its bucket too, shared with the
    campaigns sending from it."""


class ChannelTarget(ChannelPolicy):
    name: str
    smpp: SmppTarget
    fail_over: bool = False
    """retry.failOver: a message that spent max_attempts on temporary errors moves to the
    next channel that serves it instead of failing."""
    routing: Routing = Field(default_factory=Routing)
    """Which recipients the channel serves (Channel.spec.routing); empty: any."""

    @property
    def sending_rate(self) -> int:
        """Segments per second the channel can send: its rate, or less when every
        address of its pool has a messagesPerSecond of its own and they add up to less."""
        limits = [a.messages_per_second for a in self.smpp.sources]
        if all(limits):
            return min(self.rate, sum(limit or 0 for limit in limits))
        return self.rate

    def route(self) -> Route:
        routing = self.routing
        return Route.of(self.name, routing.countries, routing.prefixes, routing.carriers)


class LinkSettings(BaseModel):
    """Tracked links of a run whose templates have {link:URL} (sender.sms.links)."""

    base_url: str
    """The install's short-link base (HERALD_LINKS_BASE_URL), e.g. https://go.example."""
    expire_after_seconds: int = 30 * 86400
    """spec.links.expireAfterSeconds: how long a link works from when it was sent."""


class RunConfig(BaseModel):
    """One run of one campaign."""

    campaign: ObjectRef
    uid: str
    """The Campaign's metadata.uid: a run left by a deleted namesake is not this one."""
    generation: int
    """The Campaign generation the run started from."""
    frozen_hash: str
    """Hash of the spec fields a run cannot change once started
    (controllers.decisions.campaign_run)."""
    frozen_fields: dict[str, Any] = Field(default_factory=dict)
    """Those fields as the run took them, to name the ones edited since."""
    shards: int = Field(ge=1)
    templates: dict[str, TemplateSpec]
    """By variant name ("" for a campaign without variants)."""
    channels: list[ChannelTarget] = Field(min_length=1)
    """The campaign's channels that existed when the run started, in its order: each
    recipient is routed at import to the first that serves it (sender.sms.routing) and
    queued in that channel's lane (sender.sms.lanes)."""
    unavailable: list[str] = Field(default_factory=list)
    """Channels routing passes over: those not Ready when the run started. Their
    recipients go to the next channel that serves them."""
    campaign_rate: int | None = None
    """The campaign's own cap; updated when spec.rateLimit changes (senders read it at start)."""
    audience: ImportSettings
    frequency_cap: FrequencyCap | None = None
    """spec.compliance.frequencyCap, which the senders charge (sender.store.frequency_caps)."""
    send_times: SendTimesConfig = Field(default_factory=SendTimesConfig)
    receipt_wait_seconds: float = 10.0
    """How long a sender waits for receipts after its last submit before it exits."""
    receipts: bool = True
    """Whether submits ask for delivery receipts. A campaign always does; the bench
    measures both."""
    follow: bool = False
    """The senders follow their streams until stopped (a trigger Api campaign, whose
    messages come as events are posted); else a shard is done once drained."""
    links: LinkSettings | None = None
    """Short links of the templates' {link:URL}; None when they have none (or the
    install has no links base URL, which the template review refuses)."""
    winner: WinnerStatus | None = None
    """The A/B winner once chosen (spec.winner): the rest streams go with its variant
    (none with the fallback KeepWeights: each entry keeps its own). Written once, before
    the rest's sender Job exists; status.winner repeats it."""
    canary: GuardStatus | None = None
    """spec.canary's judgement once made: Passed, the rest goes (with each entry's own
    variant); Failed, it waits until a person takes the pause over (`resumed`). Written
    before the rest's sender Job exists; status.canary repeats it."""
    auto_pause: GuardStatus | None = None
    """spec.autoPause's last trip: while Failed and not `resumed`, the senders stay
    suspended; status.autoPause repeats it."""
    auto_pause_since: GuardFigures | None = None
    """The run's figures when a person last resumed an autoPause: the next judgement
    counts only what came after."""

    @model_validator(mode="before")
    @classmethod
    def _one_channel_before_routing(cls, data: Any) -> Any:
        """A run written before runs held every channel (`channel`, one) reads as a run
        of that one channel: its streams are laid out the same (sender.sms.lanes)."""
        if isinstance(data, dict) and "channel" in data and "channels" not in data:
            data = {**data, "channels": [data["channel"]]}
            del data["channel"]
        return data

    @property
    def lanes(self) -> Lanes:
        """The run's streams: one a (shard, channel), and as many again for the rest of a
        winner campaign (its test group goes through the first ones)."""
        return Lanes(self.shards, len(self.channels), bool(self.audience.test_percent))

    @property
    def streams(self) -> int:
        return self.lanes.streams

    def channel_of(self, lane: int) -> ChannelTarget:
        """The channel lane `lane` sends through."""
        return self.channels[self.lanes.channel_of(lane)]

    def router(self, *, waits: bool = False) -> Router:
        """Routes a number to its channel: the first in the campaign's order that serves
        it and is not unavailable. `waits`: else the first unavailable one that serves it,
        where it waits for the channel (an import); without, None (a failover)."""
        return Router([c.route() for c in self.channels], self.unavailable, waits=waits)

    def import_router(self) -> Router | None:
        """The router the import takes; None when there is nothing to decide (one channel
        that serves any number), which spares it the cost of routing. A number only a
        passed-over channel serves is queued for it, not counted unroutable."""
        if len(self.channels) == 1 and not self.channels[0].route().narrows:
            return None
        return self.router(waits=True)


    @property
    def rest_released(self) -> bool:
        """Whether the rest streams may be sent: the winner is chosen, or the canary
        passed, or a person resumed the campaign its failure paused."""
        if self.winner is not None:
            return True
        canary = self.canary
        return canary is not None and (canary.result == GuardResult.PASSED or canary.resumed)

    @property
    def self_paused(self) -> bool:
        """Whether the campaign paused itself and no person has taken the pause over."""
        return any(g is not None and g.result == GuardResult.FAILED and not g.resumed
                   for g in (self.canary, self.auto_pause))

    @property
    def rest_variant(self) -> str | None:
        """The variant every rest entry is sent and counted as; None: its own."""
        return (self.winner.variant or None) if self.winner is not None else None
