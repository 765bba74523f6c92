"""Run each subscriber of an event once in effect: its record is written in the same transaction as its work.

A delivery is one transaction (one commit: a worker's throughput is bounded by commits).
Every subscriber runs in a savepoint of it with a `HandledEvent` (event id, subscriber
name): one that fails rolls back alone, the others' effects commit, and the retry
(or the replayed dead letter) runs only the subscribers without a record. Two deliveries
racing each other serialise on that unique record: the second waits for the first's commit,
then skips (or runs, if the first rolled back). When every subscriber has handled the event,
a `ProcessedEvent` says so, and a later redelivery is skipped with one query.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Literal

import structlog
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction

from apps.core.context import RequestScope, acting_as, in_tenant, request_scope
from apps.core.side_effects import declared_event_types
from apps.events.errors import TRANSIENT_ERRORS, UnknownEventType
from apps.events.event import Event
from apps.events.metrics import CONSUMED
from apps.events.models import HandledEvent, ProcessedEvent
from apps.events.registry import Handler, handlers_for

__all__ = ["Outcome", "consume"]

Outcome = Literal["handled", "duplicate"]
logger = structlog.get_logger(__name__)


def _subscribers(event_type: str) -> list[tuple[str, Handler]]:
    subscribers = handlers_for(event_type)
    # A type a model declares may have no subscriber (yet); any other unheard-of type is a wiring mistake.
    if not subscribers and event_type not in declared_event_types():
        raise UnknownEventType(f"no handler is registered for {event_type!r}")
    return subscribers


def _run_once(event: Event, name: str, handler: Handler, using: str) -> bool:
    """Run `handler` unless it has handled `event` already; whether it ran."""
    with transaction.atomic(using=using):
        try:
            with transaction.atomic(using=using):
                HandledEvent.objects.using(using).create(event_id=event.id, handler=name, event_type=event.type)
        except IntegrityError:
            return False
        handler(event)
    return True


def _worst(failures: list[BaseException]) -> BaseException:
    """The error the delivery ends with: a permanent one dead-letters at once, else a transient one retries."""
    permanent = [error for error in failures if not isinstance(error, TRANSIENT_ERRORS)]
    return (permanent or failures)[0]


def consume(event: Event, *, using: str = DEFAULT_DB_ALIAS) -> Outcome:
    """Run every subscriber of `event.type` that has not handled this event id yet.

    The subscribers run as the event's actor, in its tenant and request id, whichever
    process delivers it (a worker, an eager relay, a replay), so audit rows and log lines
    point back to the request that caused the event. If some fail, the others still run;
    the delivery then raises the failure (a permanent one before a transient one).
    """
    subscribers = _subscribers(event.type)
    failures: list[BaseException] = []
    with ExitStack() as scope:
        scope.enter_context(request_scope(RequestScope(request_id=event.request_id or str(event.id))))
        scope.enter_context(acting_as(event.actor))
        scope.enter_context(in_tenant(event.tenant))
        # One commit per delivery: each subscriber runs in a savepoint of it, so one that fails
        # rolls back alone while the others' effects and records commit with the rest.
        with transaction.atomic(using=using):
            if ProcessedEvent.objects.using(using).filter(event_id=event.id).exists():
                return _duplicate(event)
            ran = 0
            for name, handler in subscribers:
                try:
                    ran += _run_once(event, name, handler, using)
                except Exception as error:  # the others still run; the delivery fails with it below
                    logger.warning("event_handler_failed", event_id=str(event.id), event_type=event.type, handler=name)
                    failures.append(error)
            if not failures:
                try:
                    with transaction.atomic(using=using):
                        ProcessedEvent.objects.using(using).create(event_id=event.id, event_type=event.type)
                except IntegrityError:  # a concurrent delivery finished first
                    pass
        if failures:
            raise _worst(failures)
        if subscribers and not ran:  # every subscriber had handled it: a redelivery
            return _duplicate(event)
    CONSUMED.labels(event.type, "handled").inc()
    logger.info("event_handled", event_id=str(event.id), event_type=event.type, handlers=ran)
    return "handled"


def _duplicate(event: Event) -> Outcome:
    CONSUMED.labels(event.type, "duplicate").inc()
    logger.info("event_duplicate_skipped", event_id=str(event.id), event_type=event.type)
    return "duplicate"
