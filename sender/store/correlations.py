"""Receipts matched through a channel's correlation hash and applied to their campaigns.

A sender records, for each message it submits, `smsc id -> campaign|message|variant|channel`
in the channel's receipts hash (before the message's `submitted` transition, in the
same flush); for each part of a long message, with `|part/parts` after, so that every
part's receipt counts toward the message's outcome (sender.sms.states.message_outcome).
A receipt that reaches a process which did not submit the message (the channel's
receiver, or a sender of another campaign on the same account) is matched here and
applied to the campaign it names, one transitions.lua call per campaign, so no script
spans two hash tags.

A receipt can overtake the `submitted` transition it confirms: the sender writes the
correlation and the transition in two round trips. Its message is then still
`submitting`, which transitions.lua would not move to delivered, so such receipts are
handed back to be tried again shortly instead of being dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from sender import metrics
from sender.sms.countries import counted_country
from sender.sms.receipts import id_forms
from sender.sms.states import State, Transition, receipt_transition
from sender.store.keys import CampaignKeys, ChannelKeys, campaign_from_ref
from sender.store.transitions import StateStore

STORES_KEPT = 1000
"""Campaigns whose state stores (cheap: a script handle) an applier keeps at once."""


@dataclass(frozen=True)
class PendingReceipt:
    smsc_id: str
    state: State
    error: str
    seen: float
    """time.monotonic() when it came in."""


UNMATCHED_GRACE_SECONDS = 30.0
"""How long a receipt whose id is not (yet) in the receipts hash is looked up again:
the sender writes the correlation within a flush of the submit_sm_resp, but a
sender that crashed or a slow Redis may take longer."""

SETTLE_SECONDS = 5.0
"""How long a process that stops keeps looking up the receipts it answered and could not
apply yet (their `submitted` write not landed): the SMSC does not send an answered
deliver_sm again. Most belong to senders stopping at the same moment, whose last flush
writes them. Well inside a pod's termination grace period (30 s by default)."""
SETTLE_RETRY_SECONDS = 0.1


@dataclass(frozen=True)
class Correlation:
    """What the channel's receipts hash says about one SMSC message id."""

    form: str
    """The id form the sender recorded (hex or decimal, canonical)."""
    campaign: str
    """namespace/name"""
    key: str
    variant: str
    channel: str
    part: int = 0
    """Which part of a long message the id is (from 1); 0: a message of one part."""
    parts: int = 1

    @classmethod
    def parse(cls, form: str, value: str) -> Correlation:
        campaign, key, variant, channel, *rest = value.split("|")
        if not rest:
            return cls(form, campaign, key, variant, channel)
        part, _, parts = rest[0].partition("/")
        return cls(form, campaign, key, variant, channel, int(part), int(parts))


def correlation_value(campaign: str, key: str, variant: str, channel: str,
                      part: int = 0, parts: int = 1) -> str:
    """The receipts-hash value of one SMSC id: its message, and which part it is."""
    value = "|".join((campaign, key, variant, channel))
    return f"{value}|{part}/{parts}" if part else value


async def look_up(redis: aioredis.Redis, channel: ChannelKeys,
                  receipts: Sequence[PendingReceipt]) -> list[Correlation | None]:
    """Each receipt's correlation, trying the id forms it may have been recorded under."""
    if not receipts:
        return []
    forms = [id_forms(r.smsc_id) for r in receipts]
    values: list[Any] = await redis.hmget(channel.receipts, [f for group in forms for f in group])
    found: list[Correlation | None] = []
    position = 0
    for group in forms:
        hits = [Correlation.parse(form, values[position + i])
                for i, form in enumerate(group) if values[position + i] is not None]
        position += len(group)
        found.append(hits[0] if hits else None)
    return found


class ReceiptApplier:
    """Applies matched receipts to the campaigns they belong to."""

    def __init__(self, redis: aioredis.Redis, channel: ChannelKeys) -> None:
        self._redis = redis
        self._channel = channel
        self._stores: dict[str, StateStore] = {}
        """By campaign; a receiver lives long, so it is cleared past STORES_KEPT."""

    async def apply(self, matched: Sequence[tuple[PendingReceipt, Correlation]]
                    ) -> tuple[list[PendingReceipt], int]:
        """Apply what can be applied now. Returns the receipts to try again later, and
        how many moved a message (duplicates do not)."""
        by_campaign: dict[str, list[tuple[PendingReceipt, Correlation]]] = defaultdict(list)
        for receipt, found in matched:
            by_campaign[found.campaign].append((receipt, found))
        again: list[PendingReceipt] = []
        settled_forms: list[str] = []
        applied = 0
        for campaign, items in by_campaign.items():
            store = self._stores.get(campaign)
            if store is None:
                if len(self._stores) >= STORES_KEPT:
                    self._stores.clear()
                store = self._stores[campaign] = StateStore(self._redis,
                                                            campaign_from_ref(campaign))
            states = await store.states([found.key for _, found in items])
            countries = await _failure_countries(self._redis, store.keys, items)
            transitions: list[Transition] = []
            for (receipt, found), state in zip(items, states, strict=True):
                code = (state or State.QUEUED)[0]
                if code in (State.QUEUED, State.SUBMITTING):
                    again.append(receipt)  # its submitted transition is not written yet
                    continue
                settled_forms.append(found.form)
                if code in (State.SUBMITTED, State.UNKNOWN):
                    transitions.append(receipt_transition(
                        found.key, receipt.state, receipt.error, found.variant, found.channel,
                        found.part, found.parts, countries.get(found.key, "")))
                # else already final: a duplicate receipt, nothing to apply
            moved, outcomes = await store.apply_outcomes(transitions)
            applied += moved
            # No campaign label: a receiver lives for months and would keep a series
            # for every campaign it ever saw; the operator's gauges say per campaign.
            metrics.count_outcomes("", self._channel.namespace, outcomes)
        if settled_forms:
            await self._redis.hdel(self._channel.receipts, *settled_forms)
        return again, applied


async def _failure_countries(redis: aioredis.Redis, keys: CampaignKeys,
                             items: Sequence[tuple[PendingReceipt, Correlation]]
                             ) -> dict[str, str]:
    """The countries of the failed receipts' numbers, by message key, read from their
    shard entries: a correlation names the message, not its number, and failures are
    few, so they pay the lookup instead of every correlation carrying the country."""
    wanted = sorted({found.key for receipt, found in items if receipt.state == State.FAILED})
    if not wanted:
        return {}
    pipe = redis.pipeline(transaction=False)
    for key in wanted:
        lane, _, entry_id = key.partition("/")
        pipe.xrange(keys.shard(int(lane)), min=entry_id, max=entry_id, count=1)
    found: list[Any] = await pipe.execute()
    return {key: counted_country(entries[0][1].get("n", ""))
            for key, entries in zip(wanted, found, strict=True) if entries}
