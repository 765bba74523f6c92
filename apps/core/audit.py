"""Recording audit events for changes made through the core models and querysets.

Every write path of `apps.core` (save, queryset update, bulk create/update, soft
delete, restore, hard delete) calls `record()` inside the same transaction as the
change, so the log and the data commit or roll back together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models

from apps.core.context import current_actor, current_request_id
from apps.core.models.audit import AuditAction, AuditEvent

__all__ = ["AuditRecord", "changed_fields", "is_audited", "record"]

_BATCH_SIZE = 2000
# Fields every write touches; listing them in each diff would bury the real change.
_NOISE = frozenset({"updated_at", "updated_by"})


@dataclass(frozen=True)
class AuditRecord:
    pk: Any
    changes: Mapping[str, list[Any]]
    tenant_id: uuid.UUID | None = None


def is_audited(model: type[models.Model]) -> bool:
    return bool(getattr(model, "audit_changes", False))


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """`{field: [old, new]}` for every field whose value differs, ignoring the update stamps."""
    return {
        name: [before.get(name), value]
        for name, value in after.items()
        if name not in _NOISE and before.get(name) != value
    }


def record(
    model: type[models.Model],
    action: AuditAction,
    records: Iterable[AuditRecord],
    *,
    occurred_at: Any,
    using: str = "default",
    batch: uuid.UUID | None = None,
) -> int:
    """Append one event per record; returns how many were written."""
    if not is_audited(model):
        return 0
    actor = current_actor() or ""
    request_id = current_request_id() or ""
    label = model._meta.label_lower
    events = [
        AuditEvent(
            occurred_at=occurred_at,
            actor=actor,
            action=action,
            model_label=label,
            object_pk=str(item.pk),
            tenant_id=item.tenant_id,
            request_id=request_id,
            batch=batch,
            changes=dict(item.changes),
        )
        for item in records
    ]
    AuditEvent.objects.using(using).bulk_create(events, batch_size=_BATCH_SIZE)
    return len(events)
