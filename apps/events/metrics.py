"""Prometheus counters of the event pipeline. Labels are bounded: event types are declared in code."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["CONSUMED", "PUBLISHED", "RELAYED"]

PUBLISHED = Counter("service_events_published_total", "Events written to the outbox", ["event_type"])
RELAYED = Counter(
    "service_events_relayed_total",
    "Outbox rows the relay handled, by outcome (sent, retry, dead, broker_unavailable)",
    ["outcome"],
)
CONSUMED = Counter(
    "service_events_consumed_total",
    "Events delivered to a handler, by outcome (handled, duplicate, retry, dead)",
    ["event_type", "outcome"],
)
