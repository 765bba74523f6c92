"""Atomic sliding-window rate limits: Redis (one Lua call per hit) or process memory.

A limit is `N/period` ("100/minute"). Each hit of a key either records itself and is
allowed, or is refused without being recorded, in one atomic step: the Redis script
trims the window, counts and adds under Redis' single-threaded execution, so N parallel
callers across every worker process get exactly `limit` allowances, never more. The
window is a sorted set of hit times (a sliding log), read against Redis' own clock
so that workers with drifting clocks agree.

When Redis does not answer the limiter *fails open*: the request is allowed, counted in
`service_rate_limit_unavailable_total`, and one warning is logged per outage; for the next
`OUTAGE_BACKOFF` seconds Redis is not even tried, so a dead Redis costs no timeouts.
Without `REDIS_URL` (the embedded default) the same window lives in process memory,
which limits per process rather than per service.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict, deque
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.security.metrics import RATE_LIMIT_UNAVAILABLE
from apps.security.rates import Rate

__all__ = ["Decision", "MemoryWindow", "Rate", "RedisWindow", "Window", "hit", "window_store"]

logger = logging.getLogger("apps.security")

OUTAGE_BACKOFF = 1.0


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    rate: Rate
    remaining: int
    reset: float  # seconds until the window has room again (0 when it has room now)
    degraded: bool = False  # the store did not answer: allowed without counting

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait before retrying (for `Retry-After`), at least 1."""
        return max(1, math.ceil(self.reset))


class Window(Protocol):
    def hit(self, key: str, rate: Rate) -> Decision: ...


# KEYS[1]: the sorted set of hit times (µs); ARGV: window µs, limit, unique member.
# Returns {allowed 0/1, hits in the window after this call, µs until the oldest hit leaves}.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
local reset = 0
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  reset = tonumber(oldest[2]) + window - now
end
return {allowed, count, reset}
"""


class RedisWindow:
    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._script = client.register_script(_SLIDING_WINDOW)
        self._prefix = prefix
        self._retry_at = 0.0
        self._down = False
        self._lock = threading.Lock()

    def hit(self, key: str, rate: Rate) -> Decision:
        if self._down and time.monotonic() < self._retry_at:
            return self._fail_open(rate, None)
        try:
            allowed, count, reset_us = self._script(
                keys=[f"{self._prefix}{key}"], args=[rate.seconds * 1_000_000, rate.limit, uuid.uuid4().hex]
            )
        except (RedisConnectionError, RedisTimeoutError) as error:
            return self._fail_open(rate, error)
        if self._down:
            with self._lock:
                was_down, self._down = self._down, False
            if was_down:
                logger.warning("rate limiting store available again")
        return Decision(
            allowed=bool(allowed), rate=rate, remaining=max(0, rate.limit - int(count)), reset=int(reset_us) / 1e6
        )

    def _fail_open(self, rate: Rate, error: BaseException | None) -> Decision:
        RATE_LIMIT_UNAVAILABLE.inc()
        if error is not None:
            with self._lock:
                first, self._down = not self._down, True
                self._retry_at = time.monotonic() + OUTAGE_BACKOFF
            if first:
                logger.warning("rate limiting store unavailable, allowing requests unlimited: %s", error)
        return Decision(allowed=True, rate=rate, remaining=rate.limit, reset=0.0, degraded=True)


class MemoryWindow:
    """The same sliding log in this process; holds at most `max_keys` keys (least recent dropped)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def hit(self, key: str, rate: Rate) -> Decision:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
                while len(self._hits) > self._max_keys:
                    self._hits.popitem(last=False)
            self._hits.move_to_end(key)
            while hits and hits[0] <= now - rate.seconds:
                hits.popleft()
            allowed = len(hits) < rate.limit
            if allowed:
                hits.append(now)
            reset = hits[0] + rate.seconds - now if len(hits) >= rate.limit else 0.0
            return Decision(allowed=allowed, rate=rate, remaining=rate.limit - len(hits), reset=reset)


def _key_prefix() -> str:
    prefix = str(settings.CACHES["default"].get("KEY_PREFIX", ""))
    return f"{prefix}:rl:" if prefix else "rl:"


@lru_cache(maxsize=1)
def window_store() -> Window:
    """Redis when the default cache is Redis (django-redis' pool), process memory otherwise."""
    if "redis" in str(settings.CACHES["default"]["BACKEND"]).lower():
        from django_redis import get_redis_connection  # type: ignore[import-untyped]  # noqa: PLC0415

        client: Redis = get_redis_connection("default")
        return RedisWindow(client, _key_prefix())
    return MemoryWindow()


def hit(key: str, rate: Rate) -> Decision:
    return window_store().hit(key, rate)


@receiver(setting_changed)
def _reset_on_settings_change(*, setting: str, **kwargs: object) -> None:
    if setting == "CACHES":
        window_store.cache_clear()
