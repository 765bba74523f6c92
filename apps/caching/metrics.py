"""Prometheus counters of the cache layer. Labels are bounded: `prefix` is a `key_prefix` declared in
code (anything else is reported as `other`), `operation` and `reason` come from fixed sets."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = [
    "ERRORS",
    "FILLS",
    "HITS",
    "INVALIDATED_KEYS",
    "MISSES",
    "known_prefix",
    "register_prefix",
]

HITS = Counter("service_cache_hits_total", "Cache hits of @cached functions", ["prefix"])
MISSES = Counter("service_cache_misses_total", "Cache misses of @cached functions", ["prefix"])
FILLS = Counter(
    "service_cache_fills_total",
    "Values written to the cache, by outcome (stored, stale: refused by the generation check)",
    ["prefix", "outcome"],
)
ERRORS = Counter(
    "service_cache_errors_total", "Cache operations that failed and were degraded", ["operation", "reason"]
)
INVALIDATED_KEYS = Counter(
    "service_cache_invalidated_keys_total", "Cache entries removed by invalidation", ["prefix", "kind"]
)

_prefixes: set[str] = set()


def register_prefix(prefix: str) -> None:
    _prefixes.add(prefix)


def known_prefix(logical_key: str) -> str:
    prefix = logical_key.split(":", 1)[0]
    return prefix if prefix in _prefixes else "other"
