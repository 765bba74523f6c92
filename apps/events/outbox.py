"""`publish()`: write a domain event to the outbox, in the caller's transaction.

The row commits or rolls back with the change it describes, so an event is never sent
for a change that did not happen, nor lost for one that did. On commit, the events of
that transaction are handed to the relay at once (`EVENTS_RELAY_ON_COMMIT`): to the
background relay thread with a broker (the request never waits on it), in-process when
Celery is eager. Whatever is not published then (broker down, process killed) the
periodic relay publishes later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping

import structlog
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from apps.core.context import current_actor, current_request_id, current_tenant
from apps.core.uuid7 import uuid7
from apps.events.event import Event, Payload

__all__ = ["publish"]

logger = structlog.get_logger(__name__)


def publish(
    event_type: str,
    *,
    aggregate: str,
    aggregate_id: object,
    payload: Mapping[str, object],
    version: int = 1,
    using: str = DEFAULT_DB_ALIAS,
) -> Event:
    """Record `event_type` about `aggregate:aggregate_id` in the outbox of the current transaction.

    Actor, tenant and request id come from `apps.core.context`. `payload` must be
    JSON-serialisable (UUIDs, dates and decimals become strings, as DjangoJSONEncoder writes them);
    `TypeError` otherwise, before anything is written.
    """
    # Normalise now, so the event returned is exactly what consumers will receive.
    normalised: Payload = json.loads(json.dumps(dict(payload), cls=DjangoJSONEncoder))
    event = Event(
        id=uuid7(),
        type=event_type,
        version=version,
        occurred_at=timezone.now(),
        aggregate=aggregate,
        aggregate_id=str(aggregate_id),
        payload=normalised,
        actor=current_actor(),
        tenant=current_tenant(),
        request_id=current_request_id(),
    )
    from apps.events.metrics import PUBLISHED  # noqa: PLC0415 - keep `apps.events` importable before the registry
    from apps.events.models import OutboxEvent  # noqa: PLC0415 - (Celery builds its queues with topology)

    OutboxEvent.objects.using(using).create(
        id=event.id,
        event_type=event.type,
        version=event.version,
        occurred_at=event.occurred_at,
        aggregate=event.aggregate,
        aggregate_id=event.aggregate_id,
        payload=event.payload,
        actor=event.actor or "",
        tenant_id=event.tenant,
        request_id=event.request_id or "",
        available_at=event.occurred_at,
    )
    PUBLISHED.labels(event_type).inc()
    if settings.EVENTS_RELAY_ON_COMMIT:
        _relay_on_commit(event.id, using)
    return event


def _relay_on_commit(event_id: uuid.UUID, using: str) -> None:
    """One relay run per committed transaction, for all the events it published."""
    connection = transaction.get_connection(using)
    batch: tuple[list[uuid.UUID], Callable[[], None]] | None = getattr(connection, "_events_on_commit", None)
    # A batch whose callback is no longer queued ran already or was rolled back: start a new one.
    if batch is not None and any(item[1] is batch[1] for item in connection.run_on_commit):
        batch[0].append(event_id)
        return
    ids = [event_id]

    def relay() -> None:
        from apps.events.background_relay import relay_soon  # noqa: PLC0415 - see publish()
        from apps.events.relay import relay_outbox  # noqa: PLC0415
        from apps.events.tasks import deliver_event  # noqa: PLC0415

        if not deliver_event.app.conf.task_always_eager:
            relay_soon(ids, using=using)  # the broker is a network away: the request does not wait on it
            return
        try:  # eager: the handlers run here, before the commit returns, as a worker would run them
            relay_outbox(ids=ids, using=using)
        except Exception:  # the change is committed; the rows stay pending for the periodic relay
            logger.exception("events_relay_on_commit_failed", count=len(ids))

    connection._events_on_commit = (ids, relay)
    transaction.on_commit(relay, using=using)
