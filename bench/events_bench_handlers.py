"""The handler of bench/events_bench.py's latency case, loaded by its Celery worker (`--include`).

It appends, per event, the seconds from the publishing commit (the payload's `committed_at`,
taken right before the commit) to the handler, the handler's wall-clock time and the event id,
to `EVENTS_BENCH_LATENCY_FILE` (the bench splits the latency at the relay's `sent_at`).
"""

from __future__ import annotations

import os
import time

from apps.events import Event, handles

LATENCY_EVENT = "bench.latency"


@handles(LATENCY_EVENT)
def record_latency(event: Event) -> None:
    arrived = time.time()
    committed_at = event.payload["committed_at"]
    assert isinstance(committed_at, float)
    with open(os.environ["EVENTS_BENCH_LATENCY_FILE"], "a", encoding="utf-8") as out:
        out.write(f"{event.payload['warmup']} {arrived - committed_at} {arrived} {event.id}\n")
