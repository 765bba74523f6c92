"""Run an event's handler once in effect: its id is recorded in the same transaction as the handler's work.

A redelivered event (broker redelivery after a lost worker, a relay that published twice,
a replayed dead letter that had succeeded meanwhile) finds its id already recorded and is
skipped. Two deliveries racing each other serialise on the primary key of that record:
the second waits for the first's commit, then skips (or runs, if the first rolled back).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Literal

import structlog
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction

from apps.core.context import RequestScope, acting_as, in_tenant, request_scope
from apps.events.event import Event
from apps.events.metrics import CONSUMED
from apps.events.models import ProcessedEvent
from apps.events.registry import handler_for

__all__ = ["Outcome", "consume"]

Outcome = Literal["handled", "duplicate"]
logger = structlog.get_logger(__name__)


def consume(event: Event, *, using: str = DEFAULT_DB_ALIAS) -> Outcome:
    """Run the handler of `event.type` unless this event id was already handled.

    The handler runs as the event's actor, in its tenant and request id, whichever
    process delivers it (a worker, an eager relay, a replay), so audit rows and log
    lines point back to the request that caused the event.
    """
    handler = handler_for(event.type)
    with ExitStack() as scope:
        scope.enter_context(request_scope(RequestScope(request_id=event.request_id or str(event.id))))
        scope.enter_context(acting_as(event.actor))
        scope.enter_context(in_tenant(event.tenant))
        with transaction.atomic(using=using):
            try:
                with transaction.atomic(using=using):
                    ProcessedEvent.objects.using(using).create(event_id=event.id, event_type=event.type)
            except IntegrityError:
                CONSUMED.labels(event.type, "duplicate").inc()
                logger.info("event_duplicate_skipped", event_id=str(event.id), event_type=event.type)
                return "duplicate"
            handler(event)
    CONSUMED.labels(event.type, "handled").inc()
    logger.info("event_handled", event_id=str(event.id), event_type=event.type)
    return "handled"
