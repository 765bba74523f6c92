"""The events the models declare (`apps.core.side_effects`), written to the outbox in the change's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

from apps.core.context import in_tenant
from apps.core.side_effects import DeclaredEvent
from apps.events.event import Event
from apps.events.outbox import publish

__all__ = ["publish_declared"]


def publish_declared(events: Sequence[DeclaredEvent], *, using: str) -> list[Event]:
    """`publish()` the events of one change, each in the tenant of its row (an admin edit has no tenant in context).

    One call per change, so a batch publish can replace the loop without touching the core.
    """
    published = []
    for event in events:
        with in_tenant(event.tenant_id) if event.tenant_id is not None else nullcontext():
            published.append(
                publish(
                    event.type,
                    aggregate=event.aggregate,
                    aggregate_id=event.aggregate_id,
                    payload=event.payload,
                    using=using,
                )
            )
    return published
