"""Invalidate by key, by tag, by pattern. Inside `transaction.atomic()` the work waits for the commit.

Queued to `on_commit` so a rolled-back write never empties the cache, and a reader that fills
between the write and the commit is refused by the generation bump that runs at commit. Each call
returns how many entries it removed (0 when queued: it runs at commit). If Redis is down the
invalidation is logged and counted, and the caller's write goes on (entries expire by their TTL).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from django.db import DEFAULT_DB_ALIAS, transaction

from apps.caching.errors import CacheUnavailable
from apps.caching.metrics import INVALIDATED_KEYS, known_prefix
from apps.caching.store import CacheStore, KeysFound, get_store

__all__ = ["invalidate_cache", "invalidate_pattern", "invalidate_tags"]


def _counting(kind: str, found: KeysFound | None) -> KeysFound:
    def count(keys: Iterable[str]) -> None:
        keys = list(keys)
        by_prefix: dict[str, int] = {}
        for key in keys:
            prefix = known_prefix(key)
            by_prefix[prefix] = by_prefix.get(prefix, 0) + 1
        for prefix, number in by_prefix.items():
            INVALIDATED_KEYS.labels(prefix, kind).inc(number)
        if found is not None:
            found(keys)

    return count


def _run_or_queue(work: Callable[[CacheStore], int], using: str | None) -> int:
    def run() -> int:
        try:
            return work(get_store())
        except CacheUnavailable:
            return 0  # logged once per outage and counted by the store

    if transaction.get_connection(using or DEFAULT_DB_ALIAS).in_atomic_block:
        transaction.on_commit(run, using=using or DEFAULT_DB_ALIAS)
        return 0
    return run()


def invalidate_cache(*keys: str, using: str | None = None, found: KeysFound | None = None) -> int:
    """Remove entries by logical key (`cache_key("document", 42)`); fills computed before are refused."""
    if not keys:
        return 0
    return _run_or_queue(lambda store: store.invalidate_keys(keys, found=_counting("key", found)), using)


def invalidate_tags(tags: Iterable[str], *, using: str | None = None, found: KeysFound | None = None) -> int:
    """Remove every entry carrying one of `tags`; fills computed before this are refused."""
    tag_list = list(dict.fromkeys(tags))
    if not tag_list:
        return 0
    return _run_or_queue(functools.partial(_tags, tag_list, found), using)


def _tags(tags: list[str], found: KeysFound | None, store: CacheStore) -> int:
    return store.invalidate_tags(tags, found=_counting("tag", found))


def invalidate_pattern(pattern: str, *, using: str | None = None, found: KeysFound | None = None) -> int:
    """Remove entries whose logical key matches the glob `pattern` (`document:*`), by chunked SCAN.

    Not generation-guarded: a fill already computing may still land afterwards. Use tags when that matters.
    """
    return _run_or_queue(lambda store: store.invalidate_pattern(pattern, found=_counting("pattern", found)), using)
