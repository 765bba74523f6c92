"""PostgreSQL `LISTEN/NOTIFY` between `publish()` and the relay loop: a relay wakes when an event commits.

`publish()` sends `NOTIFY events_outbox` in the publishing transaction; PostgreSQL delivers
notifications only when (and if) that transaction commits, so a relay is never woken for a
row it cannot see yet, nor for one that was rolled back. Notifications of one transaction
are folded into one by the server.

The listener is the relay's own extra connection (autocommit, nothing else runs on it), on
`EVENTS_LISTEN_DATABASE`: the `direct` alias when there is one, since behind PgBouncer in
transaction pooling `LISTEN` would be left on a server connection the pooler hands to others,
and nothing would be delivered (docs/scaling.md#pgbouncer; `NOTIFY` is transactional and
passes through the pooler). It is only a wake-up: a lost notification (the listener
reconnecting, the relay busy) costs at most `EVENTS_RELAY_INTERVAL`, the loop's fallback,
never an event. On other databases (SQLite: one process, no server to notify through), and
behind a pooler with no direct URL (`EVENTS_LISTEN_DATABASE` = None), `wait()` just sleeps
the interval, and low latency comes from the on-commit relay as before.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

__all__ = ["CHANNEL", "OutboxListener", "listening_alias", "notify_relays"]

CHANNEL = "events_outbox"
logger = structlog.get_logger(__name__)


def notify_relays(using: str = DEFAULT_DB_ALIAS) -> None:
    """Wake the relays listening on this database when the current transaction commits (PostgreSQL only)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {CHANNEL}")


def listening_alias(using: str) -> str | None:
    """The alias to `LISTEN` on for the relays of `using` (None: nowhere, poll), per `EVENTS_LISTEN_DATABASE`."""
    listen: str | None = settings.EVENTS_LISTEN_DATABASE
    return listen if using == DEFAULT_DB_ALIAS else using


class OutboxListener:
    """`wait(timeout)`: return when an event committed (True) or after `timeout` s (False)."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS, *, stop: threading.Event | None = None) -> None:
        self.using = listening_alias(using)
        self._stop = stop or threading.Event()
        self._wrapper: Any = None

    @property
    def listening(self) -> bool:
        return self._wrapper is not None

    def wait(self, timeout: float) -> bool:
        if self.using is None or connections[self.using].vendor != "postgresql":
            self._stop.wait(timeout)
            return False
        deadline = time.monotonic() + timeout
        try:
            raw = self._listen()
            while not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # In slices, so that a stop request is seen within half a second.
                if any(True for _ in raw.notifies(timeout=min(remaining, 0.5), stop_after=1)):
                    for _ in raw.notifies(timeout=0):  # the others queued meanwhile say the same thing
                        pass
                    return True
            return False
        except Exception as error:  # the database went away: sleep, listen again next time
            logger.warning("events_relay_listen_failed", error=f"{type(error).__name__}: {error}")
            self.close()
            self._stop.wait(timeout)
            return False

    def _listen(self) -> Any:
        if self._wrapper is None:
            assert self.using is not None  # wait() checked
            wrapper = connections.create_connection(self.using)  # its own: never the thread's ORM connection
            wrapper.ensure_connection()
            wrapper.connection.execute(f"LISTEN {CHANNEL}")
            self._wrapper = wrapper
        return self._wrapper.connection

    def close(self) -> None:
        if self._wrapper is not None:
            try:
                self._wrapper.close()
            except Exception:  # already broken: nothing to release
                logger.debug("events_relay_listener_close_failed")
            self._wrapper = None
