"""The on-commit relay, in the background: a committed request never waits on the broker.

`publish()` hands the ids of a committed transaction's events to `relay_soon()`, and one
daemon thread per process relays them, folding whatever arrives meanwhile into its next
run. The response does not wait for it, however slow, down or black-holed the broker is.

The thread only lowers latency; it is never the only way out of the outbox. What it does
not send (broker marked down, more than `MAX_WAITING` ids queued, the process exits
mid-run) stays pending, and the periodic relay (beat, `manage.py events_relay`) sends it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable

import structlog
from django.conf import settings
from django.db import connections

__all__ = ["MAX_WAITING", "relay_soon", "wait_until_idle"]

logger = structlog.get_logger(__name__)

# Ids kept for the thread at most: a broker slower than the writes must not grow memory forever.
MAX_WAITING = 10_000


class _BackgroundRelay:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._waiting: dict[str, list[uuid.UUID]] = {}  # database alias -> ids, in commit order
        self._count = 0
        self._busy = False
        self._thread: threading.Thread | None = None

    def submit(self, ids: Iterable[uuid.UUID], using: str) -> None:
        ids = list(ids)
        with self._condition:
            if self._count + len(ids) > MAX_WAITING:
                logger.warning("events_relay_backlog_full", dropped=len(ids), waiting=self._count)
                return  # still pending in the outbox: the periodic relay sends them
            self._waiting.setdefault(using, []).extend(ids)
            self._count += len(ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="events-relay", daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: not self._waiting and not self._busy, timeout)

    def _serve(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: bool(self._waiting))
                work, self._waiting, self._count = self._waiting, {}, 0
                self._busy = True
            try:
                for using, ids in work.items():
                    _relay(ids, using)
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()


def _relay(ids: list[uuid.UUID], using: str) -> None:
    from apps.events.relay import broker_marked_down, relay_outbox  # noqa: PLC0415 - the relay imports Celery tasks

    size = settings.EVENTS_RELAY_BATCH_SIZE
    try:
        for start in range(0, len(ids), size):  # a bounded `IN (...)` per relay call
            if broker_marked_down():
                return  # the periodic relay sends these; no run per commit against a dead broker
            relay_outbox(ids=ids[start : start + size], using=using)
    except Exception:  # the changes are committed; their rows stay pending for the periodic relay
        logger.exception("events_relay_on_commit_failed", count=len(ids))
    finally:
        connections.close_all()  # this thread's own; none is left open between runs


_relay_thread = _BackgroundRelay()


def _forget_parents_thread() -> None:
    global _relay_thread  # noqa: PLW0603 - a forked child (gunicorn worker) starts its own thread
    _relay_thread = _BackgroundRelay()


os.register_at_fork(after_in_child=_forget_parents_thread)


def relay_soon(ids: Iterable[uuid.UUID], *, using: str) -> None:
    """Relay these committed events in this process's background thread; returns at once."""
    _relay_thread.submit(ids, using)


def wait_until_idle(timeout: float) -> bool:
    """Whether everything handed to `relay_soon` was relayed (or given up) within `timeout` seconds."""
    return _relay_thread.wait_until_idle(timeout)
