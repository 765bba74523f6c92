"""Prometheus counters of the security layer; every label comes from a fixed set."""

from __future__ import annotations

from prometheus_client import Counter

from apps.core.metric_names import metric_name

__all__ = ["RATE_LIMIT_DECISIONS", "RATE_LIMIT_UNAVAILABLE", "REQUESTS_TOO_LARGE"]

RATE_LIMIT_DECISIONS = Counter(
    metric_name("rate_limit_decisions_total"),
    "Rate-limit decisions by limit (ip, actor, scope) and outcome (allowed, limited)",
    ["limit", "outcome"],
)
RATE_LIMIT_UNAVAILABLE = Counter(
    metric_name("rate_limit_unavailable_total"),
    "Requests let through unlimited because the rate-limit store (Redis) did not answer",
)
REQUESTS_TOO_LARGE = Counter(
    metric_name("requests_too_large_total"), "Requests refused with 413, by how the body was sent", ["framing"]
)
