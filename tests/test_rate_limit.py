"""The cluster-wide rate limit: gcra.lua in a real redis-server, and RateLimiter on top.

Rates are checked against the Redis server's own clock (TIME), with tolerances from
the burst: a bucket of rate r and burst b grants at most b + r * t tokens in any span
t of server time. No test asserts how fast anything runs.
"""

from __future__ import annotations

import asyncio
import bisect
import math

import pytest
import redis
import redis.asyncio as aioredis
from redis.crc import key_slot

from herald.local.kube.client import wait_for
from herald.local.redis import RedisServerError, redis_server, running_redis, start_redis
from sender.store.client import connect
from sender.store.keys import CampaignKeys, ChannelKeys
from sender.store.rate_limit import (
    US,
    Bucket,
    GcraScript,
    Grant,
    RateLimiter,
    campaign_bucket,
    channel_bucket,
    gcra,
)

NOW = 1_700_000_000_000_000  # µs since the epoch


async def server_us(redis: aioredis.Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * US + int(micros)


def most_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max(bisect.bisect_left(stamps, t + window) - i for i, t in enumerate(stamps))


# -- the arithmetic, without Redis -------------------------------------------------------

@pytest.mark.parametrize("tat, kwargs, grant, stored", [
    pytest.param(None, dict(rate=1000, burst=10, n=100), Grant(10, -9000, 1000, NOW),
                 NOW + 10_000, id="fresh-bucket-grants-its-burst"),
    pytest.param(NOW + 10_000, dict(rate=1000, burst=10, n=100), Grant(0, 1000, 1000, NOW),
                 None, id="empty-bucket-grants-nothing"),
    pytest.param(NOW + 9_000, dict(rate=1000, burst=10, n=100), Grant(1, 0, 1000, NOW),
                 NOW + 10_000, id="one-token-refilled"),
    pytest.param(NOW - 60 * US, dict(rate=1000, burst=10, n=100), Grant(10, -9000, 1000, NOW),
                 NOW + 10_000, id="idle-bucket-holds-no-more-than-burst"),
    pytest.param(None, dict(rate=1000, burst=1, n=100, ahead_us=50_000),
                 Grant(51, 0, 1000, NOW), NOW + 51_000, id="slots-reserved-ahead"),
    pytest.param(NOW + 40_000, dict(rate=1000, burst=1, n=5, ahead_us=50_000),
                 Grant(5, 40_000, 0, NOW), NOW + 45_000, id="reserved-slots-queue-behind"),
    pytest.param(NOW + 5_000, dict(rate=1000, burst=10, n=0), Grant(0, -4000, 0, NOW),
                 None, id="n0-peeks"),
    pytest.param(None, dict(rate=3, burst=2, n=5), Grant(2, -333_333, 333_334, NOW),
                 NOW + 666_667, id="fractional-interval-rounds-against-the-caller"),
])
def test_gcra_arithmetic(tat, kwargs, grant, stored):
    assert gcra(tat, NOW, **kwargs) == (grant, stored)


@pytest.mark.parametrize("key, rate, burst", [
    pytest.param("herald:channel:a/b:gcra", 10, 1, id="no-hash-tag"),
    pytest.param("herald:{channel:a/b}:gcra", 0, 1, id="rate-0"),
    pytest.param("herald:{channel:a/b}:gcra", 2_000_000, 1, id="rate-beyond-microseconds"),
    pytest.param("herald:{channel:a/b}:gcra", 10, 0, id="burst-0"),
])
def test_bad_bucket(key, rate, burst):
    with pytest.raises(ValueError):
        Bucket(key, rate, burst)


def test_keys_carry_their_hash_tags():
    channel = channel_bucket("default", "carrier-a", 100)
    campaign = campaign_bucket("shop", "spring-sale", 10)
    assert channel.key == "herald:{channel:default/carrier-a}:gcra"
    assert campaign.key == "herald:{campaign:shop/spring-sale}:gcra"
    # Same slot as every other key of the same channel or campaign.
    assert key_slot(channel.key.encode()) == key_slot(
        ChannelKeys("default", "carrier-a").receipts.encode())
    assert key_slot(campaign.key.encode()) == key_slot(
        CampaignKeys("shop", "spring-sale").state.encode())


def test_slow_down_is_aimd():
    t = [0.0]
    limiter = RateLimiter(aioredis.Redis(), channel_bucket("d", "c", 1000), increase=0.1,
                          hold=0.25, clock=lambda: t[0])
    assert limiter.share == 1000
    limiter.slow_down()
    assert limiter.share == 500  # multiplicative decrease
    t[0] = 0.1
    limiter.slow_down()  # within `hold`: one burst of throttling counts once
    assert limiter.share == pytest.approx(510)  # additive increase: 10% of the limit per s
    t[0] = 0.3
    limiter.slow_down()
    assert limiter.share == pytest.approx(265)
    t[0] = 10.0
    assert limiter.share == 1000  # back to the limit, never above
    for i in range(40):
        t[0] = 11 + i
        limiter.slow_down()
    assert limiter.share >= 1


# -- the script in Redis -----------------------------------------------------------------

async def test_script_matches_the_python_arithmetic(redis):
    script = GcraScript(redis)
    calls = [(1000, 10, 100, 0), (1000, 10, 3, 0), (1000, 10, 100, 0), (7, 2, 5, 0),
             (5000, 1, 100, 20_000), (5000, 1, 100, 20_000), (5000, 1, 0, 20_000),
             (3, 4, 1, 1_000_000), (3, 4, 9, 1_000_000)]
    for i, (rate, burst, n, ahead) in enumerate(calls):
        bucket = Bucket(f"herald:{{channel:t/{rate}}}:gcra", rate, burst)
        before = await redis.get(bucket.key)
        grant = await script(bucket, n, ahead)
        after = await redis.get(bucket.key)
        expected, stored = gcra(int(before) if before else None, grant.now_us,
                                rate=rate, burst=burst, n=n, ahead_us=ahead)
        assert grant == expected, f"call {i}"
        assert (int(after) if after else None) == (stored if stored else
                                                   (int(before) if before else None))
        if after:
            assert await redis.pttl(bucket.key) > 0  # the key cleans itself up


async def test_burst_is_granted_then_paced(redis):
    script = GcraScript(redis)
    bucket = channel_bucket("default", "carrier-a", rate=2000, burst=50)
    first = await script(bucket, 100)
    assert first.granted == 50
    total, last = first.granted, first
    while total < 300:
        await asyncio.sleep(last.retry_us / US)  # the script's retry-after
        last = await script(bucket, 100)
        assert last.granted < 100  # every call drained the bucket
        total += last.granted
    # Each call took all there was, so the count is exact to one token in server time.
    elapsed = (last.now_us - first.now_us) / US
    assert bucket.burst + bucket.rate * elapsed - 1 < total <= bucket.burst + bucket.rate * elapsed


async def test_batch_grants_never_exceed_the_rate_over_any_window(redis):
    script = GcraScript(redis)
    bucket = channel_bucket("default", "carrier-a", rate=2000, burst=5)
    slots: list[float] = []  # server time, seconds

    async def sender() -> None:
        while len(slots) < 1200:
            grant = await script(bucket, 100, ahead_us=100_000)
            slots.extend((grant.now_us + s) / US for s in grant.slots_us(bucket.rate))
            await asyncio.sleep(max(grant.retry_us / US, 0.01))

    await asyncio.gather(*(sender() for _ in range(3)))
    for window in (0.001, 0.01, 0.1, 0.25):
        assert most_in_window(slots, window) <= bucket.burst + bucket.rate * window + 1, window


# -- RateLimiter -------------------------------------------------------------------------

async def use(limiter: RateLimiter, counts: dict[str, int], name: str, total: int) -> None:
    """A sender: take tokens in batches until the senders together used `total`."""
    while sum(counts.values()) < total:
        counts[name] += await limiter.acquire(100)


async def test_two_limiters_share_the_channel(redis_server, redis):
    bucket = channel_bucket("default", "carrier-a", rate=1000, burst=1)
    clients = [connect(redis_server.url) for _ in range(2)]
    limiters = [RateLimiter(c, bucket, ahead=0.05) for c in clients]
    counts = {"a": 0, "b": 0}
    start = await server_us(redis)
    await asyncio.gather(use(limiters[0], counts, "a", 400), use(limiters[1], counts, "b", 400))
    elapsed = (await server_us(redis) - start) / US
    for client in clients:
        await client.aclose()
    used = sum(counts.values())
    assert used <= bucket.burst + bucket.rate * elapsed + 1
    assert min(counts.values()) >= used // 10, counts  # both senders got their turn
    calls = sum(limiter.stats.redis_calls for limiter in limiters)
    assert calls < used / 4  # batches: well under one Redis call per message


@pytest.mark.parametrize("channel_rate, campaign_rate", [
    pytest.param(5000, 500, id="campaign-cap-binds"),
    pytest.param(500, 5000, id="channel-binds"),
])
async def test_campaign_cap_and_channel_limit(redis, channel_rate, campaign_rate):
    channel = channel_bucket("default", "carrier-a", channel_rate, burst=10)
    campaign = campaign_bucket("shop", "spring-sale", campaign_rate, burst=5)
    limiter = RateLimiter(redis, channel, campaign=campaign)
    counts = {"sender": 0}
    start = await server_us(redis)
    await use(limiter, counts, "sender", 200)
    elapsed = (await server_us(redis) - start) / US
    binding = min(channel, campaign, key=lambda b: b.rate)
    assert counts["sender"] <= binding.burst + binding.rate * elapsed + 1
    stats = limiter.stats
    # Every campaign token is used, still held, or expired for want of a channel slot;
    # every channel token came with a campaign token.
    assert stats.campaign_granted == stats.granted + len(limiter._budget.pending) \
        + stats.campaign_expired
    assert stats.granted == stats.used + len(limiter._budget.ready) + stats.expired
    # Only the two buckets (a bucket whose key expired is full again).
    assert set(await redis.keys("herald:*")) <= {channel.key, campaign.key}


async def test_one_limiter_shared_by_several_binds(redis):
    """A sender acquires from one task per bind; their refills must not interleave (two
    tasks once paired the same campaign slots and popped an empty deque)."""
    channel = channel_bucket("default", "carrier-a", 2000, burst=100)
    campaign = campaign_bucket("shop", "spring-sale", 1000, burst=1)
    limiter = RateLimiter(redis, channel, campaign=campaign)
    counts = {"bind-0": 0, "bind-1": 0, "bind-2": 0}
    start = await server_us(redis)
    await asyncio.gather(*(use(limiter, counts, name, 450) for name in counts))
    elapsed = (await server_us(redis) - start) / US
    assert sum(counts.values()) >= 450
    assert sum(counts.values()) <= campaign.burst + campaign.rate * elapsed + 1
    stats = limiter.stats
    assert stats.campaign_granted == stats.granted + len(limiter._budget.pending) \
        + stats.campaign_expired


async def test_throttled_sender_slows_down_and_yields_to_its_peers(redis_server, redis):
    bucket = channel_bucket("default", "carrier-a", rate=2000, burst=1)
    clients = [connect(redis_server.url) for _ in range(2)]
    throttled = RateLimiter(clients[0], bucket, ahead=0.05, increase=0.0, hold=0.0)
    peer = RateLimiter(clients[1], bucket, ahead=0.05)
    throttled.slow_down()
    throttled.slow_down()
    assert throttled.share == 500
    counts = {"throttled": 0, "peer": 0}
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def throttled_sender() -> None:
        while counts["throttled"] < 100:
            counts["throttled"] += await throttled.acquire(100)

    peer_task = asyncio.create_task(use(peer, counts, "peer", 10**9))
    await throttled_sender()
    elapsed = loop.time() - start
    peer_task.cancel()
    for client in clients:
        await client.aclose()
    depth = max(1.0, 500 * throttled.max_late)
    assert elapsed >= (100 - depth) / 500  # paced at its share: lower bound on time taken
    assert counts["peer"] > counts["throttled"]  # the rest of the limit went to the peer


async def test_flush_starts_a_fresh_bucket(redis):
    bucket = channel_bucket("default", "carrier-a", rate=1000, burst=20)
    limiter = RateLimiter(redis, bucket, ahead=0.0)
    assert await limiter.acquire(100) == 20  # the burst
    await redis.flushall()
    await redis.script_flush()  # NOSCRIPT next: redis-py loads it again
    assert await limiter.acquire(100) >= 1
    assert await redis.exists(bucket.key)
    assert limiter.stats.errors == 0


async def test_redis_restart_does_not_crash_the_limiter(tmp_path):
    bucket = channel_bucket("default", "carrier-a", rate=1000, burst=5)
    async with running_redis(tmp_path / "first") as server:
        port = server.port
        client = connect(server.url, socket_timeout=1)
        limiter = RateLimiter(client, bucket, batch=5, ahead=0.0)
        assert await limiter.acquire(5) == 5
    # Down: the limiter keeps retrying with backoff instead of raising.
    task = asyncio.create_task(limiter.acquire(5))
    await wait_for(lambda: limiter.stats.errors, until=bool, timeout=10,
                   message="the limiter never tried the stopped server")
    assert not task.done()
    async with running_redis(tmp_path / "second", port=port):
        got = await asyncio.wait_for(task, timeout=10)
        assert 1 <= got <= 5  # a fresh bucket
        assert math.isfinite(limiter.share)
    await client.aclose()


# -- herald.local.redis -------------------------------------------------------------------

def test_local_redis_from_synchronous_code(tmp_path):
    with redis_server(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        client.close()
    assert server.process.returncode == 0  # SIGTERM, waited for


def test_missing_redis_server_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisServerError, match="install Debian's redis-server"):
        start_redis()


async def test_refill_soon_reserves_in_the_background_what_acquire_would(redis):
    """A sender about to wait for a bind's slot refills its budget meanwhile: the next
    acquire finds the tokens; one refill at a time; a full budget asks Redis nothing."""
    bucket = channel_bucket("default", "carrier-a", 100_000)
    limiter = RateLimiter(redis, bucket, batch=50, max_late=30.0)  # none expires here
    taken = 0
    while taken < 50:  # the first batch, all of it: the budget is empty then
        taken += await limiter.acquire(50 - taken)
    assert limiter.held == 0
    calls = limiter.stats.redis_calls
    limiter.refill_soon()
    limiter.refill_soon()  # one under way: not a second
    await wait_for(lambda: limiter.held > 0, timeout=5, message="refilled")
    assert limiter.stats.redis_calls == calls + 1
    limiter.refill_soon()  # the budget is full: nothing to do
    assert limiter.stats.redis_calls == calls + 1
    assert await limiter.acquire(50) > 0 and limiter.stats.redis_calls == calls + 1


async def test_close_cancels_a_refill_that_refill_soon_started(redis):
    """A run's end leaves no refill behind: one started and not yet sent is cancelled,
    and Redis is never asked."""
    bucket = channel_bucket("default", "carrier-a", 100_000)
    limiter = RateLimiter(redis, bucket, batch=50, max_late=30.0)
    taken = 0
    while taken < 50:
        taken += await limiter.acquire(50 - taken)
    calls = limiter.stats.redis_calls
    limiter.refill_soon()  # scheduled, not yet run: this test has not yielded since
    await limiter.close()
    assert limiter.stats.redis_calls == calls and limiter.held == 0
    await limiter.close()  # twice is fine
