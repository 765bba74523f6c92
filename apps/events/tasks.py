"""Celery tasks: deliver one event to its handler, and the periodic relay of the outbox.

`deliver_event` is the only consumer of the events queue. Acknowledged late (after the
handler), requeued if the worker dies, retried with exponential backoff and jitter on
transient errors, and *rejected* (not acknowledged) on its final failure so RabbitMQ
moves the message, headers intact, to the dead-letter queue.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import structlog
from celery import shared_task
from celery.exceptions import Reject
from django.conf import settings

from apps.events.backoff import retry_delay
from apps.events.consumer import consume
from apps.events.errors import TRANSIENT_ERRORS
from apps.events.event import Event, JSONValue
from apps.events.metrics import CONSUMED
from apps.events.task_logs import DELIVER_TASK, RELAY_TASK

__all__ = ["DELIVER_TASK", "RELAY_TASK", "deliver_event", "relay_outbox_task"]

logger = structlog.get_logger(__name__)


@shared_task(bind=True, name=DELIVER_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_event(self: Any, message: dict[str, JSONValue]) -> str:
    try:
        event = Event.from_message(message)
    except (KeyError, ValueError, TypeError) as error:
        raise Reject(f"malformed event message: {error!r}", requeue=False) from error
    try:
        return consume(event)
    except TRANSIENT_ERRORS as error:
        if self.request.is_eager:
            raise  # run by the relay in-process: the outbox row is retried with backoff instead
        retries = int(self.request.retries or 0)
        if retries >= settings.EVENTS_HANDLER_MAX_RETRIES:
            _dead(event, error, retries)
        CONSUMED.labels(event.type, "retry").inc()
        countdown = retry_delay(retries, base=settings.EVENTS_RETRY_BACKOFF, cap=settings.EVENTS_RETRY_BACKOFF_MAX)
        if settings.EVENTS_QUEUE_TYPE == "quorum":
            # The broker delays it (native delayed delivery) in whole seconds, and refuses less than one.
            countdown = math.ceil(countdown)
        logger.warning(
            "event_retry", event_id=str(event.id), event_type=event.type, retry=retries + 1, countdown=countdown
        )
        raise self.retry(exc=error, countdown=countdown, max_retries=None) from error
    except Exception as error:  # permanent: a bug or a bad event; retrying only delays the dead letter
        _dead(event, error, int(self.request.retries or 0))


def _dead(event: Event, error: BaseException, retries: int) -> NoReturn:
    CONSUMED.labels(event.type, "dead").inc()
    logger.error(
        "event_dead_lettered", event_id=str(event.id), event_type=event.type, retries=retries, error=repr(error)
    )
    raise Reject(f"{type(error).__name__}: {error}", requeue=False) from error


@shared_task(name=RELAY_TASK, ignore_result=True)
def relay_outbox_task() -> dict[str, int | bool]:
    """Beat's periodic relay: publishes what the on-commit relay could not (broker down, crash)."""
    from apps.events.relay import relay_outbox  # noqa: PLC0415 - the relay imports this module's task

    return relay_outbox().as_dict()
