"""Read-your-writes inside a transaction: what it invalidated, not yet committed, is read around the cache.

An invalidation inside `transaction.atomic()` waits for the commit (a rollback must leave the cache
alone), so until then the shared cache still holds the old value. This module remembers, per
database connection of this thread, the keys, tags and patterns the open transaction invalidated;
`@cached` asks `bypasses(key, tags)` and, when the entry is one of them, runs the function on the
transaction's own rows and neither reads nor stores the shared entry (other processes must not see
uncommitted data, and at commit the invalidation runs anyway). The same rule as cacheops'
transaction-local invalidation, without patching `atomic`.

The record ends at commit (an `on_commit` hook, registered again by every note and bypass, since
a rollback discards the hooks: a record a rolled-back transaction left behind on a connection is
dropped at the next commit), or when the connection is seen outside any atomic block. A write
rolled back with its savepoint keeps its entries bypassed until the transaction ends: always
fresh, never stale, and the shared cache is untouched.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import transaction

from apps.caching.redis_glob import RedisGlob
from apps.caching.store import InvalidationKind

__all__ = ["bypasses", "has_uncommitted", "note_uncommitted"]


@dataclass
class _Invalidated:
    keys: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    patterns: list[RedisGlob] = field(default_factory=list)

    def covers(self, key: str, tags: Sequence[str]) -> bool:
        return (
            key in self.keys or not self.tags.isdisjoint(tags) or any(pattern.matches(key) for pattern in self.patterns)
        )


# alias → what its open transaction invalidated. A context variable: connections are per thread.
_open: ContextVar[dict[str, _Invalidated] | None] = ContextVar("caching_uncommitted", default=None)


def _forget(alias: str, record: _Invalidated) -> None:
    records = _open.get()
    if records is not None and records.get(alias) is record:
        del records[alias]


def _until_commit(alias: str, record: _Invalidated) -> None:
    transaction.on_commit(functools.partial(_forget, alias, record), using=alias)


def note_uncommitted(using: str, kind: InvalidationKind, targets: Iterable[str]) -> None:
    """Record an invalidation queued until the commit of `using`'s open transaction."""
    records = _open.get()
    if records is None:
        records = {}
        _open.set(records)
    record = records.get(using)
    if record is None:
        record = records[using] = _Invalidated()
    _until_commit(using, record)
    if kind == "key":
        record.keys.update(targets)
    elif kind == "tag":
        record.tags.update(targets)
    else:
        record.patterns.extend(RedisGlob(pattern) for pattern in targets)


def has_uncommitted() -> bool:
    """The hot path's question: one context-variable read when nothing is pending."""
    return bool(_open.get())


def bypasses(key: str, tags: Sequence[str]) -> bool:
    """True when an open transaction of this thread invalidated `key` or one of `tags`."""
    records = _open.get()
    if not records:
        return False
    for alias, record in list(records.items()):
        connection = transaction.get_connection(alias)
        if not connection.in_atomic_block:
            del records[alias]  # that transaction ended without a commit: rolled back
            continue
        if record.covers(key, tags):
            _until_commit(alias, record)
            return True
    return False
