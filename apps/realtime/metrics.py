"""Prometheus metrics of the WebSocket side. Labels come from fixed sets."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from apps.core.metric_names import metric_name

__all__ = ["CLOSES", "FANOUT", "FRAMES", "OPEN_SOCKETS"]

OPEN_SOCKETS = Gauge(
    metric_name("realtime_open_sockets"), "WebSocket connections open in this process", multiprocess_mode="livesum"
)
CLOSES = Counter(metric_name("realtime_closes_total"), "WebSocket connections the server closed, by code", ["code"])
FRAMES = Counter(metric_name("realtime_event_frames_total"), "Event frames written to sockets")
FANOUT = Counter(
    metric_name("realtime_fanout_total"),
    "Group sends of events to the channel layer, by outcome (sent, failed: the layer is down, skipped: backing off)",
    ["outcome"],
)
