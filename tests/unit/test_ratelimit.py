"""Token-bucket rate limits: parsing, the in-process limiter on a fake clock, and the Redis limiter on a real Redis."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from uuid import uuid4

import pytest
import redis.asyncio as aioredis

from api.ratelimit import (
    _SCRIPT_SHA,
    Limit,
    MemoryRateLimiter,
    RateLimitUnavailable,
    RedisRateLimiter,
    build_rate_limiter,
)

REDIS_URL = os.environ.get("AI_SRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- Limit.parse ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate", "burst"),
    [
        ("600/minute", 10.0, 600),
        ("20/second", 20.0, 20),
        ("10000/hour", 10000 / 3600, 10000),
        ("1000/day", 1000 / 86400, 1000),
        ("5/minute;burst=2", 5 / 60, 2),
        ("  20 / Seconds ; BURST = 3 ", 20.0, 3),
        ("0.5/second", 0.5, 1),  # a fractional count still allows one hit
        ("2.5/second", 2.5, 2),
    ],
)
def test_parse_accepts(text: str, rate: float, burst: int) -> None:
    limit = Limit.parse(text)
    assert limit.rate == pytest.approx(rate)
    assert limit.burst == burst


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected '<count>/"),
        ("600", "expected '<count>/"),
        ("600/", "expected '<count>/"),
        ("/minute", "expected '<count>/"),
        ("abc/minute", "is not a non-negative number"),
        ("-1/minute", "is not a non-negative number"),
        ("inf/second", "is not a non-negative number"),
        ("nan/second", "is not a non-negative number"),
        ("0/minute", "greater than zero"),
        ("10/fortnight", "unknown unit 'fortnight'"),
        ("10/minute;burst=0", "burst '0' is not a positive integer"),
        ("10/minute;burst=x", "burst 'x' is not a positive integer"),
        ("10/minute;burst=1.5", "burst '1.5' is not a positive integer"),
        ("10/minute;burst", "unknown option 'burst'"),
        ("10/minute;cap=3", "unknown option 'cap=3'"),
        ("10/minute;burst=2;burst=3", "'burst' given twice"),
    ],
)
def test_parse_rejects_with_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="rate limit") as info:
        Limit.parse(text)
    assert reason in str(info.value)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (float("inf"), 1), (float("nan"), 1), (1.0, 0)])
def test_limit_rejects_impossible_buckets(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must be a positive"):
        Limit(rate=rate, burst=burst)


# --- MemoryRateLimiter ---------------------------------------------------------------------------


async def test_memory_burst_then_refusal() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    limit = Limit.parse("10/minute")
    decisions = [await limiter.hit("key:a", limit) for _ in range(10)]
    assert [d.allowed for d in decisions] == [True] * 10
    assert [d.remaining for d in decisions] == list(range(9, -1, -1))
    assert all(d.retry_after == 0 for d in decisions)
    refused = await limiter.hit("key:a", limit)
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after == 6.0  # one token every 60/10 s


async def test_memory_refills_with_time() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    limit = Limit.parse("10/minute")
    for _ in range(10):
        assert (await limiter.hit("k", limit)).allowed
    clock.advance(2.5)
    early = await limiter.hit("k", limit)
    assert not early.allowed
    assert early.retry_after == 3.5
    clock.advance(3.5)
    assert (await limiter.hit("k", limit)).allowed  # waiting exactly retry_after is enough
    again = await limiter.hit("k", limit)
    assert not again.allowed
    assert again.retry_after == 6.0
    clock.advance(3600)  # refill caps at burst: a long idle does not bank more than 10
    assert [(await limiter.hit("k", limit)).allowed for _ in range(11)] == [True] * 10 + [False]


async def test_memory_retry_after_rounds_up_to_the_millisecond() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    limit = Limit.parse("3/second;burst=1")
    assert (await limiter.hit("k", limit)).allowed
    refused = await limiter.hit("k", limit)
    assert refused.retry_after == 0.334  # 1/3 s, never early
    clock.advance(0.333)
    assert not (await limiter.hit("k", limit)).allowed
    clock.advance(0.001)
    assert (await limiter.hit("k", limit)).allowed


async def test_memory_clock_stepping_back_grants_nothing() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    limit = Limit.parse("1/second;burst=1")
    assert (await limiter.hit("k", limit)).allowed
    clock.advance(-30)
    assert not (await limiter.hit("k", limit)).allowed
    clock.advance(1)
    assert (await limiter.hit("k", limit)).allowed


async def test_memory_keys_are_independent() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    limit = Limit.parse("2/minute")
    assert [(await limiter.hit("ip:10.0.0.1", limit)).allowed for _ in range(3)] == [True, True, False]
    assert [(await limiter.hit("ip:10.0.0.2", limit)).allowed for _ in range(3)] == [True, True, False]
    assert [(await limiter.hit("key:10.0.0.1", limit)).allowed for _ in range(3)] == [True, True, False]


async def test_memory_cost_above_one() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    limit = Limit(rate=1.0, burst=10)
    assert (await limiter.hit("k", limit, cost=4)).remaining == 6
    assert (await limiter.hit("k", limit, cost=4)).remaining == 2
    refused = await limiter.hit("k", limit, cost=4)
    assert not refused.allowed
    assert refused.remaining == 2  # a refused hit takes nothing
    assert refused.retry_after == 2.0  # until 4 tokens are there
    assert (await limiter.hit("k", limit, cost=2)).remaining == 0
    clock.advance(4)
    assert (await limiter.hit("k", limit, cost=4)).allowed


@pytest.mark.parametrize("cost", [0, -1, 11, float("nan"), float("inf")])
async def test_memory_rejects_unpayable_cost(cost: float) -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    with pytest.raises(ValueError, match="cost must be"):
        await limiter.hit("k", Limit(rate=1.0, burst=10), cost=cost)


async def test_memory_evicts_beyond_max_keys_least_recently_used_first() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock(), max_keys=3)
    limit = Limit.parse("1/hour")
    for i in range(5):
        assert (await limiter.hit(f"k{i}", limit)).allowed
    assert len(limiter) == 3
    # k4 is remembered (drained); k0 was evicted first, so it starts over with a full bucket.
    assert not (await limiter.hit("k4", limit)).allowed
    assert (await limiter.hit("k0", limit)).allowed
    assert len(limiter) == 3


async def test_memory_forgets_buckets_that_are_full_again() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    fast = Limit.parse("1/second")
    slow = Limit.parse("1/hour")
    for key in ("a", "b", "c"):
        await limiter.hit(key, fast)
    assert len(limiter) == 3
    clock.advance(1.0)  # a, b, c are full again: forgetting them changes no decision
    await limiter.hit("s", slow)
    assert len(limiter) == 1
    clock.advance(1.0)
    await limiter.hit("t", fast)
    assert len(limiter) == 2  # "s" still owes tokens, so it is kept


async def test_memory_concurrent_hits_respect_burst() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    limit = Limit.parse("20/hour")
    decisions = await asyncio.gather(*(limiter.hit("k", limit) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 20


async def test_memory_aclose_forgets_everything() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    await limiter.hit("k", Limit.parse("1/hour"))
    await limiter.aclose()
    assert len(limiter) == 0


def test_build_rate_limiter_without_url_is_in_process() -> None:
    assert isinstance(build_rate_limiter(None), MemoryRateLimiter)
    assert isinstance(build_rate_limiter(""), MemoryRateLimiter)


# --- RedisRateLimiter (real Redis) ---------------------------------------------------------------


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(admin: aioredis.Redis) -> AsyncIterator[str]:
    value = f"aisre-test:{uuid4().hex}:"
    yield value
    keys = [key async for key in admin.scan_iter(match=value + "*")]
    if keys:
        await admin.delete(*keys)


@pytest.fixture
async def replicas(prefix: str) -> AsyncIterator[Callable[[], RedisRateLimiter]]:
    """Each call is one more API replica: its own limiter and connection pool, same Redis and prefix."""
    made: list[RedisRateLimiter] = []

    def make() -> RedisRateLimiter:
        limiter = RedisRateLimiter.from_url(REDIS_URL, prefix=prefix)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


async def _keys(admin: aioredis.Redis, prefix: str) -> list[str]:
    return [key async for key in admin.scan_iter(match=prefix + "*")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_redis_replicas_share_one_budget(replicas: Callable[[], RedisRateLimiter]) -> None:
    a, b = replicas(), replicas()
    assert a._client.connection_pool is not b._client.connection_pool
    limit = Limit.parse("10/minute")
    decisions = [await a.hit("key:team-a", limit) for _ in range(10)]
    assert [d.allowed for d in decisions] == [True] * 10
    assert [d.remaining for d in decisions] == list(range(9, -1, -1))
    refused = await b.hit("key:team-a", limit)
    assert not refused.allowed
    assert refused.remaining == 0
    assert 0 < refused.retry_after <= 6.0
    assert (await b.hit("key:team-b", limit)).allowed  # another key has its own bucket


async def test_redis_concurrent_hits_across_replicas(replicas: Callable[[], RedisRateLimiter]) -> None:
    a, b = replicas(), replicas()
    limit = Limit.parse("20/hour")
    decisions = await asyncio.gather(*((a if i % 2 else b).hit("ip:203.0.113.7", limit) for i in range(50)))
    assert sum(d.allowed for d in decisions) == 20


async def test_redis_refills_from_server_time(replicas: Callable[[], RedisRateLimiter]) -> None:
    limiter = replicas()
    limit = Limit.parse("20/second;burst=1")
    assert (await limiter.hit("k", limit)).allowed
    refused = await limiter.hit("k", limit)
    assert not refused.allowed
    assert 0 < refused.retry_after <= 0.05
    await asyncio.sleep(refused.retry_after + 0.005)  # Redis TIME is wall clock; asyncio sleeps on monotonic
    assert (await limiter.hit("k", limit)).allowed


async def test_redis_refill_stops_at_burst(replicas: Callable[[], RedisRateLimiter]) -> None:
    limiter = replicas()
    limit = Limit.parse("20/second;burst=2")
    assert (await limiter.hit("k", limit)).remaining == 1
    await asyncio.sleep(0.2)  # 4 tokens' worth of refill, but the bucket holds 2
    decisions = [await limiter.hit("k", limit) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]


async def test_redis_cost_above_one(replicas: Callable[[], RedisRateLimiter]) -> None:
    limiter = replicas()
    limit = Limit(rate=1 / 3600, burst=10)
    assert (await limiter.hit("k", limit, cost=4)).remaining == 6
    assert (await limiter.hit("k", limit, cost=4)).remaining == 2
    refused = await limiter.hit("k", limit, cost=4)
    assert not refused.allowed
    assert refused.remaining == 2
    assert 2 * 3600 - 1 < refused.retry_after <= 2 * 3600


async def test_redis_keys_are_hashed_and_expire_when_full_again(
    replicas: Callable[[], RedisRateLimiter], admin: aioredis.Redis, prefix: str
) -> None:
    limiter = replicas()
    limit = Limit.parse("10/minute")
    user_key = "key:secret-looking-token:with:colons"
    await limiter.hit(user_key, limit)
    (key,) = await _keys(admin, prefix)
    assert key == limiter.redis_key(user_key)
    assert "secret-looking-token" not in key
    assert 5000 < await admin.pttl(key) <= 6000  # one token spent: full again in 6 s
    for _ in range(9):
        await limiter.hit(user_key, limit)
    assert 54000 < await admin.pttl(key) <= 60000  # drained: full again in 60 s
    await limiter.hit(user_key, limit)  # refused: the bucket is no fuller, the TTL stays
    assert 54000 < await admin.pttl(key) <= 60000


async def test_redis_prefixes_isolate_deployments(
    replicas: Callable[[], RedisRateLimiter], prefix: str, admin: aioredis.Redis
) -> None:
    other_prefix = prefix + "other:"
    other = RedisRateLimiter.from_url(REDIS_URL, prefix=other_prefix)
    try:
        limit = Limit.parse("1/hour")
        assert (await replicas().hit("k", limit)).allowed
        assert (await other.hit("k", limit)).allowed
        assert not (await other.hit("k", limit)).allowed
    finally:
        await other.aclose()
    assert len(await _keys(admin, other_prefix)) == 1  # the fixture's cleanup (prefix*) removes it too


async def test_redis_reloads_script_after_flush(
    replicas: Callable[[], RedisRateLimiter], admin: aioredis.Redis
) -> None:
    limiter = replicas()
    limit = Limit.parse("10/minute")
    assert (await limiter.hit("k", limit)).remaining == 9
    await admin.script_flush()
    assert (await limiter.hit("k", limit)).remaining == 8  # NOSCRIPT recovered, state kept
    assert await admin.script_exists(_SCRIPT_SHA) == [True]


async def test_redis_health_ok(replicas: Callable[[], RedisRateLimiter]) -> None:
    await replicas().health()


async def test_redis_unreachable_raises_unavailable_without_password() -> None:
    port = _closed_port()
    limiter = RedisRateLimiter.from_url(f"redis://:hunter2-pw@127.0.0.1:{port}/0", prefix="aisre-test:")
    try:
        with pytest.raises(RateLimitUnavailable, match=f"127.0.0.1:{port}") as health:
            await limiter.health()
        with pytest.raises(RateLimitUnavailable) as hit:
            await limiter.hit("k", Limit.parse("1/second"))
    finally:
        await limiter.aclose()
    for info in (health, hit):
        assert "hunter2-pw" not in str(info.value)
        assert "hunter2-pw" not in str(info.value.__cause__)


async def test_build_rate_limiter_with_url_uses_redis() -> None:
    limiter = build_rate_limiter(REDIS_URL)
    try:
        assert isinstance(limiter, RedisRateLimiter)
        await limiter.health()
    finally:
        await limiter.aclose()
