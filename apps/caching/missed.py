"""Invalidations an outage swallowed: recorded in the database, replayed when Redis answers again.

A write commits, then its invalidation finds Redis unreachable. Dropping it would leave the old
entries to be served for their whole TTL once Redis is back (a network partition keeps Redis's
data). So the invalidation is recorded as a `MissedInvalidation` row, in the database that just
committed the write: it outlives this process and every process can see it.

It is replayed (the same `apply_invalidation` as the original call, so tag generations move and
fills computed before are refused):
- by each process that saw the outage, on its first call after Redis answers again, *before* that
  call reads anything (`RedisStore` holds its other threads until the replay is done);
- by the periodic task `apps.caching.replay_missed_invalidations` (Celery beat, every
  `CACHING_REPLAY_INTERVAL` seconds), for when every process that saw it has restarted;
- by `manage.py prune_cache_tags`.
If the database is unreachable too, the invalidation is lost and logged as an error.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import cast

from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from apps.caching.invalidation import apply_invalidation
from apps.caching.models import MissedInvalidation
from apps.caching.store import CacheStore, InvalidationKind

__all__ = ["record_missed", "replay_after_outage", "replay_missed"]

logger = logging.getLogger("apps.caching")

_REPLAY_BATCH = 500


def record_missed(kind: InvalidationKind, targets: Sequence[str]) -> None:
    """Remember an invalidation Redis did not take (called outside any transaction: after the commit)."""
    now = timezone.now()
    rows = [MissedInvalidation(kind=kind, target=target, missed_at=now, token=uuid.uuid4()) for target in targets]
    try:
        MissedInvalidation.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["kind", "target"], update_fields=["missed_at", "token"]
        )
    except SynchronousOnlyOperation:
        # Called on an event loop, where Django runs no queries: the record must not be skipped.
        writer = threading.Thread(target=_record_and_close, args=(kind, targets))
        writer.start()
        writer.join()
    except DatabaseError as error:
        logger.error("cache invalidation lost (Redis and the database both failed): %s %s: %s", kind, targets, error)


def _record_and_close(kind: InvalidationKind, targets: Sequence[str]) -> None:
    try:
        record_missed(kind, targets)
    finally:
        connections.close_all()  # this thread's connections only


def replay_missed(store: CacheStore) -> int:
    """Run every recorded invalidation on `store`, oldest first; returns how many were replayed.

    Raises `CacheUnavailable` if Redis fails again: what was not replayed stays recorded.
    """
    replayed, after = 0, 0
    while True:
        rows = list(
            MissedInvalidation.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "kind", "target", "token")[:_REPLAY_BATCH]
        )
        if not rows:
            return replayed
        by_kind: dict[InvalidationKind, list[str]] = {}
        for _, kind, target, _ in rows:
            by_kind.setdefault(cast("InvalidationKind", kind), []).append(target)
        for kind, targets in by_kind.items():
            apply_invalidation(store, kind, targets)
        MissedInvalidation.objects.filter(token__in=[token for *_, token in rows]).delete()
        replayed += len(rows)
        after = rows[-1][0]


def replay_after_outage(store: CacheStore) -> None:
    """The store's recovery hook. A savepoint: a database error here never breaks the caller's transaction."""
    try:
        with transaction.atomic():
            replayed = replay_missed(store)
    except SynchronousOnlyOperation:
        return  # on an event loop (async @cached calls run in threads): the periodic task replays
    except DatabaseError as error:
        logger.warning("missed cache invalidations not replayed yet (database): %s", error)
        return
    if replayed:
        logger.warning("replayed %d cache invalidation(s) missed during the outage", replayed)
