"""Run readiness checks concurrently, each bounded by its own timeout, with a short result cache.

- Every check runs in a shared, bounded thread pool; the caller waits at most until
  each check's own deadline. A check that hangs is abandoned (reported as timed out)
  and is not started again while it is still running, so a dead dependency cannot
  use up the pool however often the probe is called.
- Results are kept process-wide for `cache_seconds`; concurrent probes wait for the
  one evaluation in progress instead of starting their own (no probe storm reaches
  a dependency). Each result says whether it came from that cache.
- Each evaluated check sets the `health_check_status` and `health_check_latency_seconds` gauges.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

import structlog
from health_check.exceptions import HealthCheckException
from prometheus_client import Gauge

from apps.health.checks import CheckSkipped, safe_error_text

__all__ = [
    "CheckResult",
    "CheckSpec",
    "HealthReport",
    "RunnableCheck",
    "evaluate",
    "reset_result_cache",
]

CheckStatus = Literal["ok", "failing", "skipped"]
OverallStatus = Literal["ok", "degraded", "unhealthy"]

logger = structlog.get_logger(__name__)

CHECK_STATUS = Gauge(
    "health_check_status",
    "Last readiness check result: 1 healthy (or skipped: not configured), 0 failing.",
    ["check"],
    multiprocess_mode="livemostrecent",
)
CHECK_LATENCY = Gauge(
    "health_check_latency_seconds",
    "Duration of the last evaluation of each readiness check.",
    ["check"],
    multiprocess_mode="livemostrecent",
)


class RunnableCheck(Protocol):
    """A django-health-check `HealthCheck`: `run()` (sync or async) raises to report a problem."""

    def run(self) -> object: ...


@dataclass(frozen=True)
class CheckSpec:
    """One check as configured: its name (the gauge label), whether it gates readiness, its budget."""

    name: str
    check: RunnableCheck
    required: bool = True
    timeout: float = 2.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: CheckStatus
    required: bool
    latency_ms: float
    error: str | None = None
    cached: bool = False
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "required": self.required,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "cached": self.cached,
            "checked_at": self.checked_at,
        }


@dataclass(frozen=True)
class HealthReport:
    results: tuple[CheckResult, ...]

    @property
    def status(self) -> OverallStatus:
        failing = [r for r in self.results if r.status == "failing"]
        if any(r.required for r in failing):
            return "unhealthy"
        return "degraded" if failing else "ok"

    @property
    def http_status(self) -> int:
        return 503 if self.status == "unhealthy" else 200

    def summary(self) -> dict[str, object]:
        """What `/health/ready` answers: the overall status and one word per check."""
        return {"status": self.status, "checks": {r.name: r.status for r in self.results}}

    def detail(self) -> dict[str, object]:
        """What `/health/` answers: everything about each check."""
        return {"status": self.status, "checks": {r.name: r.as_dict() for r in self.results}}


_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health-check")
_evaluation_lock = threading.Lock()
_state_lock = threading.Lock()
_cache: dict[str, tuple[float, CheckResult]] = {}
_in_flight: dict[str, Future[CheckResult]] = {}


def reset_result_cache() -> None:
    """Forget cached results (tests; a deliberate re-check)."""
    with _state_lock:
        _cache.clear()


def _execute(spec: CheckSpec) -> CheckResult:
    started = time.perf_counter()
    status: CheckStatus = "ok"
    error: str | None = None
    try:
        if inspect.iscoroutinefunction(spec.check.run):
            asyncio.run(spec.check.run())
        else:
            spec.check.run()
    except CheckSkipped as exc:
        status, error = "skipped", str(exc.message)
    except HealthCheckException as exc:
        status, error = "failing", str(exc.message)
    except Exception as exc:  # a check's own bug must still answer, not break the probe
        status, error = "failing", safe_error_text(exc)
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult(name=spec.name, status=status, required=spec.required, latency_ms=latency_ms, error=error)


def _start(spec: CheckSpec) -> Future[CheckResult]:
    with _state_lock:
        running = _in_flight.get(spec.name)
        if running is not None and not running.done():
            return running  # still hanging from an earlier probe: wait on it, start nothing new
        future = _executor.submit(_execute, spec)
        _in_flight[spec.name] = future
        return future


def _collect(spec: CheckSpec, future: Future[CheckResult], deadline: float) -> CheckResult:
    try:
        result = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return CheckResult(
            name=spec.name,
            status="failing",
            required=spec.required,
            latency_ms=round(spec.timeout * 1000, 2),
            error=f"timed out after {spec.timeout:g}s",
        )
    # The required flag is the caller's (a result may come from an earlier, differently configured run).
    return replace(result, required=spec.required)


def _record(result: CheckResult) -> None:
    CHECK_STATUS.labels(check=result.name).set(0 if result.status == "failing" else 1)
    CHECK_LATENCY.labels(check=result.name).set(result.latency_ms / 1000)
    if result.status == "failing":
        logger.warning("health_check_failing", check=result.name, error=result.error, required=result.required)


def _cached(specs: Iterable[CheckSpec], now: float) -> dict[str, CheckResult]:
    with _state_lock:
        return {
            spec.name: replace(entry[1], cached=True, required=spec.required)
            for spec in specs
            if (entry := _cache.get(spec.name)) is not None and entry[0] > now
        }


def evaluate(
    specs: Sequence[CheckSpec], *, cache_seconds: float = 3.0, clock: Callable[[], float] = time.monotonic
) -> HealthReport:
    """Every check's result, from the cache when fresh, otherwise run concurrently within its timeout."""
    found = _cached(specs, clock())
    if len(found) < len(specs):
        # One evaluation at a time: probes arriving meanwhile wait, then read its results.
        with _evaluation_lock:
            found = _cached(specs, clock())
            missing = [spec for spec in specs if spec.name not in found]
            started = time.monotonic()
            futures = [(spec, _start(spec)) for spec in missing]
            for spec, future in futures:
                result = _collect(spec, future, started + spec.timeout)
                _record(result)
                found[spec.name] = result
            expires = clock() + cache_seconds
            with _state_lock:
                for spec in missing:
                    _cache[spec.name] = (expires, found[spec.name])
    return HealthReport(results=tuple(found[spec.name] for spec in specs))
