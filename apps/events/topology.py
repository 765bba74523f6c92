"""The RabbitMQ topology: work queues that dead-letter to one exchange, and the queue bound to it.

    work queue (x-dead-letter-exchange=DLX) --reject(requeue=False)--> DLX --> dead-letter queue

A message a task rejects (its final failure) keeps its body and headers; RabbitMQ adds
`x-death` (original queue, exchange, routing keys, reason, count). Names come from
Django settings at call time, so tests can use names of their own per run. Celery's
`task_queues` are `work_queues()`, loaded when Celery first reads its configuration
(project/celery.py), possibly before the app registry is ready: this imports no models.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from kombu import Exchange, Queue

__all__ = ["Topology", "dead_lettered_queue", "topology", "work_queues"]


def dead_lettered_queue(name: str, *, dead_letter_exchange: str, dead_letter_routing_key: str) -> Queue:
    """A durable work queue on its own direct exchange whose rejected messages go to the DLX."""
    return Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": dead_letter_exchange,
            "x-dead-letter-routing-key": dead_letter_routing_key,
        },
    )


def work_queues() -> list[Queue]:
    """Celery's `task_queues`: the default task queue and `EVENTS_QUEUE`, each dead-lettering."""
    names = dict.fromkeys([str(settings.CELERY_TASK_DEFAULT_QUEUE), str(settings.EVENTS_QUEUE)])
    return [
        dead_lettered_queue(
            name,
            dead_letter_exchange=str(settings.EVENTS_DEAD_LETTER_EXCHANGE),
            dead_letter_routing_key=str(settings.EVENTS_DEAD_LETTER_QUEUE),
        )
        for name in names
    ]


@dataclass(frozen=True)
class Topology:
    events_queue: Queue
    dead_letter_exchange: Exchange
    dead_letter_queue: Queue

    @property
    def declarations(self) -> list[Queue]:
        """Declared with every publish, so a dead letter always has somewhere to go."""
        return [self.events_queue, self.dead_letter_queue]


def topology() -> Topology:
    """The event queues named by the current settings (`EVENTS_QUEUE`, `EVENTS_DEAD_LETTER_*`)."""
    exchange_name = str(settings.EVENTS_DEAD_LETTER_EXCHANGE)
    queue_name = str(settings.EVENTS_DEAD_LETTER_QUEUE)
    dead_letter_exchange = Exchange(exchange_name, type="direct", durable=True)
    return Topology(
        events_queue=dead_lettered_queue(
            str(settings.EVENTS_QUEUE), dead_letter_exchange=exchange_name, dead_letter_routing_key=queue_name
        ),
        dead_letter_exchange=dead_letter_exchange,
        dead_letter_queue=Queue(queue_name, dead_letter_exchange, routing_key=queue_name, durable=True),
    )
