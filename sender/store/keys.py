"""Every Redis key Herald uses, in one place.

Each key of a campaign carries the campaign's hash tag and each key of a channel the
channel's, so that on Redis Cluster (or Valkey) all keys a script or pipeline step
touches together sit in one slot. No Lua script or MULTI spans two tags. Only the
opt-out set and the frequency caps are shared across campaigns, keyed by number.

    herald:{campaign:NS/NAME}:shard:L      stream of recipients of lane L: one a shard
                                           and channel of the run, and with spec.winner
                                           as many again for the rest, for the winner
                                           (sender.sms.lanes)
    herald:{campaign:NS/NAME}:state        hash: message key -> state code
    herald:{campaign:NS/NAME}:counters     hash: counter name -> count
    herald:{campaign:NS/NAME}:waiting:I    sorted set: entries of shard I held for their
                                           send time, scored by when they may go
                                           (sender.store.waiting_room)
    herald:{campaign:NS/NAME}:parts        hash: message key of a long message -> its
                                           parts' receipt outcomes so far ("D-F")
    herald:{campaign:NS/NAME}:gcra         the campaign's own rate-limit bucket
    herald:{campaign:NS/NAME}:run          hash: the run's config and progress flags
                                           (sender.store.run_store)
    herald:{campaign:NS/NAME}:import       hash: the import's progress (rows committed,
                                           per-shard counts, done; sender.importer.shards)
    herald:{campaign:NS/NAME}:import:part:P  hash: part P's rows committed, of an import
                                           in parts
    herald:{campaign:NS/NAME}:seen         set of numbers taken, for dedupe during import
    herald:{campaign:NS/NAME}:claimed      hash: number -> the batch that took it, for
                                           dedupe during an import in parts
    herald:{campaign:NS/NAME}:holdout      set of the numbers held out (holdoutPercent)
    herald:{campaign:NS/NAME}:suppress     set of the suppression lists' numbers, during
                                           import (sender.store.import_batches)
    herald:{campaign:NS/NAME}:idempotency  hash: Idempotency-Key of an ingested event ->
                                           its message id (sender.store.ingest_queue)
    herald:{campaign:NS/NAME}:idempotency:age  sorted set: those keys, scored by when
                                           (ms), to forget them after the retention
    herald:{campaign:NS/NAME}:links        hash: url id -> target URL of the templates'
                                           tracked links (sender.store.links)
    herald:{campaign:NS/NAME}:clicks       hash: message key -> "FIRST_UNIX COUNT", the
                                           clicks on that recipient's links
    herald:{campaign:NS/NAME}:final        hash: lane -> the layout of its compacted
                                           final records; :final:L:B their buckets,
                                           :final:hold the readers' pauses
                                           (sender.store.final_records)
    herald:{campaign:NS/NAME}:timeline     list: "UNIX SENT DELIVERED FAILED EXPIRED"
                                           samples of the counters, oldest first, one a
                                           status fold at most every few seconds, at most
                                           TIMELINE_MAX: thinned when full
                                           (sender.store.run_timeline; `herald report`)
    herald:link:CODE                       string: what a short link's code stands for
                                           (sender.sms.links.LinkRecord); expires a day
                                           after the link does
    herald:{channel:NS/NAME}:receipts      hash: SMSC message id -> campaign and message key
                                           (and which part, for a long message)
    herald:{channel:NS/NAME}:gcra          the channel's rate-limit bucket
    herald:{channel:NS/NAME}:binds         sorted set: bind name -> time last seen up
    herald:{channel:NS/NAME}:activity      hash: submitted, receipts, replies... (totals)
    herald:{channel:NS/NAME}:replies       stream: replies (MO) short enough to be keywords,
                                           from every bind of the channel, for the
                                           receiver to answer (sender.store.keyword_replies);
                                           capped at REPLIES_MAXLEN entries
    herald:{channel:NS/NAME}:replies:sending  hash: stream id of an answer whose submit_sm
                                           went out -> unix time; gone once answered
    herald:optout                          set of E.164 numbers that opted out
    herald:optout:confirm                  hash: number -> id of the opt-out reply whose
                                           confirmation is owed (set once per opt-out,
                                           HSETNX; an opt-in deletes it)
    herald:labels:NS:NUMBER                hash: label -> "UNIX_TIME CHANNEL KEYWORD", the
                                           labels custom keywords recorded on NUMBER for
                                           the Channels of namespace NS
    herald:labelled:NS:LABEL               set of the numbers that carry LABEL in NS (a
                                           campaign's audience.redisKey can name it)
    herald:{cap:NS:G}:m                    hash: the frequency cap ledgers' layout in
                                           slot group G of namespace NS (level, split
                                           pointer, numbers, longest period); G, one of
                                           CAP_GROUPS, is a hash of the number
    herald:{cap:NS:G}:bB                   hash, bucket B of group G: number -> the
                                           messages capped campaigns of NS sent it, with
                                           when (sender.store.frequency_cap.lua)
    herald:{cap:NS:G}:NUMBER               sorted set: a ledger of the earlier layout,
                                           converted into a bucket when next read
    herald:{sticky:NS/NAME:G}:NUMBER       string: the sender address (smpp.sourceAddresses)
                                           channel NS/NAME sends NUMBER from, with
                                           sourceSelection Sticky; expires STICKY_SECONDS
                                           after its last use (sender.store.sticky_sources);
                                           G, one of STICKY_GROUPS, is a hash of NUMBER
    herald:{channel:NS/NAME}:gcra:source:ADDRESS  the rate-limit bucket of one address of
                                           the channel's pool (messagesPerSecond)

Labels are per namespace, as the Channels that record them and the campaigns that
read them are; a hash per number answers "what is this number" in one read, the set per
label "who is this" (the audience). Neither has a hash tag: a label is written with
two plain commands (a pipeline without a transaction), never by a script.

A number's cap ledger has a tag of its own, never a campaign's: the cap is checked in
one script per slot group of a batch (G), apart from the campaign's transitions. Numbers
spread over CAP_GROUPS slots per namespace, so one script call checks all of a batch's
numbers of one group: CAP_GROUPS trades a Cluster's spread of that data against calls
per batch (bench/README.md). Changing it moves every ledger: a new key prefix then. The
script names a group's buckets from its meta key (the same tag, so the same slot): how
many there are is the script's to decide, as a group grows.

A short link's record is found by its code alone (a request carries nothing else), so
it has no campaign's tag: one plain SET when the message is built, one GET when it is
clicked; the click is then counted by a script on the campaign's tag (its clicks and
counters), never across the two.

A number's sticky address is keyed the same way, by its own slot group, never under a
campaign's tag: a batch's lookups are one MGET-like round trip per group, apart from
the campaign's scripts. It carries the channel, whose pool it is an address of.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar

PREFIX = "herald"
SENDERS_GROUP = "senders"  # the consumer group every shard stream is read through
OPT_OUT_SET = f"{PREFIX}:optout"
OPT_OUT_LOG = f"{PREFIX}:optout:log"  # hash: number -> its last opt-out or opt-in
OPT_OUT_CONFIRM = f"{PREFIX}:optout:confirm"  # hash: number -> reply owed a confirmation
RECEIVER_GROUP = "receiver"  # the consumer group a channel's replies stream is read through
CAP_GROUPS = 8  # slot groups of the frequency cap ledgers, per namespace (bench/README.md)


STICKY_GROUPS = 8  # slot groups of the sticky sender addresses, per channel
STICKY_SECONDS = 365 * 86400  # a sticky address is forgotten a year after its last use


def sticky_source(namespace: str, channel: str, number: str) -> str:
    """The sticky sender address of an E.164 number on a channel: its group's tag, then it."""
    group = zlib.crc32(number.encode()) % STICKY_GROUPS
    return f"{PREFIX}:{{sticky:{namespace}/{channel}:{group}}}:{number}"


def frequency_cap_group(namespace: str, number: str) -> str:
    """The meta hash of the slot group that holds an E.164 number's cap ledger in a
    namespace; its buckets are this key's prefix, "b" and their index."""
    group = zlib.crc32(number.encode()) % CAP_GROUPS
    return f"{PREFIX}:{{cap:{namespace}:{group}}}:m"


def frequency_cap_bucket(group_key: str, bucket: int) -> str:
    """Bucket `bucket` of the cap ledgers' slot group whose meta hash is `group_key`."""
    return f"{group_key[:-1]}b{bucket}"


def legacy_frequency_cap(namespace: str, number: str) -> str:
    """A number's cap ledger as the earlier layout kept it (a sorted set of its own),
    read and converted by sender/store/frequency_cap.lua."""
    return f"{frequency_cap_group(namespace, number)[:-1]}{number}"


@dataclass(frozen=True)
class ObjectKeys:
    """Keys of one object (namespace/name), all under its hash tag."""

    namespace: str
    name: str
    KIND: ClassVar[str]

    @property
    def tag(self) -> str:
        return f"{PREFIX}:{{{self.KIND}:{self.namespace}/{self.name}}}"

    @property
    def ref(self) -> str:
        """How Herald names the object in Redis values and labels: namespace/name."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class CampaignKeys(ObjectKeys):
    """Keys of one campaign."""

    KIND: ClassVar[str] = "campaign"

    def shard(self, index: int) -> str:
        return f"{self.tag}:shard:{index}"

    @property
    def state(self) -> str:
        return f"{self.tag}:state"

    def waiting(self, shard: int) -> str:
        """Entries of a shard held until their window opens (their recipient's hours)."""
        return f"{self.tag}:waiting:{shard}"

    @property
    def counters(self) -> str:
        return f"{self.tag}:counters"

    @property
    def parts(self) -> str:
        """Receipts of a long message's parts, until they decide its outcome."""
        return f"{self.tag}:parts"

    @property
    def holdout(self) -> str:
        """Numbers the campaign holds out (holdoutPercent): never sent, kept as the
        baseline of its lift."""
        return f"{self.tag}:holdout"

    @property
    def suppressed(self) -> str:
        """Numbers of the campaign's suppression lists, while it imports."""
        return f"{self.tag}:suppress"

    @property
    def gcra(self) -> str:
        """The campaign's own rate cap (below its channels'), as a token bucket."""
        return f"{self.tag}:gcra"

    @property
    def run(self) -> str:
        return f"{self.tag}:run"

    @property
    def import_progress(self) -> str:
        return f"{self.tag}:import"

    def import_part(self, part: int) -> str:
        """An import in parts: part `part`'s progress (sender.store.import_batches)."""
        return f"{self.tag}:import:part:{part}"

    @property
    def seen(self) -> str:
        return f"{self.tag}:seen"

    @property
    def claimed(self) -> str:
        """An import in parts: number -> the batch that took it (the parts' dedupe)."""
        return f"{self.tag}:claimed"

    @property
    def idempotency(self) -> str:
        """Idempotency-Key -> message id of the events a trigger Api campaign took."""
        return f"{self.tag}:idempotency"

    @property
    def idempotency_age(self) -> str:
        """When each Idempotency-Key was first taken, to forget it after the retention."""
        return f"{self.tag}:idempotency:age"

    @property
    def links(self) -> str:
        """url id -> target URL of the campaign's tracked links."""
        return f"{self.tag}:links"

    @property
    def clicks(self) -> str:
        """message key -> first click and count, of recipients who clicked."""
        return f"{self.tag}:clicks"

    @property
    def timeline(self) -> str:
        """The run's counters sampled over time, for `herald report`'s rate charts."""
        return f"{self.tag}:timeline"

    @property
    def final(self) -> str:
        """Each lane's layout of compacted final records (sender.store.final_records)."""
        return f"{self.tag}:final"

    def final_bucket(self, lane: int, bucket: int | str) -> str:
        """One bucket of lane `lane`'s compacted records ("": the buckets' prefix)."""
        return f"{self.tag}:final:{lane}:{bucket}"

    @property
    def final_hold(self) -> str:
        """The readers that need lanes' streams and records to stay put (sorted set)."""
        return f"{self.tag}:final:hold"



@dataclass(frozen=True)
class ChannelKeys(ObjectKeys):
    """Keys of one channel."""

    KIND: ClassVar[str] = "channel"

    @property
    def receipts(self) -> str:
        return f"{self.tag}:receipts"

    @property
    def gcra(self) -> str:
        return f"{self.tag}:gcra"

    def source_gcra(self, address: str) -> str:
        """The bucket of one sender address of the channel's pool (messagesPerSecond)."""
        return f"{self.tag}:gcra:source:{address}"

    @property
    def binds(self) -> str:
        """Each sender's and receiver's binds, scored by when they were last seen up."""
        return f"{self.tag}:binds"

    @property
    def activity(self) -> str:
        """Running totals of what crossed the channel, for its measured throughput."""
        return f"{self.tag}:activity"

    @property
    def replies(self) -> str:
        """Replies that may be keywords, for the channel's receiver to answer."""
        return f"{self.tag}:replies"

    @property
    def replies_sending(self) -> str:
        """Answers whose submit_sm went out and is not yet answered."""
        return f"{self.tag}:replies:sending"



def short_link(code: str) -> str:
    """The record of a short link's code (sender.sms.links)."""
    return f"{PREFIX}:link:{code}"


def labels(namespace: str, number: str) -> str:
    """The labels custom keywords recorded on an E.164 number, in a namespace."""
    return f"{PREFIX}:labels:{namespace}:{number}"


def labelled(namespace: str, label: str) -> str:
    """The numbers that carry a label, in a namespace."""
    return f"{PREFIX}:labelled:{namespace}:{label}"


def campaign_from_ref(ref: str) -> CampaignKeys:
    namespace, _, name = ref.partition("/")
    return CampaignKeys(namespace, name)


def channel_from_ref(ref: str) -> ChannelKeys:
    namespace, _, name = ref.partition("/")
    return ChannelKeys(namespace, name)
