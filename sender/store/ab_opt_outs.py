"""Who in a winner campaign's test group opted out after it was sent, by variant: the
figures of spec.winner.metric OptOutRatio, read once, when the winner is chosen.

Reads the test group's lanes (sender.store.export_pages: stream and compacted records), the
opt-out set and its log (sender.store.opt_outs); writes nothing but the hold. A recipient counts
when the SMSC accepted its message (submitted, delivered, expired, or failed by a
receipt; not unknown, as the sample, status's `sent`, leaves those out until a receipt
proves them) and its number is opted out now, by a change logged at or after `since`.
Replies are not traced to the message that prompted them: a STOP to any channel counts.
"""

from __future__ import annotations

from collections import Counter

from sender.sms.states import NOT_SUBMITTED, State, parse_state
from sender.store.client import Redis
from sender.store.export_pages import lane_pages
from sender.store.keys import OPT_OUT_LOG, OPT_OUT_SET, CampaignKeys

BATCH = 1000


def accepted(state: str | None) -> bool:
    """Whether a message in this state reached the SMSC and was taken."""
    found = parse_state(state)
    code, detail = found.code, found.detail
    if code in (State.SUBMITTED, State.DELIVERED, State.EXPIRED):
        return True
    # Refused at submit: the command_status in hex; failed by receipt: its err: value.
    return code == State.FAILED and not detail.startswith("0x") and detail not in NOT_SUBMITTED


def _out_since(log: str | None, since: float) -> bool:
    word, _, rest = (log or "").partition(" ")
    try:
        return word == "out" and float(rest.split(" ", 1)[0]) >= since
    except ValueError:
        return False


async def opted_out_since(redis: Redis, keys: CampaignKeys, shards: int, since: float,
                          ) -> dict[str, int]:
    """Per variant, the test group's recipients who opted out after being sent to
    (streams 0 to shards - 1; `since` a unix time)."""
    counts: Counter[str] = Counter()
    for shard in range(shards):
        async for page in lane_pages(redis, keys, shard, BATCH):
            numbers = [record.fields["n"] for record in page]
            async with redis.pipeline(transaction=False) as pipe:
                pipe.smismember(OPT_OUT_SET, numbers)
                pipe.hmget(OPT_OUT_LOG, numbers)
                members, logs = await pipe.execute()
            for record, member, log in zip(page, members, logs, strict=True):
                if member and accepted(record.state) and _out_since(log, since):
                    counts[record.fields.get("v", "")] += 1
    return dict(counts)
