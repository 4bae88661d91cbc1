"""Frequency caps across campaigns (spec.compliance.frequencyCap), checked and charged in
Redis as messages go out.

    herald:{cap:NS:G}:NUMBER   sorted set, the number's ledger in namespace NS
                               (sender.store.keys.frequency_cap): one member per message a
                               capped campaign of NS sent it, "<category>|<campaign>|<message
                               key>", scored by the server's time of the charge in ms

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
crash is not counted twice).

The window slides: the cap counts the entries of the last `periodHours`, by the Redis
server's clock (one clock for every pod). Entries are trimmed once older than the
longest period any campaign charged the ledger with, and an idle ledger expires then.

Redis Cluster. A ledger's tag is its slot group, never a campaign's, so charging never
shares a script with the campaign's transitions. A batch's numbers spread over
CAP_GROUPS groups; the batch costs one script call per group present, all sent in one
pipeline: one round trip (a Cluster client sends each node its share at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import NamedTuple, cast

from redis.exceptions import NoScriptError

from crds.campaign import FrequencyCap, FrequencyCapScope
from crds.template import Category
from sender.store.client import Redis
from sender.store.keys import CampaignKeys, frequency_cap

FREQUENCY_CAP_LUA = (resources.files("sender.store").joinpath("frequency_cap.lua")
                     .read_text("utf-8"))
HOUR_MS = 3_600_000
KEEP_MEMBER = "~"
"""The ledger member whose score is minus the longest period that charged it (ms)."""
INITIALS = {Category.MARKETING: "M", Category.NOTIFICATION: "N",
            Category.VERIFICATION: "V"}


class CapCharge(NamedTuple):  # a tuple: a sender makes one per message
    """One message to charge: to whom, which message, of which template category."""

    number: str
    """E.164."""
    message: str
    """Its message key (sender.sms.states.message_key)."""
    category: Category


def cap_member(campaign: str, message: str, category: Category) -> str:
    """The ledger member of one message of campaign `campaign` (its name)."""
    return f"{INITIALS[category]}|{campaign}|{message}"


def capped_state_detail(cap: FrequencyCap) -> str:
    """What a capped message's state says of the cap it met, e.g. "2/168h Namespace"."""
    return f"{cap.max_messages}/{cap.period_hours}h {cap.scope.value}"


def cap_allows(ledger: Sequence[tuple[str, int]], member: str, now_ms: int,
               cap: FrequencyCap) -> bool:
    """frequency_cap.lua's decision for one message, in Python: whether `member` may be
    charged to a ledger holding `ledger` ((member, score ms) pairs, "~" apart)."""
    if any(m == member for m, _ in ledger):
        return True
    since = now_ms - cap.period_hours * HOUR_MS
    counted = [m for m, score in ledger if score > since and m != KEEP_MEMBER]
    if cap.scope == FrequencyCapScope.CATEGORY:
        counted = [m for m in counted if m[:2] == member[:2]]
    return len(counted) < cap.max_messages


class FrequencyCaps:
    """One campaign's cap: charges batches of its messages, says which may go."""

    def __init__(self, redis: Redis, campaign: CampaignKeys, cap: FrequencyCap) -> None:
        self._redis = redis
        self.campaign = campaign
        self.cap = cap
        self._args = (cap.max_messages, cap.period_hours * HOUR_MS,
                      "C" if cap.scope == FrequencyCapScope.CATEGORY else "")
        self._sha = ""
        self.calls = 0
        """Script calls so far (one per slot group of each batch)."""

    def ledger(self, charge: CapCharge) -> tuple[str, str]:
        """The (key, member) of a message's charge: what a refund removes."""
        return (frequency_cap(self.campaign.namespace, charge.number),
                cap_member(self.campaign.name, charge.message, charge.category))

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
        pairs = [self.ledger(c) for c in charges]
        for index, (key, _) in enumerate(pairs):
            groups.setdefault(key[:key.index("}")], []).append(index)
        extra = () if now_ms is None else (now_ms,)
        if not self._sha:
            self._sha = await self._redis.script_load(FREQUENCY_CAP_LUA)
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for indexes in groups.values():
                members = "".join(pairs[i][1] + "\n" for i in indexes)
                # execute_command: a Cluster pipeline blocks its evalsha method, yet
                # routes EVALSHA by its keys (one slot group here).
                pipe.execute_command("EVALSHA", self._sha, len(indexes),
                                     *(pairs[i][0] for i in indexes), *self._args, members,
                                     *extra)
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
