"""Prometheus counters of the cache layer. Labels are bounded: `prefix` is a `key_prefix` declared in
code (anything else is reported as `other`), `operation` and `reason` come from fixed sets."""

from __future__ import annotations

from prometheus_client import Counter

from apps.core.metric_names import metric_name

__all__ = [
    "ERRORS",
    "FILLS",
    "HITS",
    "INVALIDATED_KEYS",
    "MISSES",
    "known_prefix",
    "register_prefix",
]

HITS = Counter(metric_name("cache_hits_total"), "Cache hits of @cached functions", ["prefix"])
MISSES = Counter(metric_name("cache_misses_total"), "Cache misses of @cached functions", ["prefix"])
FILLS = Counter(
    metric_name("cache_fills_total"),
    "Values written to the cache, by outcome (stored, stale: refused by the generation check)",
    ["prefix", "outcome"],
)
ERRORS = Counter(
    metric_name("cache_errors_total"), "Cache operations that failed and were degraded", ["operation", "reason"]
)
INVALIDATED_KEYS = Counter(
    metric_name("cache_invalidated_keys_total"), "Cache entries removed by invalidation", ["prefix", "kind"]
)

_prefixes: set[str] = set()


def register_prefix(prefix: str) -> None:
    _prefixes.add(prefix)


def known_prefix(logical_key: str) -> str:
    prefix = logical_key.split(":", 1)[0]
    return prefix if prefix in _prefixes else "other"
