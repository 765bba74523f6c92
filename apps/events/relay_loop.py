"""The long-running relay (`manage.py events_relay`): one broker connection, woken by commits.

Each pass relays everything due (`relay_outbox`), then waits for a commit's `NOTIFY`
(PostgreSQL) or `EVENTS_RELAY_INTERVAL` seconds, whichever comes first: an event committed
while the loop waits is published within milliseconds, and rows whose backoff ends, or
whose notification was missed, within the interval. The broker connection is kept between
passes (one handshake and one set of declarations per process, not per event); after a
broker failure it is dropped, and the loop sleeps the whole interval before it tries again
(notifications do not make it hammer a broker that is down).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

import structlog
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from apps.events.lag import relay_lag_seconds
from apps.events.publisher import ConfirmedPublisher
from apps.events.relay import RelayReport, connected_publisher, relay_outbox
from apps.events.tasks import deliver_event
from apps.events.wakeup import OutboxListener

__all__ = ["RelayLoop"]

logger = structlog.get_logger(__name__)

# The lag gauge is read by scrapes seconds apart: one query a second, not one per pass
# (at 500 commits/s the loop makes ~100-200 passes a second).
LAG_EVERY = 1.0


class RelayLoop:
    """`run()` until `stop` is set; `on_report` sees every pass that did something."""

    def __init__(
        self,
        *,
        batch_size: int | None = None,
        using: str = DEFAULT_DB_ALIAS,
        on_report: Callable[[RelayReport], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.using = using
        self.on_report = on_report
        self.stop = stop or threading.Event()
        self.passes = 0
        self.connections_opened = 0
        self.listener = OutboxListener(self.using, stop=self.stop)
        self._lag_due = 0.0  # time.monotonic() from which the next pass measures the lag

    def run(self) -> None:
        listener = self.listener
        session = ExitStack()
        publisher: ConfirmedPublisher | None = None
        try:
            while not self.stop.is_set():
                if publisher is None and not deliver_event.app.conf.task_always_eager:
                    opening = RelayReport()
                    publisher = session.enter_context(connected_publisher(opening))
                    self.connections_opened += 1
                    if publisher is None:
                        self._report(opening)
                        session.close()
                        self.stop.wait(settings.EVENTS_RELAY_INTERVAL)
                        continue
                report = relay_outbox(batch_size=self.batch_size, using=self.using, publisher=publisher)
                self._report(report)
                if report.broker_unavailable:
                    session.close()  # drops the broken connection (connected_publisher sees the failure)
                    publisher = None
                    self.stop.wait(settings.EVENTS_RELAY_INTERVAL)
                    continue
                if publisher is not None and not self._heartbeat(publisher):
                    session.close()
                    publisher = None
                listener.wait(settings.EVENTS_RELAY_INTERVAL)
        finally:
            listener.close()
            session.close()
            connections[self.using].close()

    @staticmethod
    def _heartbeat(publisher: ConfirmedPublisher) -> bool:
        """Keep a negotiated AMQP heartbeat alive while idle; False if the connection is gone."""
        try:
            publisher.connection.heartbeat_check()
        except Exception as error:  # reconnected on the next pass
            publisher.failed = True
            logger.info("events_relay_connection_lost", error=f"{type(error).__name__}: {error}")
            return False
        return True

    def _report(self, report: RelayReport) -> None:
        self.passes += 1
        now = time.monotonic()
        try:
            if now >= self._lag_due:
                self._lag_due = now + LAG_EVERY
                relay_lag_seconds(self.using)
        except Exception:  # a metric must not stop the relay; the database error shows in the next pass
            logger.warning("events_relay_lag_unknown", exc_info=True)
        if self.on_report is not None and (report.sent or report.retried or report.dead or report.broker_unavailable):
            self.on_report(report)
