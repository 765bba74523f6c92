"""Celery tasks of the cache layer: the durable half of write-behind, and the replay of missed invalidations."""

from __future__ import annotations

import base64

from celery import shared_task

from apps.caching.errors import CacheUnavailable
from apps.caching.metrics import FILLS
from apps.caching.store import get_store

__all__ = ["REPLAY_TASK", "replay_missed_invalidations", "store_cache_entry"]

REPLAY_TASK = "apps.caching.replay_missed_invalidations"


@shared_task(
    autoretry_for=(CacheUnavailable,),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=10,
    acks_late=True,
)
def store_cache_entry(
    *, key: str, payload: str, ttl: float, tags: list[str], snapshot: list[str] | None, prefix: str
) -> bool:
    """Store an encoded value (base64) under `key`, refused if one of its tags was invalidated since `snapshot`."""
    stored = get_store().fill(
        key,
        base64.b64decode(payload),
        ttl,
        tags,
        [generation.encode() for generation in snapshot] if snapshot is not None else None,
        bump_key=True,
    )
    FILLS.labels(prefix, "stored" if stored else "stale").inc()
    return stored


@shared_task(name=REPLAY_TASK, ignore_result=True)
def replay_missed_invalidations() -> int:
    """Beat's periodic replay (`CACHING_REPLAY_INTERVAL`): covers processes restarted during an outage."""
    from apps.caching.missed import replay_missed  # noqa: PLC0415 - a model: not at import time

    try:
        return replay_missed(get_store())
    except CacheUnavailable:
        return 0  # still down: the next run tries again
