"""Concurrency, per-check timeouts, required vs optional, the result cache and the gauges."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from prometheus_client import REGISTRY

from apps.health.checks import AccentAuthCheck, CheckSkipped
from apps.health.runner import CheckSpec, evaluate
from tests.health.conftest import StatusServer


@dataclass
class CountingCheck:
    """Counts its runs; sleeps `delay`; fails when `failing` is set."""

    delay: float = 0.0
    failing: bool = False
    runs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        with self.lock:
            self.runs += 1
        time.sleep(self.delay)
        if self.failing:
            raise ServiceUnavailable("down for the test")


class SkippedCheck:
    def run(self) -> None:
        raise CheckSkipped("not configured")


class BrokenCheck:
    def run(self) -> None:
        raise KeyError("a bug in the check")


class AsyncCheck:
    async def run(self) -> None:
        return None


@dataclass
class MeetingCheck:
    """Waits until every check sharing `barrier` runs at the same time; fails (BrokenBarrierError) if they do not."""

    barrier: threading.Barrier

    def run(self) -> None:
        self.barrier.wait()


def test_checks_run_concurrently() -> None:
    # Each check returns only once all three are running: checks run one after the other would break the
    # barrier after 30 s and report failing (their own timeout is longer, so it is the barrier that decides).
    barrier = threading.Barrier(3, timeout=30)
    specs = [CheckSpec(f"meeting{i}", MeetingCheck(barrier), timeout=60) for i in range(3)]
    report = evaluate(specs, cache_seconds=0)
    assert report.summary() == {"status": "ok", "checks": {f"meeting{i}": "ok" for i in range(3)}}, report.detail()


def test_a_hanging_check_costs_at_most_its_timeout(status_server: StatusServer) -> None:
    status_server.mode = "hang"
    # The request would wait 30 s (the server hangs up to 60 s): only the check's 0.3 s budget ends it sooner.
    check = AccentAuthCheck(base_url=status_server.base_url, request_timeout=30)
    hanging = CheckSpec("accent_auth", check, timeout=0.3)
    fast = CheckSpec("fast", CountingCheck(), timeout=30)
    started = time.monotonic()
    report = evaluate([hanging, fast], cache_seconds=0)
    assert time.monotonic() - started < 5.0, "bounded by the 0.3 s budget (with room for a loaded machine), not 30 s"
    by_name = {r.name: r for r in report.results}
    assert by_name["accent_auth"].status == "failing"
    assert by_name["accent_auth"].error == "timed out after 0.3s"
    assert by_name["fast"].status == "ok"
    assert report.http_status == 503

    # While it still hangs, the next probe waits on the same run instead of starting another. Within 0.3 s
    # the request may not have reached the server yet: wait until it has, so "one request" counts the run.
    deadline = time.monotonic() + 30
    while not status_server.requests:
        assert time.monotonic() < deadline, "the hanging check never reached the status server"
        time.sleep(0.01)
    evaluate([hanging], cache_seconds=0)
    time.sleep(0.5)  # a second run, had one been started, would have reached the server by now
    assert status_server.requests == ["/0.1/status"]


def test_a_failing_required_check_makes_the_service_unhealthy() -> None:
    report = evaluate([CheckSpec("db", CountingCheck(failing=True)), CheckSpec("x", CountingCheck())], cache_seconds=0)
    assert report.status == "unhealthy"
    assert report.http_status == 503
    assert report.summary() == {"status": "unhealthy", "checks": {"db": "failing", "x": "ok"}}


def test_a_failing_optional_check_only_degrades() -> None:
    report = evaluate(
        [CheckSpec("cache", CountingCheck(failing=True), required=False), CheckSpec("db", CountingCheck())],
        cache_seconds=0,
    )
    assert report.status == "degraded"
    assert report.http_status == 200
    detail = report.detail()["checks"]
    assert isinstance(detail, dict)
    assert detail["cache"]["error"] == "down for the test"
    assert detail["cache"]["required"] is False


def test_skipped_checks_do_not_fail_readiness() -> None:
    report = evaluate([CheckSpec("broker", SkippedCheck())], cache_seconds=0)
    assert report.status == "ok"
    assert report.results[0].status == "skipped"
    assert report.results[0].error == "not configured"


def test_a_check_with_a_bug_reports_failing_instead_of_raising() -> None:
    report = evaluate([CheckSpec("broken", BrokenCheck())], cache_seconds=0)
    assert report.results[0].status == "failing"
    assert report.results[0].error == "KeyError: 'a bug in the check'"


def test_async_checks_are_run() -> None:
    assert evaluate([CheckSpec("async", AsyncCheck())], cache_seconds=0).status == "ok"


def test_results_are_reused_within_the_cache_window_and_say_so() -> None:
    now = [100.0]
    check = CountingCheck()
    spec = CheckSpec("counted", check)
    first = evaluate([spec], cache_seconds=5, clock=lambda: now[0])
    now[0] += 4.9
    second = evaluate([spec], cache_seconds=5, clock=lambda: now[0])
    assert check.runs == 1
    assert (first.results[0].cached, second.results[0].cached) == (False, True)
    now[0] += 0.2
    third = evaluate([spec], cache_seconds=5, clock=lambda: now[0])
    assert check.runs == 2
    assert third.results[0].cached is False


def test_a_probe_storm_reaches_the_dependency_once() -> None:
    check = CountingCheck(delay=0.2)
    spec = CheckSpec("stormed", check)
    go = threading.Event()
    statuses: list[str] = []

    def probe() -> None:
        go.wait()
        statuses.append(evaluate([spec], cache_seconds=5).status)

    threads = [threading.Thread(target=probe) for _ in range(10)]
    for thread in threads:
        thread.start()
    go.set()  # all ten are started: a loaded machine cannot break the start line as a timed barrier did
    for thread in threads:
        thread.join(timeout=30)
    assert check.runs == 1
    assert statuses == ["ok"] * 10


def test_each_check_is_a_prometheus_gauge() -> None:
    evaluate(
        [CheckSpec("gauge_up", CountingCheck()), CheckSpec("gauge_down", CountingCheck(failing=True))], cache_seconds=0
    )
    assert REGISTRY.get_sample_value("health_check_status", {"check": "gauge_up"}) == 1
    assert REGISTRY.get_sample_value("health_check_status", {"check": "gauge_down"}) == 0
    latency = REGISTRY.get_sample_value("health_check_latency_seconds", {"check": "gauge_up"})
    assert latency is not None
    assert latency >= 0


def test_the_librarys_own_runner_would_overrun_and_restart_a_hung_check() -> None:
    """docs/health.md's reason for our runner: `HealthCheck.get_result()` waits the budget plus 1 s
    and submits a hung synchronous check again on every probe. If this fails, the library has
    caught up: run the checks through it."""
    release = threading.Event()
    starts: list[float] = []

    @dataclasses.dataclass
    class Hung(HealthCheck):  # type: ignore[misc]  # django-health-check ships no types
        timeout = datetime.timedelta(seconds=0.05)

        def run(self) -> None:  # the library runs a synchronous run() in its executor
            starts.append(time.monotonic())
            release.wait(10)

    pool = ThreadPoolExecutor(max_workers=2)
    try:
        began = time.monotonic()
        results = [asyncio.run(Hung().get_result(pool)) for _ in range(2)]
        assert all(result.error for result in results)
        assert time.monotonic() - began > 2 * 1.0, "each probe waited more than the check's 0.05 s budget"
        assert len(starts) == 2, "the hung check was started again while still running"
    finally:
        release.set()
        pool.shutdown()
