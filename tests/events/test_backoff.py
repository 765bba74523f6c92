"""Backoff doubles, stays within its cap, and is jittered."""

from __future__ import annotations

from apps.events.backoff import retry_delay


def test_delays_double_within_half_and_all_of_the_ceiling() -> None:
    for attempt in range(6):
        ceiling = min(60.0, 2.0 * 2**attempt)
        delays = [retry_delay(attempt, base=2.0, cap=60.0) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 100, "jittered"


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert 150.0 <= retry_delay(10_000, base=2.0, cap=300.0) <= 300.0
