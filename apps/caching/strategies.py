"""The caching strategies `@cached(strategy=...)` offers."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CacheStrategy"]


class CacheStrategy(StrEnum):
    CACHE_ASIDE = "cache_aside"
    """Read the cache; on a miss compute, then store (guarded against stale writes). The default."""

    WRITE_THROUGH = "write_through"
    """Always run the function (a write that returns the new state) and store its result before returning
    (at commit inside a transaction). Readers that computed the old state before it are refused."""

    WRITE_BEHIND = "write_behind"
    """Like write-through, but the store is handed to a Celery task (durable in the broker, retried with
    backoff while Redis is down); the caller does not wait for Redis."""

    REFRESH_AHEAD = "refresh_ahead"
    """Cache-aside, plus: once an entry is older than `refresh_after` of its TTL, the first caller to take
    the refresh token recomputes it while every other caller keeps serving the current value."""
