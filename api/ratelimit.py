"""Token-bucket rate limits: in-process for one replica, Redis-backed so API replicas share one budget."""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisError

# Float refill arithmetic drifts by ~1e-16 per step; without this slack a client that waits exactly
# `retry_after` could find 0.9999999999999999 tokens and be refused again.
_EPSILON = 1e-9

_UNITS: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_COUNT = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Limit:
    """A token bucket: `rate` tokens added per second up to `burst` tokens."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be a positive number of tokens per second, got {self.rate!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"burst must be a positive integer, got {self.burst!r}")

    @classmethod
    def parse(cls, text: str) -> Limit:
        """Parse '600/minute', '20/second', '10000/hour' or '1000/day', with an optional ';burst=N'."""
        spec, *options = (part.strip() for part in text.split(";"))
        count_text, slash, unit_text = spec.partition("/")
        count_text, unit_text = count_text.strip(), unit_text.strip().lower()
        if not slash or not count_text or not unit_text:
            raise ValueError(f"rate limit {text!r}: expected '<count>/<second|minute|hour|day>[;burst=N]'")
        if not _COUNT.fullmatch(count_text):
            raise ValueError(f"rate limit {text!r}: count {count_text!r} is not a non-negative number")
        count = float(count_text)
        if count <= 0:
            raise ValueError(f"rate limit {text!r}: count must be greater than zero")
        period = _UNITS.get(unit_text.removesuffix("s"))
        if period is None:
            raise ValueError(f"rate limit {text!r}: unknown unit {unit_text!r} (use second, minute, hour or day)")
        burst = max(1, math.floor(count))
        seen: set[str] = set()
        for option in options:
            name, eq, value = (p.strip() for p in option.partition("="))
            name = name.lower()
            if name != "burst" or not eq:
                raise ValueError(f"rate limit {text!r}: unknown option {option!r} (only 'burst=N' is allowed)")
            if name in seen:
                raise ValueError(f"rate limit {text!r}: 'burst' given twice")
            seen.add(name)
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"rate limit {text!r}: burst {value!r} is not a positive integer")
            burst = int(value)
        return cls(rate=count / period, burst=burst)


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit: allowed or not, whole tokens left, and seconds to wait when refused."""

    allowed: bool
    remaining: int
    retry_after: float


class RateLimitUnavailable(Exception):
    """The shared rate-limit store cannot be reached; the caller decides whether to fail open or closed."""


class RateLimiter(Protocol):
    """Takes `cost` tokens from the bucket named `key` if it holds them."""

    async def hit(self, key: str, limit: Limit, *, cost: float = 1.0) -> Decision: ...

    async def aclose(self) -> None: ...


def _check_cost(limit: Limit, cost: float) -> None:
    # A cost above the burst could never be paid; refusing forever with a finite retry_after would lie.
    if not (math.isfinite(cost) and 0 < cost <= limit.burst):
        raise ValueError(f"cost must be > 0 and <= the limit's burst ({limit.burst}), got {cost!r}")


def _decide(*, tokens: float, limit: Limit, cost: float) -> tuple[Decision, float]:
    """Take `cost` from a bucket already refilled to `tokens`; return the decision and the tokens left."""
    if tokens + _EPSILON >= cost:
        left = max(0.0, tokens - cost)
        return Decision(allowed=True, remaining=math.floor(left + _EPSILON), retry_after=0.0), left
    return Decision(
        allowed=False, remaining=math.floor(tokens + _EPSILON), retry_after=_ms_ceil((cost - tokens) / limit.rate)
    ), tokens


def _ms_ceil(seconds: float) -> float:
    # Round up to the millisecond so that retrying after `retry_after` is never early; the epsilon keeps
    # 6.000000000000001 (float noise) at 6.0 instead of 6.001.
    return max(0.001, math.ceil(seconds * 1000 - 1e-6) / 1000)


@dataclass
class _Bucket:
    tokens: float
    stamp: float  # clock reading at the last refill
    full_at: float  # clock reading when the bucket is full again, i.e. indistinguishable from a new one


class MemoryRateLimiter:
    """Token buckets in this process only (one replica, or tests); memory bounded by `max_keys`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        # Least recently hit first: the front is where full (forgettable) buckets and LRU victims are.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        # `hit` never awaits while holding state, so tasks cannot interleave; the lock also covers callers
        # that share one limiter across threads/event loops.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    async def hit(self, key: str, limit: Limit, *, cost: float = 1.0) -> Decision:
        """Take `cost` tokens from `key`'s bucket, refilled up to now."""
        _check_cost(limit, cost)
        with self._lock:
            now = self._clock()
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                tokens = float(limit.burst)
            else:
                # A clock that steps backwards grants nothing rather than a negative refill.
                tokens = min(float(limit.burst), bucket.tokens + max(0.0, now - bucket.stamp) * limit.rate)
            decision, left = _decide(tokens=tokens, limit=limit, cost=cost)
            self._evict(now)
            self._buckets[key] = _Bucket(tokens=left, stamp=now, full_at=now + (limit.burst - left) / limit.rate)
            while len(self._buckets) > self._max_keys:
                # Forgetting a partly drained bucket hands that key a full one: lenient, never wrong-way.
                self._buckets.popitem(last=False)
            return decision

    def _evict(self, now: float) -> None:
        # A full bucket equals a missing one, so dropping it changes no decision. Only the LRU front is
        # inspected, which keeps each hit O(1) amortised; max_keys bounds whatever this leaves behind.
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if oldest.full_at > now:
                return
            self._buckets.popitem(last=False)

    async def aclose(self) -> None:
        """Forget every bucket."""
        with self._lock:
            self._buckets.clear()


# Refill and take in one atomic step on the Redis server. Time comes from the server's TIME so replicas with
# skewed clocks agree (Redis >= 5 replicates scripts by effects, so TIME before a write is allowed).
# Numbers travel as strings: Redis truncates Lua numbers in replies to integers, and '%.17g' round-trips.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local eps = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
elseif now > ts then
  tokens = tokens + (now - ts) / 1000000 * rate
end
if tokens > burst then tokens = burst end
local allowed = 0
if tokens + eps >= cost then
  tokens = tokens - cost
  if tokens < 0 then tokens = 0 end
  allowed = 1
end
local ttl = math.ceil((burst - tokens) / rate * 1000)
if ttl < 1 then ttl = 1 end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return {allowed, string.format('%.17g', tokens)}
"""
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode(), usedforsecurity=False).hexdigest()


class RedisRateLimiter:
    """Token buckets in Redis, shared by every API replica that uses the same server and prefix."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = "aisre:rl:", where: str | None = None) -> None:
        self._client = client
        self._prefix = prefix
        kwargs = client.connection_pool.connection_kwargs
        self._where = where or str(kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}")
        password = kwargs.get("password")
        self._password = password if isinstance(password, str) and password else None

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "aisre:rl:") -> RedisRateLimiter:
        """Build a limiter with its own connection pool; short timeouts so an outage fails fast."""
        client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            # One quick retry covers a pooled connection that Redis closed (restart, idle timeout); more
            # would hold every request hostage to an outage.
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
        )
        parts = urlsplit(url)
        where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}{parts.path}"
        return cls(client, prefix=prefix, where=where)

    def redis_key(self, key: str) -> str:
        """The Redis key for a bucket: hashed so user data cannot collide with other keys nor leak into them."""
        return self._prefix + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    async def hit(self, key: str, limit: Limit, *, cost: float = 1.0) -> Decision:
        """Take `cost` tokens from `key`'s shared bucket; raise RateLimitUnavailable if Redis fails."""
        _check_cost(limit, cost)
        args = (self.redis_key(key), repr(limit.rate), limit.burst, repr(float(cost)), repr(_EPSILON))
        try:
            try:
                reply = await self._client.evalsha(_SCRIPT_SHA, 1, *args)
            except NoScriptError:
                # Redis restarted, failed over or ran SCRIPT FLUSH: load once more and retry.
                await self._client.script_load(_SCRIPT)
                reply = await self._client.evalsha(_SCRIPT_SHA, 1, *args)
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        allowed, tokens = int(reply[0]), float(_text(reply[1]))
        if allowed:
            return Decision(allowed=True, remaining=math.floor(tokens + _EPSILON), retry_after=0.0)
        return Decision(
            allowed=False,
            remaining=math.floor(tokens + _EPSILON),
            retry_after=_ms_ceil((cost - tokens) / limit.rate),
        )

    async def health(self) -> None:
        """PING Redis; raise RateLimitUnavailable (without credentials) if it does not answer."""
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _unavailable(self, exc: BaseException) -> RateLimitUnavailable:
        reason = str(exc) or type(exc).__name__
        if self._password:
            reason = reason.replace(self._password, "***")
        return RateLimitUnavailable(f"rate-limit Redis at {self._where} is unavailable: {reason}")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    """A Redis limiter shared by replicas when `redis_url` is set, else an in-process one."""
    if redis_url:
        return RedisRateLimiter.from_url(redis_url)
    return MemoryRateLimiter()
