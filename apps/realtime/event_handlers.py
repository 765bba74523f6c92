"""One subscriber, `fan_out`, for the event types of every declared stream (`<app>/realtime.py`)."""

from __future__ import annotations

from apps.events import handles
from apps.realtime.fanout import fan_out
from apps.realtime.streams import discover_streams

_patterns = sorted({pattern for stream in discover_streams() for pattern in stream.events})
if _patterns:
    handles(*_patterns)(fan_out)
