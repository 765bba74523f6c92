"""Prometheus metrics of the event pipeline. Labels are bounded: event types are declared in code."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from apps.core.metric_names import metric_name

__all__ = ["BATCH_SIZE", "CONFIRM_LATENCY", "CONSUMED", "PUBLISHED", "RELAYED", "RELAY_LAG"]

PUBLISHED = Counter(metric_name("events_published_total"), "Events written to the outbox", ["event_type"])
RELAYED = Counter(
    metric_name("events_relayed_total"),
    "Outbox rows the relay handled, by outcome (sent, retry, dead, broker_unavailable)",
    ["outcome"],
)
CONSUMED = Counter(
    metric_name("events_consumed_total"),
    "Events delivered to a handler, by outcome (handled, duplicate, retry, dead)",
    ["event_type", "outcome"],
)
BATCH_SIZE = Histogram(
    metric_name("events_relay_batch_size"),
    "Outbox rows claimed per relay batch",
    buckets=(1, 5, 10, 25, 50, 100, 200, 500, 1000, 2000, 5000),
)
CONFIRM_LATENCY = Histogram(
    metric_name("events_relay_confirm_seconds"),
    "From a batch's first publish to the broker's last confirm of it",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
RELAY_LAG = Gauge(
    metric_name("events_relay_lag_seconds"),
    "Age of the oldest pending outbox row that is due (0 when none): how far the relay is behind",
    multiprocess_mode="livemostrecent",
)
