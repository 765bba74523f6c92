"""Domain events: a transactional outbox, a relay to RabbitMQ, idempotent consumers, dead letters.

    from apps.events import publish, handles

    with transaction.atomic():
        document = Document.objects.create(...)
        publish("document.created", aggregate="document", aggregate_id=document.pk,
                payload={"title": document.title})

    @handles("document.created")          # in <app>/event_handlers.py; any number per type
    def on_document_created(event: Event) -> None: ...

    @handles("document.*")                # every document event
    def on_any_document_event(event: Event) -> None: ...

A model's own events need no `publish()`: its declaration (`apps.core.side_effects`) emits them.

See docs/events.md for the guarantees, the failure modes and the dead-letter commands.
This package is importable before the app registry is ready (Celery loads `topology.work_queues`
when it first reads its configuration, see project/celery.py).
"""

from apps.events.errors import HandlerAlreadyRegistered, PermanentError, TransientError, UnknownEventType
from apps.events.event import Event, Payload
from apps.events.handlers import invalidate_tags_on
from apps.events.outbox import publish, publish_many
from apps.events.registry import handles

__all__ = [
    "Event",
    "HandlerAlreadyRegistered",
    "Payload",
    "PermanentError",
    "TransientError",
    "UnknownEventType",
    "handles",
    "invalidate_tags_on",
    "publish",
    "publish_many",
]
