"""Inspect, replay and purge dead letters: messages in the RabbitMQ dead-letter queue and dead outbox rows.

Listing takes messages without acknowledging them and closes the channel, so RabbitMQ
puts every one back. A replay republishes the message exactly as it died (body,
properties, headers) to the exchange and routing key it was first sent to (from its
`x-death` header), minus RabbitMQ's death records and with Celery's retry counter reset
(a replay gets a full set of retries), then acknowledges the dead copy. A dead outbox
row is replayed by making it pending again for the relay.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone
from kombu import Connection, Message, Queue

from apps.events.models import OutboxEvent, OutboxStatus
from apps.events.topology import topology, work_queues

__all__ = [
    "DeadLetter",
    "dead_letters",
    "declare_topology",
    "purge_dead_letters",
    "replay_dead_letters",
    "replay_dead_rows",
]

_DEATH_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason")
_KEPT_PROPERTIES = ("correlation_id", "reply_to", "priority", "delivery_mode", "message_id", "type", "app_id")


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter queue, as RabbitMQ holds it."""

    id: str
    task: str
    event_type: str
    reason: str
    queue: str
    exchange: str
    routing_key: str
    deaths: int
    headers: dict[str, Any] = field(repr=False)
    body: bytes = field(repr=False)


def _broker(broker_url: str | None) -> Connection:
    return current_app.connection_for_write(broker_url or settings.CELERY_BROKER_URL)


def declare_topology(*, broker_url: str | None = None) -> None:
    """Declare every work queue with its exchange, and the dead-letter exchange and queue (idempotent)."""
    with _broker(broker_url) as connection:
        channel = connection.default_channel
        for queue in [*work_queues(), topology().dead_letter_queue]:
            queue(channel).declare()


def _dead_letter(message: Message) -> DeadLetter:
    headers: dict[str, Any] = dict(message.headers or {})
    deaths: list[dict[str, Any]] = list(headers.get("x-death") or [{}])
    first = deaths[0]
    routing_keys = first.get("routing-keys") or [""]
    return DeadLetter(
        id=str(headers.get("id") or message.properties.get("correlation_id") or ""),
        task=str(headers.get("task") or ""),
        event_type=str(headers.get("event_type") or ""),
        reason=str(first.get("reason") or ""),
        queue=str(first.get("queue") or ""),
        exchange=str(first.get("exchange") or ""),
        routing_key=str(routing_keys[0]),
        deaths=sum((int(death.get("count") or 1) for death in deaths), 0),
        headers=headers,
        body=message.body if isinstance(message.body, bytes) else str(message.body or "").encode(),
    )


@contextmanager
def _taken(limit: int, broker_url: str | None) -> Iterator[tuple[Connection, list[tuple[Message, DeadLetter]]]]:
    """Up to `limit` dead messages, unacknowledged; whatever is not acked is requeued when the block ends."""
    plan = topology()
    with _broker(broker_url) as connection:
        channel = connection.channel()
        queue: Queue = plan.dead_letter_queue(channel)
        queue.declare()
        taken: list[tuple[Message, DeadLetter]] = []
        try:
            while len(taken) < limit:
                message = queue.get(no_ack=False)
                if message is None:
                    break
                taken.append((message, _dead_letter(message)))
            yield connection, taken
        finally:
            channel.close()  # type: ignore[attr-defined]  # unacknowledged messages go back to the queue


def dead_letters(*, limit: int = 1000, broker_url: str | None = None) -> list[DeadLetter]:
    """The messages in the dead-letter queue (oldest first), left in place."""
    with _taken(limit, broker_url) as (_, taken):
        return [letter for _, letter in taken]


def replay_dead_letters(
    ids: set[str] | None = None, *, limit: int = 10_000, broker_url: str | None = None
) -> list[DeadLetter]:
    """Republish the dead messages whose id is in `ids` (all when None) to where they were first sent."""
    replayed: list[DeadLetter] = []
    with _taken(limit, broker_url) as (connection, taken):
        producer = connection.Producer(auto_declare=False)
        for message, letter in taken:
            if ids is not None and letter.id not in ids:
                continue
            headers = {name: value for name, value in letter.headers.items() if name not in _DEATH_HEADERS}
            if "retries" in headers:
                headers["retries"] = 0
            properties: dict[str, Any] = {
                name: message.properties[name] for name in _KEPT_PROPERTIES if name in message.properties
            }
            producer.publish(
                letter.body,
                exchange=letter.exchange,
                routing_key=letter.routing_key,
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                retry=False,
                **properties,
            )
            message.ack()
            replayed.append(letter)
    return replayed


def purge_dead_letters(*, broker_url: str | None = None) -> int:
    """Drop every message of the dead-letter queue; how many were dropped."""
    plan = topology()
    with _broker(broker_url) as connection:
        queue = plan.dead_letter_queue(connection.default_channel)
        queue.declare()
        return int(queue.purge() or 0)


def replay_dead_rows(ids: set[uuid.UUID] | None = None, *, using: str = DEFAULT_DB_ALIAS) -> list[uuid.UUID]:
    """Make dead outbox rows pending again (all when `ids` is None), with a fresh attempt budget."""
    rows = OutboxEvent.objects.using(using).filter(status=OutboxStatus.DEAD)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    replayed = list(rows.values_list("pk", flat=True))
    rows.filter(pk__in=replayed).update(
        status=OutboxStatus.PENDING, attempts=0, available_at=timezone.now(), last_error=""
    )
    return replayed
