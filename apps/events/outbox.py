"""`publish()` and `publish_many()`: write domain events to the outbox, in the caller's transaction.

The rows commit or roll back with the change they describe, so an event is never sent
for a change that did not happen, nor lost for one that did. Once per transaction the
relays are woken (PostgreSQL `NOTIFY`, delivered at commit, see apps.events.wakeup), and on
commit the events of that transaction are handed to the relay at once
(`EVENTS_RELAY_ON_COMMIT`): to the background relay thread with a broker (the request never
waits on it), in-process when Celery is eager. Whatever is not published then (broker down,
process killed) the periodic relay publishes later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping

import structlog
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from apps.core.bulk_copy import copies, copy_rows
from apps.core.context import current_actor, current_request_id, current_tenant
from apps.core.uuid7 import uuid7
from apps.events.event import Event
from apps.events.wakeup import notify_relays

__all__ = ["publish", "publish_many"]

logger = structlog.get_logger(__name__)

# From this many events a call streams its rows with COPY (PostgreSQL); below, one INSERT is
# cheaper than COPY's extra round trip (docs/events.md, "Writing events in bulk").
COPY_FROM = 16


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
    items = [(aggregate_id, payload)]
    return publish_many(event_type, aggregate=aggregate, items=items, version=version, using=using)[0]


def publish_many(
    event_type: str,
    *,
    aggregate: str,
    items: Iterable[tuple[object, Mapping[str, object]]],
    version: int = 1,
    using: str = DEFAULT_DB_ALIAS,
) -> list[Event]:
    """Record one `event_type` per `(aggregate_id, payload)` of `items`, in one INSERT.

    The same rules as `publish()`, for a bulk write (e.g. one event per row of a bulk upsert):
    every payload is checked before anything is written, the events share the context and
    the transaction, and are relayed in the order given.
    """
    actor, tenant, request_id = current_actor(), current_tenant(), current_request_id()
    occurred_at = timezone.now()
    # Each payload as JSON text once (raises before anything is written); the event carries
    # the text parsed back, so it is exactly what consumers will receive.
    encoded = [(str(aggregate_id), _json_text(payload)) for aggregate_id, payload in items]
    if not encoded:
        return []
    events = [
        Event(
            id=uuid7(),
            type=event_type,
            version=version,
            occurred_at=occurred_at,
            aggregate=aggregate,
            aggregate_id=aggregate_id,
            payload=json.loads(text),
            actor=actor,
            tenant=tenant,
            request_id=request_id,
        )
        for aggregate_id, text in encoded
    ]
    from apps.events.metrics import PUBLISHED  # noqa: PLC0415 - keep `apps.events` importable before the registry
    from apps.events.models import OutboxEvent, OutboxStatus  # noqa: PLC0415 - (Celery builds its queues with topology)

    if copies(using) and len(events) >= COPY_FROM:
        row_head = (event_type, version, occurred_at, aggregate)
        row_tail = (actor or "", tenant, request_id or "", OutboxStatus.PENDING.value, 0, occurred_at, None, "")
        copy_rows(
            OutboxEvent,
            _COLUMNS,
            (
                (event.id, *row_head, event.aggregate_id, text, *row_tail)
                for event, (_, text) in zip(events, encoded, strict=True)
            ),
            using=using,
        )
    else:
        OutboxEvent.objects.using(using).bulk_create(
            [
                OutboxEvent(
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
                for event in events
            ]
        )
    PUBLISHED.labels(event_type).inc(len(events))
    _after_commit([event.id for event in events], using)
    return events


# The outbox row's columns, in the order publish_many() streams them with COPY.
_COLUMNS = (
    "id", "event_type", "version", "occurred_at", "aggregate", "aggregate_id", "payload",
    "actor", "tenant_id", "request_id", "status", "attempts", "available_at", "sent_at", "last_error",
)  # fmt: skip


def _json_text(payload: Mapping[str, object]) -> str:
    """The payload as JSON text, UUIDs, dates and decimals as strings (as DjangoJSONEncoder writes them).

    `TypeError` if it is not JSON.
    """
    return json.dumps(dict(payload), cls=DjangoJSONEncoder)


def _after_commit(event_ids: list[uuid.UUID], using: str) -> None:
    """Once per transaction: wake the listening relays (at commit), and relay its events on commit."""
    connection = transaction.get_connection(using)
    batch: tuple[list[uuid.UUID], Callable[[], None]] | None = getattr(connection, "_events_on_commit", None)
    # A batch whose callback is no longer queued ran already or was rolled back: start a new one.
    if batch is not None and any(item[1] is batch[1] for item in connection.run_on_commit):
        batch[0].extend(event_ids)
        return
    notify_relays(using)  # rolled back with its savepoint or transaction, like the rows
    ids = list(event_ids)
    relay_on_commit = settings.EVENTS_RELAY_ON_COMMIT

    def relay() -> None:
        if not relay_on_commit:
            return
        from apps.events.background_relay import relay_soon  # noqa: PLC0415 - see publish_many()
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
