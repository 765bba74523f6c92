"""The RabbitMQ topology: work queues that dead-letter to one exchange, and the queue bound to it.

    work queue (x-dead-letter-exchange=DLX) --reject(requeue=False)--> DLX --> dead-letter queue

A message a task rejects (its final failure) keeps its body and headers; RabbitMQ adds
`x-death` (original queue, exchange, routing keys, reason, count). Names come from
Django settings at call time, so tests can use names of their own per run.

`EVENTS_QUEUE_TYPE` chooses the kind of every queue here (docs/events.md#queue-types):

- `classic` (the default): one node's queues on direct exchanges.
- `quorum`: Raft-replicated queues, for a RabbitMQ cluster (one node works too). Their
  dead-lettering is at-least-once (`x-dead-letter-strategy`, which needs `x-overflow:
  reject-publish`: a full queue refuses a publish, which the confirming relay sees, instead of
  dropping its head). Their exchanges are topic exchanges: Celery delays a retry's countdown
  on a quorum queue through RabbitMQ itself (kombu's native delayed delivery), which routes the
  delayed message back by a `#.<queue>` binding a direct exchange cannot match.

A queue's kind cannot change once declared (RabbitMQ refuses a redeclaration with other
arguments): switching is a migration (docs/events.md#queue-types). Celery's
`task_queues` are `work_queues()`, loaded when Celery first reads its configuration
(project/celery.py), possibly before the app registry is ready: this imports no models.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from kombu import Exchange, Queue

__all__ = ["Topology", "dead_lettered_queue", "topology", "work_queues"]


def _quorum() -> bool:
    return str(settings.EVENTS_QUEUE_TYPE) == "quorum"


def _kind_arguments() -> dict[str, str]:
    return {"x-queue-type": "quorum"} if _quorum() else {}


def _exchange(name: str) -> Exchange:
    return Exchange(name, type="topic" if _quorum() else "direct", durable=True)


def dead_lettered_queue(name: str, *, dead_letter_exchange: str, dead_letter_routing_key: str) -> Queue:
    """A durable work queue on its own exchange whose rejected messages go to the DLX."""
    arguments: dict[str, str] = {
        "x-dead-letter-exchange": dead_letter_exchange,
        "x-dead-letter-routing-key": dead_letter_routing_key,
        **_kind_arguments(),
    }
    if _quorum():
        arguments |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    return Queue(name, _exchange(name), routing_key=name, durable=True, queue_arguments=arguments)


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
    dead_letter_exchange = _exchange(exchange_name)
    return Topology(
        events_queue=dead_lettered_queue(
            str(settings.EVENTS_QUEUE), dead_letter_exchange=exchange_name, dead_letter_routing_key=queue_name
        ),
        dead_letter_exchange=dead_letter_exchange,
        dead_letter_queue=Queue(
            queue_name, dead_letter_exchange, routing_key=queue_name, durable=True, queue_arguments=_kind_arguments()
        ),
    )
