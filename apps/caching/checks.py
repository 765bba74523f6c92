"""Warn when Redis may evict tag sets or generation keys (`maxmemory-policy allkeys-*`).

Under `allkeys-lru`/`allkeys-lfu`/`allkeys-random` Redis may drop a tag set while its entries
live on, and those entries would then survive an invalidation of the tag. `volatile-*` policies
only evict keys with a TTL (the entries), which is safe. The policy is read lazily, never at
import or start-up: by `manage.py check --deploy`, and once per process on first cache use
(bounded by `REDIS_SOCKET_TIMEOUT`; a Redis that is down is simply skipped).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core import checks

from apps.caching.errors import CacheUnavailable
from apps.caching.store import CacheStore, get_store

__all__ = ["check_eviction_policy", "eviction_policy_warning"]

logger = logging.getLogger("apps.caching")


def eviction_policy_warning(store: CacheStore) -> str | None:
    try:
        policy = store.eviction_policy()
    except CacheUnavailable:
        return None
    if policy is not None and policy.startswith("allkeys-"):
        return (
            f"Redis maxmemory-policy is {policy}: it may evict tag sets before their entries, so an "
            "invalidation could miss entries. Use volatile-lru (or noeviction) for the cache's Redis."
        )
    return None


@checks.register(checks.Tags.caches, deploy=True)
def check_eviction_policy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    message = eviction_policy_warning(get_store())
    return [checks.Warning(message, id="caching.W001")] if message else []
