"""A metered local-memory cache that keeps the cache's semantics.

django-prometheus's own `LocMemCache.get` answers `cached or default`, which turns a
cached `0`, `""`, `[]` or `False` into the default; this one counts the same
`django_cache_*` series and returns exactly what was stored.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends import locmem
from django_prometheus.cache.metrics import django_cache_get_total, django_cache_hits_total, django_cache_misses_total

__all__ = ["LocMemCache"]

_MISSING = object()


class LocMemCache(locmem.LocMemCache):
    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        django_cache_get_total.labels(backend="locmem").inc()
        value = super().get(key, _MISSING, version=version)
        if value is _MISSING:
            django_cache_misses_total.labels(backend="locmem").inc()
            return default
        django_cache_hits_total.labels(backend="locmem").inc()
        return value
