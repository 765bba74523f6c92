"""The one breaker every backing service uses: open, cool-down, one probe, close; under threads."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from prometheus_client import REGISTRY

from apps.core.breaker import Breaker, BreakerState
from apps.core.metric_names import metric_name
from tests.docs_snippets import python_blocks


class FakeClock:
    """Time the test moves by hand, so no test sleeps or races the wall clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _open_gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(metric_name("dependency_breaker_open"), {"dependency": name})


def test_a_failure_opens_it_the_cool_down_skips_then_one_probe_closes_it(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    breaker = Breaker("test-store", cool_down=2.0, clock=clock)
    assert breaker.allows()
    assert breaker.state is BreakerState.CLOSED
    with caplog.at_level(logging.WARNING, logger="apps.core.breaker"):
        breaker.record_failure(ConnectionError("refused"))
        breaker.record_failure(ConnectionError("refused again"))
    assert breaker.state is BreakerState.OPEN  # type: ignore[comparison-overlap]  # mypy keeps the narrowing across calls
    assert breaker.is_open
    assert _open_gauge("test-store") == 1
    assert not breaker.allows()
    clock.now += 2.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allows(), "the probe"
    assert not breaker.allows(), "only one probe per cool-down"
    with caplog.at_level(logging.WARNING, logger="apps.core.breaker"):
        breaker.record_success()
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allows()
    assert _open_gauge("test-store") == 0
    assert [r.getMessage() for r in caplog.records] == ["test-store unavailable: refused", "test-store available again"]


def test_a_failed_probe_opens_it_for_another_cool_down() -> None:
    clock = FakeClock()
    breaker = Breaker("test-probe", cool_down=1.0, clock=clock)
    breaker.record_failure(TimeoutError())
    clock.now += 1.0
    assert breaker.allows()
    clock.now += 0.5
    breaker.record_failure(TimeoutError())
    clock.now += 0.9
    assert not breaker.allows(), "the cool-down restarted at the probe's failure"
    clock.now += 0.1
    assert breaker.allows()


def test_a_probe_that_never_reports_does_not_wedge_it() -> None:
    clock = FakeClock()
    breaker = Breaker("test-lost-probe", cool_down=1.0, clock=clock)
    breaker.record_failure(OSError())
    clock.now += 1.0
    assert breaker.allows()  # this probe's caller raised something else and said nothing
    assert not breaker.allows()
    clock.now += 1.0
    assert breaker.allows(), "a new probe after another cool-down"


def test_it_opens_after_the_threshold_of_consecutive_failures() -> None:
    breaker = Breaker("test-threshold", cool_down=1.0, failure_threshold=3, clock=FakeClock())
    breaker.record_failure(OSError())
    breaker.record_failure(OSError())
    breaker.record_success()  # a success in between starts the count again
    breaker.record_failure(OSError())
    breaker.record_failure(OSError())
    assert breaker.allows()
    breaker.record_failure(OSError())
    assert not breaker.allows()
    with pytest.raises(ValueError, match="at least 1"):
        Breaker("test-threshold", cool_down=1.0, failure_threshold=0)


def test_parallel_failures_open_it_once_and_parallel_callers_get_exactly_one_probe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    breaker = Breaker("test-threads", cool_down=1.0, clock=clock)
    barrier = threading.Barrier(16)

    def fail(_: int) -> None:
        barrier.wait(timeout=10)
        for _ in range(50):
            breaker.record_failure(ConnectionError("down"))

    with caplog.at_level(logging.WARNING, logger="apps.core.breaker"), ThreadPoolExecutor(16) as pool:
        list(pool.map(fail, range(16)))
    assert [r.getMessage() for r in caplog.records] == ["test-threads unavailable: down"]

    clock.now += 1.0

    def ask(_: int) -> list[bool]:
        barrier.wait(timeout=10)
        return [breaker.allows() for _ in range(50)]

    with ThreadPoolExecutor(16) as pool:
        answers = [allowed for results in pool.map(ask, range(16)) for allowed in results]
    assert answers.count(True) == 1

    caplog.clear()

    def succeed(_: int) -> None:
        barrier.wait(timeout=10)
        for _ in range(50):
            breaker.record_success()

    with caplog.at_level(logging.WARNING, logger="apps.core.breaker"), ThreadPoolExecutor(16) as pool:
        list(pool.map(succeed, range(16)))
    assert [r.getMessage() for r in caplog.records] == ["test-threads available again"]
    assert breaker.allows()


def test_reset_closes_it_silently(caplog: pytest.LogCaptureFixture) -> None:
    breaker = Breaker("test-reset", cool_down=60.0, clock=FakeClock())
    breaker.record_failure(OSError())
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="apps.core.breaker"):
        breaker.reset()
    assert breaker.allows()
    assert not caplog.records
    assert _open_gauge("test-reset") == 0


def test_the_resilience_docs_example_degrades_then_recovers() -> None:
    (block,) = [block for block in python_blocks("resilience.md") if "search_index" in block]
    index_up = False
    calls: list[str] = []

    def query_the_index(query: str) -> list[str]:
        calls.append(query)
        if not index_up:
            raise ConnectionError("refused")
        return [f"hit for {query}"]

    namespace: dict[str, Any] = {"query_the_index": query_the_index}
    exec(compile(block, "docs/resilience.md#one-breaker", "exec"), namespace)
    clock = FakeClock()
    namespace["search_index"] = Breaker("search index", cool_down=2.0, clock=clock)
    search = namespace["search"]
    assert search("a") == []
    assert search("b") == [], "skipped inside the cool-down"
    assert calls == ["a"]
    index_up = True
    clock.now += 2.0
    assert search("c") == ["hit for c"]
    assert search("d") == ["hit for d"]
