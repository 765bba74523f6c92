"""Set-based soft delete with cascade, and restore by delete batch.

A soft delete stamps `deleted_at`, `deleted_by` and one fresh `delete_batch` id on
the rows with one UPDATE per model, then follows the model's reverse relations:

- `CASCADE` to a soft-deletable model: its alive rows pointing at the rows just
  deleted are soft-deleted too, under the same batch id (recursively);
- `PROTECT` / `RESTRICT`: any alive row pointing at them stops the whole delete with
  Django's `ProtectedError` / `RestrictedError`, before anything is written;
- anything else (`SET_NULL`, a non-soft-deletable child, ...): left alone, since the
  row still exists; a hard delete applies those rules for real.

A restore brings back every row of the given batches, in every model the cascade can
reach, so exactly what one delete removed comes back. Both run in one transaction
and record one audit event per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models.deletion import CASCADE, PROTECT, RESTRICT, ProtectedError, RestrictedError
from django.utils import timezone

from apps.core.audit import AuditRecord, is_audited, record
from apps.core.errors import Conflict
from apps.core.models.audit import AuditAction
from apps.core.uuid7 import uuid7

__all__ = ["cascade_models", "is_soft_deletable", "restore_batches", "soft_delete"]

_PROTECTED_SHOWN = 10


def is_soft_deletable(model: type[models.Model]) -> bool:
    return bool(getattr(model, "soft_deletable", False))


def _reverse_relations(model: type[models.Model]) -> Iterator[models.ForeignObjectRel]:
    for relation in model._meta.related_objects:
        if isinstance(relation, models.ManyToOneRel) and relation.on_delete is not None:
            yield relation


def _tenant_field(model: type[models.Model]) -> list[str]:
    return ["tenant_id"] if hasattr(model, "tenant_id") else []


def _alive(model: type[models.Model], using: str) -> models.QuerySet[Any]:
    manager = model._base_manager.db_manager(using)
    queryset = manager.all()
    return queryset.filter(deleted_at__isnull=True) if is_soft_deletable(model) else queryset


def _check_protected(model: type[models.Model], rows: models.QuerySet[Any], using: str) -> None:
    for relation in _reverse_relations(model):
        if relation.on_delete not in (PROTECT, RESTRICT):
            continue
        related = relation.related_model
        assert isinstance(related, type)
        blockers = list(_alive(related, using).filter(**{f"{relation.field.name}__in": rows})[:_PROTECTED_SHOWN])
        if blockers:
            message = (
                f"Cannot delete some {model._meta.verbose_name_plural}: they are referenced by "
                f"{related._meta.verbose_name_plural} through a protected foreign key ({relation.field.name})."
            )
            error = ProtectedError if relation.on_delete is PROTECT else RestrictedError
            raise error(message, set(blockers))


def _stamp_batch(
    queryset: models.QuerySet[Any],
    *,
    batch: uuid.UUID,
    now: Any,
    actor: str,
    counts: dict[str, int],
    audited: dict[str, set[Any]],
) -> None:
    model = queryset.model
    using = queryset.db
    _check_protected(model, queryset, using)
    deleted = models.QuerySet.update(queryset, deleted_at=now, deleted_by=actor, delete_batch=batch)
    if not deleted:
        return
    counts[model._meta.label] = counts.get(model._meta.label, 0) + deleted
    in_batch = model._base_manager.db_manager(using).filter(delete_batch=batch)
    if is_audited(model):
        # A self-referential cascade visits a model again: record only the rows new to the batch.
        seen = audited.setdefault(model._meta.label, set())
        rows = [row for row in in_batch.values_list("pk", *_tenant_field(model)) if row[0] not in seen]
        seen.update(row[0] for row in rows)
        changes = {"deleted_at": [None, now], "deleted_by": ["", actor], "delete_batch": [None, batch]}
        records = [AuditRecord(row[0], changes, row[1] if len(row) > 1 else None) for row in rows]
        record(model, AuditAction.SOFT_DELETE, records, occurred_at=now, using=using, batch=batch)
    for relation in _reverse_relations(model):
        child = relation.related_model
        if relation.on_delete is CASCADE and isinstance(child, type) and is_soft_deletable(child):
            children = _alive(child, using).filter(**{f"{relation.field.name}__in": in_batch.values("pk")})
            _stamp_batch(children, batch=batch, now=now, actor=actor, counts=counts, audited=audited)


def soft_delete(queryset: models.QuerySet[Any], *, actor: str) -> dict[str, int]:
    """Soft-delete the (alive) rows of `queryset` and their cascade; counts per model label."""
    counts: dict[str, int] = {}
    now = timezone.now()
    with transaction.atomic(using=queryset.db):
        if _tenant_field(queryset.model):
            # One batch per tenant: restoring one tenant's batch must never bring back another's rows.
            tenants = list(queryset.order_by().values_list("tenant_id", flat=True).distinct())
            for tenant in tenants:
                part = queryset.filter(tenant_id=tenant)
                _stamp_batch(part, batch=uuid7(), now=now, actor=actor, counts=counts, audited={})
        else:
            _stamp_batch(queryset, batch=uuid7(), now=now, actor=actor, counts=counts, audited={})
    return counts


@cache
def cascade_models(model: type[models.Model]) -> tuple[type[models.Model], ...]:
    """Every soft-deletable model a soft-delete cascade can connect to `model`, parents and children."""
    seen: list[type[models.Model]] = []
    pending = [model]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)
        for relation in _reverse_relations(current):
            child = relation.related_model
            if relation.on_delete is CASCADE and isinstance(child, type) and is_soft_deletable(child):
                pending.append(child)
        for field in current._meta.concrete_fields:
            parent = field.related_model
            if (
                isinstance(field, models.ForeignKey)
                and field.remote_field.on_delete is CASCADE
                and isinstance(parent, type)
                and is_soft_deletable(parent)
            ):
                pending.append(parent)
    return tuple(seen)


def restore_batches(deleted: models.QuerySet[Any]) -> dict[str, int]:
    """Restore every row deleted in the batches of the rows in `deleted`; counts per model label."""
    using = deleted.db
    counts: dict[str, int] = {}
    now = timezone.now()
    with transaction.atomic(using=using):
        batches = set(deleted.exclude(delete_batch=None).values_list("delete_batch", flat=True))
        if not batches:
            return counts
        for model in cascade_models(deleted.model):  # type: ignore[arg-type]  # model classes are hashable
            rows = model._base_manager.db_manager(using).filter(delete_batch__in=batches, deleted_at__isnull=False)
            if is_audited(model):
                fields = ["pk", "deleted_at", "deleted_by", "delete_batch"]
                tenant = _tenant_field(model)
                snapshot = list(rows.values_list(*fields, *tenant))
            try:
                with transaction.atomic(using=using):
                    restored = models.QuerySet.update(rows, deleted_at=None, deleted_by="", delete_batch=None)
            except IntegrityError:
                raise Conflict(
                    f"Cannot restore these {model._meta.verbose_name_plural}: a live row now holds "
                    "one of their unique values. Rename or delete that row first."
                ) from None
            if restored:
                counts[model._meta.label] = restored
            if is_audited(model) and snapshot:
                records = [
                    AuditRecord(
                        row[0],
                        {"deleted_at": [row[1], None], "deleted_by": [row[2], ""], "delete_batch": [row[3], None]},
                        row[4] if tenant else None,
                    )
                    for row in snapshot
                ]
                record(model, AuditAction.RESTORE, records, occurred_at=now, using=using)
    return counts
