"""Exponential backoff with jitter: the events relay and consumer tasks, the upsert's deadlock retries."""

from __future__ import annotations

import random

__all__ = ["retry_delay"]


def retry_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds before retry number `attempt + 1`: `base * 2**attempt`, capped, then jittered.

    "Equal jitter": half the delay is kept, half is random, so retries of many events that
    failed together spread out (no thundering herd) yet never come back immediately.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - spreading load, not security
