"""The names of the events tasks, and a logging filter that keeps Celery's per-delivery lines out.

Celery writes two INFO lines for every task it runs ("Task ... received", "Task ... succeeded
in ..."). For an event delivery the consumer's own `event_handled` line says the same, with the
event's id, type, handlers, request id and tenant; the other two triple the log volume of a
busy service (their CPU cost is within the noise of `bench/events_bench.py --cases drain`).
`WithoutDeliveryLines` drops Celery's INFO lines of `DELIVER_TASK` only: every other task keeps
them, and a delivery's warnings and errors are kept.

Importable before the app registry is ready: `LOGGING` names the filter, and Django configures
logging before it loads any app.
"""

from __future__ import annotations

import logging

__all__ = ["DELIVER_TASK", "RELAY_TASK", "WithoutDeliveryLines"]

DELIVER_TASK = "apps.events.deliver"
RELAY_TASK = "apps.events.relay_outbox"


class WithoutDeliveryLines(logging.Filter):
    """On Celery's `celery.worker.strategy` and `celery.app.trace` loggers: no INFO line of an event delivery."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        arguments = record.args
        return not (isinstance(arguments, dict) and arguments.get("name") == DELIVER_TASK)
