"""Frequency caps across campaigns (spec.compliance.frequencyCap), checked and charged in
Redis as messages go out.

    herald:{cap:NS:G}:m    the meta hash of slot group G of namespace NS
                           (sender.store.keys.frequency_cap_group)
    herald:{cap:NS:G}:bB   its buckets: number -> its ledger, the messages capped campaigns
                           of NS sent it, each with its category and when it was charged

frequency_cap.lua holds the layout (buckets of ~40 numbers, grown by linear hashing, so a
number costs about 40 bytes of Redis and not a key of its own) and the decision; this
module sends it batches and mirrors both in Python, for tests and readers.

Who counts. Every campaign of a namespace that sets a frequencyCap records each message
it sends in the number's ledger, with its template's category, and checks its own cap
against the ledger: scope Namespace counts every entry younger than its period, scope
Category only the entries of the same category (per message: a variant's template
decides). A campaign without a frequencyCap neither checks nor records. Namespaces do
not see each other's ledgers.

When. A message is charged when its turn to go out comes, before its submit_sm is
written (sender.send.shard_sender): in one atomic step per message, the script counts the
ledger and adds the message, or refuses it (capped: never sent). So two senders racing
for one number cannot both pass a cap of one. A charge is refunded (the entry removed)
when the SMSC refuses the submit for good, since the number got nothing; it stands for
a message that went out and later failed by receipt, for an unknown one (the phone may
have it), and for one retried after throttling or a temporary error (the same charge
serves the retry: charging is idempotent per message, so a message resent after a
crash is not counted twice). A message is known in its ledger by a 40-bit token of its
member (campaign, message key, category): two messages to one number whose tokens
collide (about one chance in 10^12 per pair) would count once.

The window slides: the cap counts the entries of the last `periodHours`, by the Redis
server's clock (one clock for every pod), to the second, rounded so an entry never
counts for less than its period. Entries are dropped once older than the longest period
any campaign charged the group with, and idle buckets expire then.

Redis Cluster. A ledger's tag is its slot group, never a campaign's, so charging never
shares a script with the campaign's transitions. A batch's numbers spread over
CAP_GROUPS groups; the batch costs one script call per group present, all sent in one
pipeline: one round trip (a Cluster client sends each node its share at once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any, NamedTuple, cast

from redis.exceptions import NoScriptError

from crds.campaign import FrequencyCap, FrequencyCapScope
from crds.template import Category
from sender.store.client import Redis
from sender.store.keys import CampaignKeys, frequency_cap_bucket, frequency_cap_group

FREQUENCY_CAP_LUA = (resources.files("sender.store").joinpath("frequency_cap.lua")
                     .read_text("utf-8"))
HOUR_MS = 3_600_000
EPOCH_S = 1_735_689_600
"""2025-01-01T00:00:00Z: a ledger entry's time is seconds after it (frequency_cap.lua)."""
KEEP_MEMBER = "~"
"""In a ledger of the earlier layout (a sorted set), the member whose score is minus the
longest period that charged it (ms)."""
INITIALS = {Category.MARKETING: "M", Category.NOTIFICATION: "N",
            Category.VERIFICATION: "V"}
_HASH_MODULUS = 2**31 - 1


class CapCharge(NamedTuple):  # a tuple: a sender makes one per message
    """One message to charge: to whom, which message, of which template category."""

    number: str
    """E.164."""
    message: str
    """Its message key (sender.sms.states.message_key)."""
    category: Category


class LedgerEntry(NamedTuple):
    """One charge in a number's ledger, as frequency_cap.lua keeps it."""

    initial: str
    """The template category's initial (INITIALS)."""
    charged_ms: int
    """When, in ms, rounded up to the second."""
    token: str
    """token_of(its member)."""


def cap_member(campaign: str, message: str, category: Category) -> str:
    """The ledger member of one message of campaign `campaign` (its name)."""
    return f"{INITIALS[category]}|{campaign}|{message}"


def capped_state_detail(cap: FrequencyCap) -> str:
    """What a capped message's state says of the cap it met, e.g. "2/168h Namespace"."""
    return f"{cap.max_messages}/{cap.period_hours}h {cap.scope.value}"


def cap_allows(ledger: Sequence[tuple[str, int]], member: str, now_ms: int,
               cap: FrequencyCap) -> bool:
    """frequency_cap.lua's decision for one message, in Python: whether `member` may be
    charged to a ledger holding `ledger` ((member, charged at ms) pairs)."""
    if any(m == member for m, _ in ledger):
        return True
    since = now_ms - cap.period_hours * HOUR_MS
    counted = [m for m, at in ledger if at > since and m != KEEP_MEMBER]
    if cap.scope == FrequencyCapScope.CATEGORY:
        counted = [m for m in counted if m[:2] == member[:2]]
    return len(counted) < cap.max_messages


# -- the layout, mirrored (frequency_cap.lua is the one that writes it) ---------------

def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, d = divmod(n, 36)
        out = digits[d] + out
        if n == 0:
            return out


def token_of(member: str) -> str:
    """The 40-bit token a ledger knows a message by: its member's SHA-1, 10 hex digits."""
    return hashlib.sha1(member.encode()).hexdigest()[:10]


def ledger_field(number: str) -> str:
    """A number's field in its bucket: its digits in hex, or "=" and its text."""
    digits = number[1:]
    if (number[:1] == "+" and digits.isascii() and digits.isdigit() and digits[:1] != "0"
            and len(digits) <= 15):
        return f"{int(digits):x}"
    return "=" + number


def _field_hash(field: str) -> int:
    if field[:1] == "=":
        return int(hashlib.sha1(field.encode()).hexdigest()[:8], 16)
    return int(field, 16) % _HASH_MODULUS


def ledger_bucket(field: str, level: int, split: int) -> int:
    """The bucket that holds `field` in a group at linear hashing's `level` and `split`."""
    h = _field_hash(field)
    bucket: int = h % (1 << level)
    return h % (1 << (level + 1)) if bucket < split else bucket


def encode_entry(member: str, charged_ms: int) -> str:
    """A ledger entry, as frequency_cap.lua writes it."""
    seconds = _b36(-(-charged_ms // 1000) - EPOCH_S).rjust(6, "0")
    return member[0] + seconds + token_of(member)


ENTRY_CHARS = 17
"""A ledger entry's characters: initial, 6 of stamp, 10 of token (frequency_cap.lua)."""


def decode_ledger(value: str) -> list[LedgerEntry]:
    entries = (value[i:i + ENTRY_CHARS] for i in range(0, len(value), ENTRY_CHARS))
    return [LedgerEntry(e[0], (int(e[1:7], 36) + EPOCH_S) * 1000, e[7:]) for e in entries]


async def read_ledger(redis: Redis, namespace: str, number: str) -> list[LedgerEntry]:
    """A number's ledger in a namespace, oldest charge first (for tests and tracing)."""
    group = frequency_cap_group(namespace, number)
    level, split = (int(v or 0) for v in await redis.hmget(group, ["L", "p"]))
    field = ledger_field(number)
    key = frequency_cap_bucket(group, ledger_bucket(field, level, split))
    value = cast(str | None, await redis.hget(key, field))
    return decode_ledger(value) if value else []


# -- charging -------------------------------------------------------------------------

def _mark(member: str) -> str:
    """What the script knows a message by: its category's initial, then its token."""
    return member[0] + token_of(member)


def _lines(pairs: Sequence[tuple[str, str]], indexes: Sequence[int]) -> str:
    return "".join(f"{pairs[i][0]} {pairs[i][1]}\n" for i in indexes)


def queue_refunds(pipe: Any, refunds: Sequence[tuple[str, str]]) -> None:
    """Queue the script calls that give charges back, on a pipeline: refunds are
    (number, member) pairs of one namespace, or of several. EVAL, not EVALSHA: refunds
    are rare, and a pipeline cannot load a script that a restarted Redis lost."""
    groups: dict[str, list[int]] = {}
    for index, (group, _) in enumerate(refunds):
        groups.setdefault(group, []).append(index)
    for group, indexes in groups.items():
        lines = "".join(refunds[i][1] for i in indexes)
        pipe.execute_command("EVAL", FREQUENCY_CAP_LUA, 1, group, "refund", 0, 0, "", lines)


class FrequencyCaps:
    """One campaign's cap: charges batches of its messages, says which may go."""

    def __init__(self, redis: Redis, campaign: CampaignKeys, cap: FrequencyCap) -> None:
        self._redis = redis
        self.campaign = campaign
        self.cap = cap
        self._args = ("charge", cap.max_messages, cap.period_hours * HOUR_MS,
                      "C" if cap.scope == FrequencyCapScope.CATEGORY else "")
        self._sha = ""
        self.calls = 0
        """Script calls so far (one per slot group of each batch)."""

    def refund_of(self, charge: CapCharge) -> tuple[str, str]:
        """What gives a message's charge back: its group's meta key and its script line
        (queue_refunds)."""
        member = cap_member(self.campaign.name, charge.message, charge.category)
        return (frequency_cap_group(self.campaign.namespace, charge.number),
                f"{charge.number} {_mark(member)}\n")

    async def charge(self, charges: Sequence[CapCharge], *, now_ms: int | None = None
                     ) -> list[bool]:
        """Charge each message, in order; True: charged (send it), False: capped.

        One round trip: a script call per slot group, pipelined. Safe to repeat (a
        member charged before is allowed again and not counted twice), which is how a
        script missing from the server's cache is handled: load it, send again.
        `now_ms` replaces the server's clock (tests)."""
        if not charges:
            return []
        groups: dict[str, list[int]] = {}
        namespace, name = self.campaign.namespace, self.campaign.name
        pairs = [(c.number, _mark(cap_member(name, c.message, c.category))) for c in charges]
        for index, charge in enumerate(charges):
            groups.setdefault(frequency_cap_group(namespace, charge.number), []).append(index)
        extra = () if now_ms is None else (now_ms,)
        if not self._sha:
            self._sha = await self._redis.script_load(FREQUENCY_CAP_LUA)
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for group, indexes in groups.items():
                # execute_command: a Cluster pipeline blocks its evalsha method, yet
                # routes EVALSHA by its keys (one slot group here).
                pipe.execute_command("EVALSHA", self._sha, 1, group, *self._args,
                                     _lines(pairs, indexes), *extra)
            try:
                replies = cast(list[str], await pipe.execute())
                break
            except NoScriptError:  # a restarted or failed-over Redis, a new Cluster node
                if attempt == 2:
                    raise
                await self._redis.script_load(FREQUENCY_CAP_LUA)
        self.calls += len(groups)
        allowed = [False] * len(charges)
        for indexes, reply in zip(groups.values(), replies, strict=True):
            for index, flag in zip(indexes, reply, strict=True):
                allowed[index] = flag == "1"
        return allowed
