"""Invalidate by key, by tag, by pattern. Inside `transaction.atomic()` the work waits for the commit.

Queued to `on_commit` so a rolled-back write never empties the cache, and a reader that fills
between the write and the commit is refused by the generation bump that runs at commit. Until the
commit, `@cached` reads of what was invalidated bypass the cache in that transaction
(`apps.caching.uncommitted`): it reads its own writes. Each call returns how many entries it
removed (0 when queued: it runs at commit). If Redis is down the invalidation is logged, counted
and recorded in the database, and the caller's write goes on; it is replayed when Redis answers
again (`apps.caching.missed`), so stale entries do not outlive the outage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import DEFAULT_DB_ALIAS, transaction

from apps.caching.errors import CacheUnavailable
from apps.caching.keys import tag_list
from apps.caching.metrics import INVALIDATED_KEYS, known_prefix
from apps.caching.store import CacheStore, InvalidationKind, KeysFound, get_store
from apps.caching.uncommitted import note_uncommitted

__all__ = ["apply_invalidation", "invalidate_cache", "invalidate_pattern", "invalidate_tags"]


def _counting(kind: InvalidationKind, found: KeysFound | None) -> KeysFound:
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


def apply_invalidation(
    store: CacheStore,
    kind: InvalidationKind,
    targets: Sequence[str],
    *,
    dry_run: bool = False,
    found: KeysFound | None = None,
) -> int:
    """Run one invalidation on `store` now. Raises `CacheUnavailable` when Redis does not answer.

    The one place each kind is carried out: the public functions below, `manage.py invalidate_cache`
    (which must fail loudly rather than swallow an outage) and the replay of missed invalidations.
    """
    report = found if dry_run else _counting(kind, found)
    if kind == "key":
        return store.invalidate_keys(targets, dry_run=dry_run, found=report)
    if kind == "tag":
        return store.invalidate_tags(targets, dry_run=dry_run, found=report)
    return sum(store.invalidate_pattern(pattern, dry_run=dry_run, found=report) for pattern in targets)


def _run_or_queue(kind: InvalidationKind, targets: Sequence[str], using: str | None, found: KeysFound | None) -> int:
    def run() -> int:
        try:
            return apply_invalidation(get_store(), kind, targets, found=found)
        except CacheUnavailable:
            # Logged once per outage and counted by the store; recorded to be replayed when Redis is
            # back. Imported here: the record is a model, and this module loads before the app registry.
            from apps.caching.missed import record_missed  # noqa: PLC0415

            record_missed(kind, targets)
            return 0

    alias = using or DEFAULT_DB_ALIAS
    if transaction.get_connection(alias).in_atomic_block:
        transaction.on_commit(run, using=alias)
        note_uncommitted(alias, kind, targets)
        return 0
    return run()


def invalidate_cache(*keys: str, using: str | None = None, found: KeysFound | None = None) -> int:
    """Remove entries by logical key (`cache_key("document", 42)`); fills computed before are refused."""
    if not keys:
        return 0
    return _run_or_queue("key", list(keys), using, found)


def invalidate_tags(tags: Iterable[str], *, using: str | None = None, found: KeysFound | None = None) -> int:
    """Remove every entry carrying one of `tags`; fills computed before this are refused."""
    tags_given = tag_list(tags, what="invalidate_tags()")
    if not tags_given:
        return 0
    return _run_or_queue("tag", tags_given, using, found)


def invalidate_pattern(pattern: str, *, using: str | None = None, found: KeysFound | None = None) -> int:
    """Remove entries whose logical key matches the glob `pattern` (`document:*`), by chunked SCAN.

    Redis's glob dialect (see `apps.caching.redis_glob`) on both stores. Not generation-guarded: a
    fill already computing may still land afterwards. Use tags when that matters.
    """
    return _run_or_queue("pattern", [pattern], using, found)
