"""The storage contract of the cache layer, and the process's store chosen from `CACHES`.

Two implementations keep the same semantics: `RedisStore` (django-redis's client, Lua for every
multi-key write) and `LocalMemoryStore` (the embedded default, one process, one lock).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from apps.caching.keys import KeyLayout

__all__ = ["DEFAULT_ALIAS", "CacheStore", "InvalidationKind", "PruneReport", "get_store", "reset_store"]

DEFAULT_ALIAS = "default"
# A value computed before an invalidation is refused while the tag's generation key lives; it lives
# this long after the last invalidation, far longer than any computation.
DEFAULT_GENERATION_TTL = 86_400.0
DEFAULT_OUTAGE_BACKOFF = 1.0
# Shards of a Redis Cluster layout (apps.caching.keys.KeyLayout): enough to spread entries evenly over
# the masters; each costs one script per tag invalidation.
DEFAULT_CLUSTER_SHARDS = 16

KeysFound = Callable[[Sequence[str]], None]
# What an invalidation selects by: logical keys, tags, or glob patterns over logical keys.
InvalidationKind = Literal["key", "tag", "pattern"]


@dataclass
class PruneReport:
    tag_sets: int = 0
    members_removed: int = 0
    orphaned_drains: int = 0
    entries_removed: int = 0


@dataclass
class StoreStats:
    backend: str
    namespace: str
    counts: dict[str, int] = field(default_factory=dict)
    server: dict[str, str] = field(default_factory=dict)


class CacheStore(Protocol):
    layout: KeyLayout
    backend_name: str

    def get(self, key: str) -> bytes | None: ...
    def snapshot(self, key: str, tags: Sequence[str]) -> list[bytes]: ...
    def get_and_snapshot(self, key: str, tags: Sequence[str]) -> tuple[bytes | None, list[bytes]]:
        """`get(key)` and `snapshot(key, tags)` at once (one round trip): a miss needs both."""
        ...

    def fill(
        self,
        key: str,
        payload: bytes,
        ttl: float,
        tags: Sequence[str],
        snapshot: Sequence[bytes] | None,
        *,
        bump_key: bool = False,
    ) -> bool: ...
    def acquire(self, name: str, ttl: float) -> str | None: ...
    def release(self, name: str, token: str) -> None: ...
    def invalidate_keys(self, keys: Sequence[str], *, dry_run: bool = False, found: KeysFound | None = None) -> int: ...
    def invalidate_tags(self, tags: Sequence[str], *, dry_run: bool = False, found: KeysFound | None = None) -> int: ...
    def invalidate_pattern(self, pattern: str, *, dry_run: bool = False, found: KeysFound | None = None) -> int: ...
    def prune(self) -> PruneReport: ...
    def stats(self) -> StoreStats: ...
    def eviction_policy(self) -> str | None: ...


_store: CacheStore | None = None
_store_lock = threading.Lock()


def _build_store() -> CacheStore:
    # Imported here: both implementations import this module's types (and missed.py a model).
    from apps.caching.memory_store import LocalMemoryStore  # noqa: PLC0415
    from apps.caching.missed import replay_after_outage  # noqa: PLC0415
    from apps.caching.redis_cluster import cluster_nodes  # noqa: PLC0415
    from apps.caching.redis_store import RedisStore  # noqa: PLC0415

    alias: str = getattr(settings, "CACHING_CACHE_ALIAS", DEFAULT_ALIAS)
    config: dict[str, Any] = settings.CACHES[alias]
    # A cluster (apps.caching.redis_cluster) gets the sharded layout: each script's keys in one slot.
    on_cluster = bool(cluster_nodes(config))
    shards = int(getattr(settings, "CACHING_CLUSTER_SHARDS", DEFAULT_CLUSTER_SHARDS)) if on_cluster else 0
    layout = KeyLayout.for_prefix(str(config.get("KEY_PREFIX", "")), shards=shards)
    generation_ttl = float(getattr(settings, "CACHING_GENERATION_TTL", DEFAULT_GENERATION_TTL))
    if "redis" in config["BACKEND"].lower():
        return RedisStore(
            alias,
            layout,
            generation_ttl=generation_ttl,
            outage_backoff=float(getattr(settings, "CACHING_OUTAGE_BACKOFF", DEFAULT_OUTAGE_BACKOFF)),
            on_recovery=replay_after_outage,
        )
    max_entries = int(config.get("OPTIONS", {}).get("MAX_ENTRIES", 10_000))
    return LocalMemoryStore(layout, max_entries=max_entries, generation_ttl=generation_ttl)


def get_store() -> CacheStore:
    """The store of this process (built on first use: nothing connects at start-up)."""
    global _store  # noqa: PLW0603 - one store per process, rebuilt when settings change
    store = _store
    if store is None:
        with _store_lock:
            if _store is None:
                _store = _build_store()
            store = _store
    return store


def reset_store() -> None:
    global _store  # noqa: PLW0603
    with _store_lock:
        _store = None


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "CACHES" or setting.startswith("CACHING_"):
        reset_store()
