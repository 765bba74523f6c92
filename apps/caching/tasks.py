"""Celery tasks of the cache layer: the durable half of the write-behind strategy."""

from __future__ import annotations

import base64

from celery import shared_task

from apps.caching.errors import CacheUnavailable
from apps.caching.metrics import FILLS
from apps.caching.store import get_store

__all__ = ["store_cache_entry"]


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
