"""The events the models declare (`apps.core.side_effects`), written to the outbox in the change's transaction."""

from __future__ import annotations

from contextlib import nullcontext

from apps.core.context import in_tenant
from apps.core.side_effects import DeclaredEvent
from apps.events.event import Event
from apps.events.outbox import publish

__all__ = ["publish_declared"]


def publish_declared(event: DeclaredEvent, *, using: str) -> Event:
    """`publish()` a declared event, in the tenant of the row it is about (an admin edit has no tenant in context)."""
    scope = in_tenant(event.tenant_id) if event.tenant_id is not None else nullcontext()
    with scope:
        return publish(
            event.type, aggregate=event.aggregate, aggregate_id=event.aggregate_id, payload=event.payload, using=using
        )
