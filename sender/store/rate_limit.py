"""The cluster-wide rate limit: GCRA token buckets in Redis, shared by every sender.

A channel's bucket (`herald:{channel:NS/NAME}:gcra`) is shared by every sender pod of
every campaign on the channel; a campaign with its own cap adds a second bucket
(`herald:{campaign:NS/NAME}:gcra`). `gcra.lua` takes from one bucket in one call and
touches only that key, so each call stays inside one hash tag (Redis Cluster safe).

Slots. A grant is not "k tokens now" but k *slots*: token j may be used from
`first + (j - 1) * interval` on, never earlier. A slot may lie up to `ahead` in the
future, so a sender reserves a batch (up to 100) with one call while the bucket itself
stays small (burst 1 is fine). The slots of all senders form one timeline in Redis, and
a token is used at its slot or dropped once `max_late` has passed, so the tokens all
senders use in any window W number at most `burst + rate * (W + max_late)`: with the
default max_late of 10 ms, within 1% of the rate over any second. A process keeps its
slots locally and hands them out as they fall due (`acquire`); when some expire it asks
for smaller batches.

Campaign and channel. The campaign's bucket is asked first, then the channel's, in two
calls (one script must not span two hash tags). The campaign's tokens wait locally
(`pending`); when the first falls due, the channel is asked for every pending token
due within `pair_window` (max_late * channel rate / campaign rate), so the channel
tokens that wait for their campaign slot never exceed max_late's worth of the
channel's rate. A token is used at the later of its two slots. When the channel grants
fewer, the surplus campaign tokens stay pending for the next channel call: nothing is
given back, because a refund after other senders reserved behind us would double-book
the campaign's slots. A pending campaign token whose slot passed by more than
`max_late` without a channel slot is dropped: the channel was full, so the campaign
could not have used it, and using it late would burst the campaign above its cap. The
campaign never over-spends, and loses only tokens its channel could not carry then.

Throttling. `slow_down()` (on ESME_RTHROTTLED / ESME_RMSGQFUL) halves this process's
share of the limit (at most once per `hold`), which then grows back additively by
`increase * limit` per second. The share only ever restricts: every token still comes
from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sender.store.keys import CampaignKeys, ChannelKeys

log = logging.getLogger(__name__)

GCRA_LUA = resources.files("sender.store").joinpath("gcra.lua").read_text("utf-8")
BATCH = 100  # most tokens one call asks for
US = 1_000_000
MAX_RATE = US  # the script counts in whole microseconds of the server's clock


@dataclass(frozen=True)
class Bucket:
    """One token bucket in Redis: its key (with a hash tag), rate and burst."""

    key: str
    rate: int
    """Tokens per second."""
    burst: int = 1
    """Tokens the bucket holds after an idle spell."""

    def __post_init__(self) -> None:
        if not 1 <= self.rate <= MAX_RATE or self.burst < 1:
            raise ValueError(f"bucket {self.key}: want 1 <= rate <= {MAX_RATE}, burst >= 1")
        if "{" not in self.key or "}" not in self.key.split("{", 1)[1]:
            raise ValueError(f"bucket {self.key}: the key needs a {{hash tag}}")

    @property
    def interval(self) -> float:
        """Seconds between two tokens."""
        return 1 / self.rate


def channel_bucket(namespace: str, name: str, rate: int, burst: int = 1) -> Bucket:
    return Bucket(ChannelKeys(namespace, name).gcra, rate, burst)


def campaign_bucket(namespace: str, name: str, rate: int, burst: int = 1) -> Bucket:
    return Bucket(CampaignKeys(namespace, name).gcra, rate, burst)


@dataclass(frozen=True)
class Grant:
    """What one call of gcra.lua returned (see its header)."""

    granted: int
    first_us: int
    retry_us: int
    now_us: int

    def slots_us(self, rate: int) -> list[float]:
        """Each granted token's slot, in microseconds after `now_us`."""
        interval = US / rate
        return [self.first_us + j * interval for j in range(self.granted)]


def gcra(tat_us: int | None, now_us: int, *, rate: int, burst: int, n: int,
         ahead_us: int = 0) -> tuple[Grant, int | None]:
    """gcra.lua's arithmetic in Python: the grant, and the TAT it stores (None: unchanged)."""
    interval = US / rate
    tau = burst * interval
    tat = now_us if tat_us is None or tat_us < now_us else tat_us
    fits = math.floor((now_us + ahead_us + tau - tat) / interval)
    granted = max(0, min(n, fits))
    first = math.ceil(tat + interval - tau - now_us)
    stored = None
    if granted > 0:
        tat = stored = math.ceil(tat + granted * interval)
    retry = max(0, math.ceil(tat + interval - tau - ahead_us - now_us))
    return Grant(granted, first, retry, now_us), stored


class GcraScript:
    """gcra.lua on one client: EVALSHA, loading the script again after NOSCRIPT."""

    def __init__(self, redis: Redis) -> None:
        self._script = redis.register_script(GCRA_LUA)

    async def __call__(self, bucket: Bucket, n: int, ahead_us: int = 0) -> Grant:
        reply = await self._script(keys=[bucket.key],
                                   args=[bucket.rate, bucket.burst, n, ahead_us])
        granted, first, retry, now = (int(v) for v in reply)
        return Grant(granted, first, retry, now)


@dataclass
class LimiterStats:
    redis_calls: int = 0
    asked: int = 0
    """Tokens this process asked of the channel's bucket."""
    granted: int = 0
    """Tokens the channel granted this process."""
    used: int = 0
    """Tokens `acquire` handed out."""
    expired: int = 0
    """Channel tokens dropped because they were not used within max_late of their slot."""
    campaign_granted: int = 0
    campaign_expired: int = 0
    """Campaign tokens dropped because no channel slot came within max_late."""
    errors: int = 0
    """Redis calls that failed (connection lost, server loading); retried with backoff."""


@dataclass
class _Budget:
    """Slots this process holds, as local monotonic times, oldest first."""

    ready: deque[float] = field(default_factory=deque)  # usable from this time
    pending: deque[float] = field(default_factory=deque)  # campaign slots awaiting a channel's


class RateLimiter:
    """Tokens for one sender process: `await acquire(n)` before sending n messages."""

    def __init__(self, redis: Redis, channel: Bucket, *, campaign: Bucket | None = None,
                 batch: int = BATCH, ahead: float = 0.25, max_late: float = 0.01,
                 decrease: float = 0.5, increase: float = 0.1, hold: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= batch <= 10_000 or ahead < 0 or max_late <= 0 or not 0 < decrease < 1:
            raise ValueError("batch 1..10000, ahead >= 0, max_late > 0, 0 < decrease < 1")
        self.channel, self.campaign = channel, campaign
        self.batch, self.ahead, self.max_late = batch, ahead, max_late
        self.decrease, self.increase, self.hold = decrease, increase, hold
        self.limit = float(min(channel.rate, campaign.rate if campaign else channel.rate))
        # Paired channel tokens may wait for their campaign slot: at most max_late's worth
        # of the channel's tokens, so the channel's count in any window moves by <= that.
        self.pair_window = max_late * max(1.0, channel.rate / self.limit)
        self.stats = LimiterStats()
        self._gcra = GcraScript(redis)
        self._clock = clock
        self._budget = _Budget()
        self._want = batch  # batch size now: halved when tokens expire, grown when not
        self._next_call = {channel.key: -math.inf}
        if campaign:
            self._next_call[campaign.key] = -math.inf
        self._failures = 0
        self._share = self.limit
        self._share_at = clock()
        self._decreased_at = -math.inf
        self._pace_tat = -math.inf
        self._refill_lock = asyncio.Lock()
        self._soon: asyncio.Task[bool] | None = None  # a refill started by `refill_soon`

    # -- the sender's side -------------------------------------------------------------

    async def acquire(self, n: int = 1) -> int:
        """Wait until at least one token is usable; return how many (1..n) to use now."""
        if n < 1:
            raise ValueError("acquire wants n >= 1")
        while True:
            now = self._clock()
            self._expire(now)
            taken = self._take(now, n)
            if taken:
                return taken
            if not await self._refill_once(now):
                await asyncio.sleep(max(0.0002, self._wake_at(now) - now))

    def refill_soon(self) -> None:
        """The caller is about to wait for something else (a bind's free slot): if the
        budget runs low, refill it in the background now, so the round trip to Redis
        overlaps that wait instead of following it.

        The same call `acquire` would make a moment later (the lock keeps refills one
        at a time); its slots are used at their times or expire as ever, so the limit
        holds: only when the caller's wait outlasts max_late are they lost. Only where a
        batch's slots all fall within max_late (a channel of 10,000/s or more at the
        default): at lower rates the slots trickle in anyway, and the window a slow SMSC
        keeps full let the first of them expire (2,000/s, an SMSC answering in 45-50 ms:
        2-3 times the tokens expired, 2-4% fewer messages a second).
        """
        if self.channel.rate * self.max_late < self._want_now():
            return
        soon = self._soon
        if soon is not None:
            if not soon.done():
                return
            self._soon = None
            soon.result()  # a Redis error other than a lost connection: raised here
        now = self._clock()
        self._expire(now)
        if (self._refill_lock.locked() or self.held > self._want_now() // 2
                or now < self._next_call[(self.campaign or self.channel).key]):
            return
        self._soon = asyncio.ensure_future(self._refill_once(now))

    async def close(self) -> None:
        """The sender is done: a refill `refill_soon` started is cancelled, not left
        running past its run (its tokens would expire unused anyway)."""
        soon, self._soon = self._soon, None
        if soon is not None and not soon.done():
            soon.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await soon

    async def _refill_once(self, now: float) -> bool:
        """Refill, one task at a time: a sender with several binds acquires from each
        bind's task, and two refills interleaving over one budget would pair the same
        campaign slots twice. A task that finds a refill under way waits for it."""
        if self._refill_lock.locked():
            async with self._refill_lock:
                return True
        async with self._refill_lock:
            return await self._refill(now)

    def slow_down(self) -> None:
        """The SMSC throttled us: halve this process's share (once per `hold`)."""
        now = self._clock()
        self._recover(now)
        if now - self._decreased_at < self.hold:
            return
        self._decreased_at = now
        self._share = max(1.0, self._share * self.decrease)

    @property
    def share(self) -> float:
        """Tokens per second this process allows itself now (at most `limit`)."""
        self._recover(self._clock())
        return self._share

    @property
    def held(self) -> int:
        """Tokens reserved in Redis and not yet handed out."""
        return len(self._budget.ready) + len(self._budget.pending)

    # -- local budget ------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        late = now - self.max_late
        ready, pending = self._budget.ready, self._budget.pending
        dropped = 0
        while ready and ready[0] < late:
            ready.popleft()
            dropped += 1
        self.stats.expired += dropped
        while pending and pending[0] < late:
            pending.popleft()
            self.stats.campaign_expired += 1
            dropped += 1
        if dropped:
            self._want = max(1, self._want // 2)

    def _take(self, now: float, n: int) -> int:
        ready = self._budget.ready
        due = self._paced(now, _count_until(ready, now, n))
        for _ in range(due):
            ready.popleft()
        if due and self._share < self.limit:
            self._pace_tat = max(self._pace_tat, now) + due / self._share
        self.stats.used += due
        return due

    def _recover(self, now: float) -> None:
        """Additive increase of the share, back up to the limit."""
        if self._share < self.limit:
            grown = self._share + self.limit * self.increase * (now - self._share_at)
            self._share = min(self.limit, grown)
        self._share_at = now

    def _pace_depth(self) -> float:
        return max(1.0, self._share * self.max_late)

    def _paced(self, now: float, due: int) -> int:
        """How many of the due tokens a reduced share lets this process use now."""
        self._recover(now)
        if self._share >= self.limit or not due:
            return due
        tat = max(self._pace_tat, now)  # a local GCRA at the share's rate
        return min(due, max(0, math.floor((now - tat) * self._share + self._pace_depth())))

    def _want_now(self) -> int:
        if self._share >= self.limit:
            return self._want
        return max(1, min(self._want, math.floor(self._share * (self.ahead + self.max_late))))

    def _wake_at(self, now: float) -> float:
        ready, pending = self._budget.ready, self._budget.pending
        times = [now + 1.0]
        if ready:
            paced = self._pace_tat + (1 - self._pace_depth()) / self._share
            times.append(ready[0] if self._share >= self.limit else max(ready[0], paced))
        if self.held <= self._want_now() // 2:
            times.append(self._next_call[(self.campaign or self.channel).key])
        if pending:  # pair when the first campaign slot falls due: a pair_window's worth
            times.append(max(pending[0], self._next_call[self.channel.key]))
        return min(times)

    # -- Redis -------------------------------------------------------------------------

    async def _refill(self, now: float) -> bool:
        """Reserve more slots if the budget runs low; True if Redis was called."""
        want, budget = self._want_now(), self._budget
        low = self.held <= want // 2
        if self.campaign is None:
            if not low or now < self._next_call[self.channel.key]:
                return False
            got = await self._call(self.channel, want - self.held)
            budget.ready.extend(got)
            return True
        called = False
        if low and now >= self._next_call[self.campaign.key]:
            got = await self._call(self.campaign, want - self.held)
            self.stats.campaign_granted += len(got)
            budget.pending.extend(got)
            now, called = self._clock(), True
        due = bool(budget.pending) and budget.pending[0] <= now
        if due and now >= self._next_call[self.channel.key]:
            # Take the campaign slots out before the await: another bind's task may
            # expire or take from `pending` meanwhile.
            count = _count_until(budget.pending, now + self.pair_window)
            taken = [budget.pending.popleft() for _ in range(count)]
            got = await self._call(self.channel, count)
            budget.ready.extend(max(mine, slot) for mine, slot in zip(taken, got, strict=False))
            budget.pending.extendleft(reversed(taken[len(got):]))  # unmatched: back in front
            called = True
        return called

    async def _call(self, bucket: Bucket, n: int) -> list[float]:
        """Take up to n tokens from a bucket; their slots as local monotonic times."""
        self.stats.redis_calls += 1
        try:
            grant = await self._gcra(bucket, n, round(self.ahead * US))
        except (RedisConnectionError, RedisTimeoutError) as error:
            self._failures += 1
            self.stats.errors += 1
            backoff = min(1.0, 0.01 * 2 ** self._failures)
            log.warning("rate limiter: Redis call failed (%s), retrying in %.2fs", error, backoff)
            self._next_call[bucket.key] = self._clock() + backoff
            return []
        received = self._clock()
        self._failures = 0
        if bucket is self.channel:
            self.stats.asked += n
            self.stats.granted += grant.granted
        slots = [received + max(0.0, slot) / US for slot in grant.slots_us(bucket.rate)]
        if grant.granted < n:
            # The bucket is reserved up to its horizon: come back when a half batch fits,
            # at a random point so that senders waiting on the same bucket spread out,
            # and not before this process is about to run out.
            horizon = math.floor(self.ahead * bucket.rate) + bucket.burst
            chunk = max(1, min(self._want_now(), horizon) // 2)
            wait = (grant.retry_us / US + (chunk - 1) * bucket.interval) * random.uniform(1, 1.5)
            self._next_call[bucket.key] = max(received + wait, self._runs_low(slots))
        else:
            self._next_call[bucket.key] = received
            self._want = min(self.batch, self._want + max(1, self.batch // 8))
        return slots

    def _runs_low(self, granted: list[float]) -> float:
        """When this process is down to its last few tokens, counting those just granted."""
        held = sorted([*self._budget.ready, *self._budget.pending, *granted])
        keep = max(1, self._want_now() // 8)
        return held[-keep] - self.max_late if len(held) > keep else -math.inf


def _count_until(slots: deque[float], limit: float, most: int | None = None) -> int:
    """How many leading slots are no later than limit (at most `most`)."""
    count = 0
    for slot in slots:
        if slot > limit or count == most:
            break
        count += 1
    return count
