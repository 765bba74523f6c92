"""Remember that Redis is down: log once per outage, back off briefly, notice the recovery.

While down, calls skip Redis for `backoff` seconds instead of each paying the socket timeout;
after that the next call tries again, and the first success ends the outage. No restart needed.
"""

from __future__ import annotations

import logging
import threading
import time

from apps.caching.metrics import ERRORS

__all__ = ["OutageTracker"]

logger = logging.getLogger("apps.caching")


class OutageTracker:
    def __init__(self, backoff: float) -> None:
        self.backoff = backoff
        self.down = False
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def should_skip(self) -> bool:
        """True inside the back-off window of an outage (the caller serves without Redis)."""
        return self.down and time.monotonic() < self._retry_at

    def failed(self, operation: str, error: BaseException) -> None:
        ERRORS.labels(operation, type(error).__name__).inc()
        with self._lock:
            first = not self.down
            self.down = True
            self._retry_at = time.monotonic() + self.backoff
        if first:
            logger.warning("cache unavailable, serving without it until Redis answers again: %s", error)

    def succeeded(self) -> None:
        if self.down:
            with self._lock:
                was_down, self.down = self.down, False
            if was_down:
                logger.warning("cache available again")
