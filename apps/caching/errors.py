"""The cache layer's own errors."""

from __future__ import annotations

__all__ = ["CacheSerializationError", "CacheUnavailable"]


class CacheSerializationError(TypeError):
    """A cached function returned something the cache must not or cannot store (a model instance, a lambda...)."""


class CacheUnavailable(Exception):
    """Redis did not answer (connection refused, timeout, or inside the back-off after an outage).

    Callers degrade on it: the function runs and its result is served uncached.
    A Redis `ResponseError` (OOM, NOSCRIPT, WRONGTYPE) is *not* turned into this: it is a bug or a
    misconfiguration and propagates.
    """
