"""The cache layer: `@cached` functions with tags, race-free invalidation, four strategies.

    @cached(key_prefix="document", ttl=300,
            tags=lambda document_id: [f"document:{document_id}", "documents:details"])
    def document_detail(document_id): ...

    invalidate_tags(["document:42"]); invalidate_pattern("document:*"); invalidate_cache(key)

DRF views: `@cache_response(key_prefix=..., ttl=..., tags=...)` on a `get` handler, or `CachedResponseMixin`.

Redis (django-redis) when `REDIS_URL` is set, process memory otherwise, same semantics.
See docs/caching.md.
"""

from apps.caching.decorators import cached
from apps.caching.errors import CacheSerializationError, CacheUnavailable
from apps.caching.invalidation import invalidate_cache, invalidate_pattern, invalidate_tags
from apps.caching.keys import cache_key
from apps.caching.response_cache import CachedResponseMixin, cache_response, caller_scope
from apps.caching.strategies import CacheStrategy

__all__ = [
    "CacheSerializationError",
    "CacheStrategy",
    "CacheUnavailable",
    "CachedResponseMixin",
    "cache_key",
    "cache_response",
    "cached",
    "caller_scope",
    "invalidate_cache",
    "invalidate_pattern",
    "invalidate_tags",
]
