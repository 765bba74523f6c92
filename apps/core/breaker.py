"""One circuit breaker for every backing service: Redis (cache, rate limits), the broker, ...

A dependency that failed is *open*: callers skip it for `cool_down` seconds instead of each
paying a socket timeout, and serve without it (degrade) as their own rule says. When the
cool-down is over the breaker is *half-open*: the next caller is let through as the probe,
and the others keep skipping; a probe that succeeds closes the breaker, one that fails opens
it for another cool-down. A probe that never reports (its caller raised something else) does
not wedge the breaker: a new probe is let through after each cool-down.

Each transition is logged once (`<name> unavailable: <error>`, `<name> available again`) and
shown in `service_dependency_breaker_open{dependency}`; no restart is needed to recover.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

from prometheus_client import Gauge

from apps.core.metric_names import metric_name

__all__ = ["Breaker", "BreakerState"]

logger = logging.getLogger("apps.core.breaker")

BREAKER_OPEN = Gauge(
    metric_name("dependency_breaker_open"), "1 while callers skip this dependency after it failed", ["dependency"]
)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    """Thread-safe; one instance per dependency and process (`name` is what logs and metrics say).

    `failure_threshold` consecutive failures open it; `clock` is for tests that must not sleep.
    """

    def __init__(
        self,
        name: str,
        *,
        cool_down: float,
        failure_threshold: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self.cool_down = cool_down
        self.failure_threshold = failure_threshold
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open = False
        self._retry_at = 0.0
        BREAKER_OPEN.labels(name).set(0)

    @property
    def state(self) -> BreakerState:
        if not self._open:
            return BreakerState.CLOSED
        return BreakerState.OPEN if self._clock() < self._retry_at else BreakerState.HALF_OPEN

    @property
    def is_open(self) -> bool:
        """True from the failure that opened it until a call succeeds (cool-down or not)."""
        return self._open

    def allows(self) -> bool:
        """Whether to call the dependency now: always when closed, once per cool-down when open."""
        if not self._open:  # the hot path: no lock while the dependency is healthy
            return True
        with self._lock:
            if not self._open:
                return True
            now = self._clock()
            if now < self._retry_at:
                return False
            self._retry_at = now + self.cool_down  # this caller is the probe; the rest wait for it
            return True

    def record_success(self) -> None:
        if not self._open and not self._failures:
            return
        with self._lock:
            was_open, self._open, self._failures = self._open, False, 0
        if was_open:
            BREAKER_OPEN.labels(self.name).set(0)
            logger.warning("%s available again", self.name)

    def record_failure(self, error: BaseException) -> None:
        with self._lock:
            self._failures += 1
            opened = not self._open and self._failures >= self.failure_threshold
            if opened or self._open:
                self._open = True
                self._retry_at = self._clock() + self.cool_down
        if opened:
            BREAKER_OPEN.labels(self.name).set(1)
            logger.warning("%s unavailable: %s", self.name, error)

    def reset(self) -> None:
        """Closed, silently (tests; a process that knows the dependency was replaced)."""
        with self._lock:
            self._open, self._failures, self._retry_at = False, 0, 0.0
        BREAKER_OPEN.labels(self.name).set(0)
