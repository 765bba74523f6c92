"""Atomic sliding-window rate limits on `limits`: its Redis storage, or its process memory.

A limit is `N/period` ("100/minute"), checked with `limits`' moving-window strategy: each
hit of a key either records itself and is allowed, or is refused without being recorded,
in one atomic step (a Lua script in Redis; a per-key lock in memory), so N parallel
callers across every worker process get exactly `limit` allowances, never more. The window
is a log of hit times: a key has room again exactly `period` after its oldest hit, which is
what `Retry-After` says. Hit times are the callers' clocks (`limits` passes them to the
script), so the service's hosts must keep their clocks in sync (NTP).

When Redis does not answer the limiter *fails open*: the request is allowed, counted in
`service_rate_limit_unavailable_total`, and the outage is logged once; the breaker
(`apps.core.breaker`) skips Redis for `OUTAGE_BACKOFF` seconds, so a dead Redis costs no
timeouts, then lets one probe through. Without `REDIS_URL` (the embedded default) the
window lives in `limits`' memory storage, which limits per process rather than per
service; a key is forgotten when its window has passed.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisClusterStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import Redis
from redis.exceptions import ClusterDownError, RedisClusterException, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.caching.redis_cluster import cluster_nodes
from apps.core.breaker import Breaker
from apps.security.metrics import RATE_LIMIT_UNAVAILABLE
from apps.security.rates import Rate

__all__ = ["Decision", "MemoryWindow", "Rate", "RedisClusterWindow", "RedisWindow", "Window", "hit", "window_store"]

OUTAGE_BACKOFF = 1.0
# A cluster that lost the master of a key's slot answers nothing for that key: the same outage.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ClusterDownError, SlotNotCoveredError)


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


def _item(rate: Rate) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(rate.limit, rate.seconds)


class _MovingWindow:
    """`limits`' moving window on one storage: the hit, then the window it left."""

    def __init__(self, storage: MemoryStorage | RedisStorage | RedisClusterStorage) -> None:
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    def _decide(self, key: str, rate: Rate) -> Decision:
        item = _item(rate)
        allowed = self._limiter.hit(item, key)
        reset_at, remaining = self._limiter.get_window_stats(item, key)
        # Other callers may have hit the key in between: `remaining` is then theirs too, which is
        # the truth a client wants; `allowed` is this hit's own atomic answer.
        remaining = 0 if not allowed else max(0, remaining)
        reset = max(0.0, reset_at - time.time()) if remaining == 0 else 0.0
        return Decision(allowed=allowed, rate=rate, remaining=remaining, reset=reset)


class RedisWindow(_MovingWindow):
    """Limits shared by every process, in the Redis `client` talks to, under keys starting `prefix`."""

    def __init__(self, client: Redis, prefix: str) -> None:
        # `limits` joins its prefix and key with ":"; the client's pool is reused, not copied.
        super().__init__(
            RedisStorage("redis://", connection_pool=client.connection_pool, key_prefix=prefix.rstrip(":"))
        )
        self.breaker = Breaker("rate limiting store", cool_down=OUTAGE_BACKOFF)

    def hit(self, key: str, rate: Rate) -> Decision:
        if not self.breaker.allows():
            return self._fail_open(rate)
        try:
            decision = self._decide(key, rate)
        except _UNAVAILABLE as error:
            self.breaker.record_failure(error)
            return self._fail_open(rate)
        self.breaker.record_success()
        return decision

    @staticmethod
    def _fail_open(rate: Rate) -> Decision:
        RATE_LIMIT_UNAVAILABLE.inc()
        return Decision(allowed=True, rate=rate, remaining=rate.limit, reset=0.0, degraded=True)


class RedisClusterWindow(RedisWindow):
    """The same limits on a Redis Cluster: each window is one key, so its Lua script runs on that key's master.

    `limits` opens its own cluster client to the seed `nodes` (it cannot share redis-py's), on the
    first hit rather than here: the client reads the slot map when it is built, and a cluster that
    does not answer yet must fail open behind the breaker like a single Redis, not fail start-up.
    """

    def __init__(self, nodes: list[tuple[str, int]], prefix: str, **options: float | str | bool) -> None:
        self.breaker = Breaker("rate limiting store", cool_down=OUTAGE_BACKOFF)
        self._uri = "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in nodes)
        self._key_prefix = prefix.rstrip(":")
        self._options = options
        self._built: _MovingWindow | None = None

    def _decide(self, key: str, rate: Rate) -> Decision:
        if self._built is None:
            try:
                options: dict[str, Any] = self._options
                storage = RedisClusterStorage(self._uri, key_prefix=self._key_prefix, **options)
            except RedisClusterException as error:
                raise RedisConnectionError(str(error)) from error
            self._built = _MovingWindow(storage)
        return self._built._decide(key, rate)


class MemoryWindow(_MovingWindow):
    """The same window in this process; holds at most `max_keys` keys (least recent cleared).

    `limits`' memory storage never drops a key it has seen (an emptied window stays), so a
    flood of distinct keys (client IPs) would grow it without end: this bound is ours.
    """

    def __init__(self, max_keys: int = 10_000) -> None:
        super().__init__(MemoryStorage())
        self._max_keys = max_keys
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, rate: Rate) -> Decision:
        decision = self._decide(key, rate)
        stored_key = _item(rate).key_for(key)
        with self._lock:
            self._recent[stored_key] = None
            self._recent.move_to_end(stored_key)
            while len(self._recent) > self._max_keys:
                self.storage.clear(self._recent.popitem(last=False)[0])
        return decision


def _key_prefix() -> str:
    prefix = str(settings.CACHES["default"].get("KEY_PREFIX", ""))
    return f"{prefix}:rl:" if prefix else "rl:"


@lru_cache(maxsize=1)
def window_store() -> Window:
    """Redis when the default cache is Redis (django-redis' pool) or a Redis Cluster, process memory otherwise."""
    config = settings.CACHES["default"]
    if nodes := cluster_nodes(config):
        options = config.get("OPTIONS", {})
        connection = {
            "password": options.get("PASSWORD"),
            "socket_timeout": options.get("SOCKET_TIMEOUT"),
            "socket_connect_timeout": options.get("SOCKET_CONNECT_TIMEOUT"),
        }
        return RedisClusterWindow(nodes, _key_prefix(), **{k: v for k, v in connection.items() if v is not None})
    if "redis" in str(config["BACKEND"]).lower():
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
