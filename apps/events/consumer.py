"""Run each subscriber of an event once in effect: its record is written in the same transaction as its work.

A delivery is one transaction (one commit: a worker's throughput is bounded by commits).
Every subscriber runs in a savepoint of it with a `HandledEvent` (event id, subscriber
name): one that fails rolls back alone, the others' effects commit, and the retry
(or the replayed dead letter) runs only the subscribers without a record. Two deliveries
racing each other serialise on that unique record: the second waits for the first's commit,
then skips (or runs, if the first rolled back). When every subscriber has handled the event,
a `ProcessedEvent` says so, and a later redelivery is skipped with one query.

An event with a single subscriber (the common case) needs no savepoint: if that subscriber
fails, rolling back the whole delivery is rolling back it alone, and a racing delivery's
record makes the insert fail, which rolls back a transaction that has done nothing yet. Five
round trips to the database instead of ten (BEGIN, the processed check, two records, COMMIT):
the worker's cost per event (docs/benchmarks.md, "Events").
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


class _HandledAlready(Exception):
    """The single subscriber's record exists: a racing delivery committed it first (its transaction is spent)."""


class _AloneFailed(Exception):
    """The single subscriber failed: raised through the delivery's transaction, which rolls back."""

    def __init__(self, name: str, error: Exception) -> None:
        super().__init__(name)
        self.name, self.error = name, error


def _run_alone(event: Event, name: str, handler: Handler, using: str) -> None:
    """Run the event's only subscriber in the delivery's own transaction: no savepoint to pay for.

    The record is written first: a duplicate fails it before the handler runs, and the
    failure (an aborted transaction on PostgreSQL) rolls back only the processed check.
    """
    try:
        HandledEvent.objects.using(using).create(event_id=event.id, handler=name, event_type=event.type)
    except IntegrityError as error:
        raise _HandledAlready from error
    try:
        handler(event)
    except Exception as error:
        raise _AloneFailed(name, error) from error


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
        try:
            ran = _deliver(event, subscribers, failures, using)
        except _HandledAlready:
            return _duplicate(event)
        except _AloneFailed as failed:
            _failed(event, failed.name)
            failures.append(failed.error)
            ran = 0
        if ran is None:
            return _duplicate(event)
        if failures:
            raise _worst(failures)
        if subscribers and not ran:  # every subscriber had handled it: a redelivery
            return _duplicate(event)
    CONSUMED.labels(event.type, "handled").inc()
    logger.info("event_handled", event_id=str(event.id), event_type=event.type, handlers=ran)
    return "handled"


def _deliver(
    event: Event, subscribers: list[tuple[str, Handler]], failures: list[BaseException], using: str
) -> int | None:
    """The delivery's one transaction: how many subscribers ran (None: processed already); failures appended."""
    # One commit per delivery. With several subscribers each runs in a savepoint of it, so one
    # that fails rolls back alone while the others' effects and records commit with the rest.
    with transaction.atomic(using=using):
        if ProcessedEvent.objects.using(using).filter(event_id=event.id).exists():
            return None
        ran = 0
        if len(subscribers) == 1:
            _run_alone(event, *subscribers[0], using)  # a failure rolls back the whole delivery
            ran = 1
        else:
            for name, handler in subscribers:
                try:
                    ran += _run_once(event, name, handler, using)
                except Exception as error:  # the others still run; the delivery fails with it below
                    _failed(event, name)
                    failures.append(error)
        if not failures:
            # ON CONFLICT DO NOTHING: a concurrent delivery that finished first wrote it already.
            ProcessedEvent.objects.using(using).bulk_create(
                [ProcessedEvent(event_id=event.id, event_type=event.type)], ignore_conflicts=True
            )
    return ran


def _failed(event: Event, name: str) -> None:
    logger.warning("event_handler_failed", event_id=str(event.id), event_type=event.type, handler=name)


def _duplicate(event: Event) -> Outcome:
    CONSUMED.labels(event.type, "duplicate").inc()
    logger.info("event_duplicate_skipped", event_id=str(event.id), event_type=event.type)
    return "duplicate"
