"""Set-based soft delete with cascade, and restore of what a delete removed.

A soft delete stamps `deleted_at`, `deleted_by` and one fresh `delete_batch` id on
the rows with one UPDATE per model, then follows the model's reverse relations:

- `CASCADE` to a soft-deletable model: its alive rows pointing at the rows just
  deleted are soft-deleted too, under the same batch id (recursively);
- `PROTECT` / `RESTRICT`: any alive row pointing at them stops the whole delete with
  Django's `ProtectedError` / `RestrictedError`, before anything is written;
- anything else (`SET_NULL`, a non-soft-deletable child, ...): left alone, since the
  row still exists; a hard delete applies those rules for real.

A batch never spans tenants: rows of a tenant-owned model (its own `tenant_id`, or its
parent's, see `apps.core.tenant_ownership`) get one batch per tenant.

A restore brings back the given deleted rows and, recursively through the same CASCADE
relations, the children whose `delete_batch` equals their parent's: what *their own*
delete cascaded, not other rows that happened to be deleted in the same call (one UPDATE
per model, the children selected by a join on the parent's batch). `whole_batches=True`
brings back every row of the rows' batches instead. `restore_plan()` says which rows a
restore brings back without writing; the admin's confirmation page lists exactly that.
Both run in one transaction and record one audit event per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Count, Exists, F, OuterRef
from django.db.models.deletion import CASCADE, PROTECT, RESTRICT, ProtectedError, RestrictedError
from django.utils import timezone

from apps.core.audit import AuditRecord, is_audited, record
from apps.core.errors import Conflict
from apps.core.models.audit import AuditAction
from apps.core.models.features import is_soft_deletable
from apps.core.row_locks import locked_rows
from apps.core.tenant_ownership import TENANT_FIELD, has_tenant_column, tenant_lookup
from apps.core.uuid7 import uuid7

__all__ = ["RestoreStep", "cascade_models", "is_soft_deletable", "restore", "restore_plan", "soft_delete"]

_PROTECTED_SHOWN = 10
_DELETION_STATE = ("deleted_at", "deleted_by", "delete_batch")


def _reverse_relations(model: type[models.Model]) -> Iterator[models.ForeignObjectRel]:
    for relation in model._meta.related_objects:
        if isinstance(relation, models.ManyToOneRel) and relation.on_delete is not None:
            yield relation


def _cascade_children(model: type[models.Model]) -> Iterator[tuple[str, type[models.Model]]]:
    """(foreign key name, child model) of every CASCADE relation to a soft-deletable model."""
    for relation in _reverse_relations(model):
        child = relation.related_model
        if relation.on_delete is CASCADE and isinstance(child, type) and is_soft_deletable(child):
            yield relation.field.name, child


def _tenant_columns(model: type[models.Model]) -> list[str]:
    """The direct tenant column for the audit event's `tenant_id`, when the model has one."""
    return [TENANT_FIELD] if has_tenant_column(model) else []


def _rows(model: type[models.Model], using: str) -> models.QuerySet[Any]:
    return model._base_manager.db_manager(using).all()


def _alive(model: type[models.Model], using: str) -> models.QuerySet[Any]:
    queryset = _rows(model, using)
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
    in_batch = _rows(model, using).filter(delete_batch=batch)
    if is_audited(model):
        # A self-referential cascade visits a model again: record only the rows new to the batch.
        seen = audited.setdefault(model._meta.label, set())
        rows = [row for row in in_batch.values_list("pk", *_tenant_columns(model)) if row[0] not in seen]
        seen.update(row[0] for row in rows)
        changes = {"deleted_at": [None, now], "deleted_by": ["", actor], "delete_batch": [None, batch]}
        records = [AuditRecord(row[0], changes, row[1] if len(row) > 1 else None) for row in rows]
        record(model, AuditAction.SOFT_DELETE, records, occurred_at=now, using=using, batch=batch)
    for foreign_key, child in _cascade_children(model):
        children = _alive(child, using).filter(**{f"{foreign_key}__in": in_batch.values("pk")})
        _stamp_batch(children, batch=batch, now=now, actor=actor, counts=counts, audited=audited)


def soft_delete(queryset: models.QuerySet[Any], *, actor: str) -> dict[str, int]:
    """Soft-delete the rows of `queryset` (the caller passes alive rows) and their cascade; counts per model label."""
    counts: dict[str, int] = {}
    now = timezone.now()
    lookup = tenant_lookup(queryset.model)
    with transaction.atomic(using=queryset.db):
        if lookup is None:
            _stamp_batch(queryset, batch=uuid7(), now=now, actor=actor, counts=counts, audited={})
            return counts
        # One batch per tenant: restoring one tenant's batch must never bring back another's rows.
        for tenant in queryset.order_by().values_list(lookup, flat=True).distinct():
            part = queryset.filter(**{lookup: tenant})
            _stamp_batch(part, batch=uuid7(), now=now, actor=actor, counts=counts, audited={})
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
        pending.extend(child for _foreign_key, child in _cascade_children(current))
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


@dataclass(frozen=True)
class RestoreStep:
    """Deleted rows of one model that a restore brings back, as a query over the rows before it runs."""

    model: type[models.Model]
    rows: models.QuerySet[Any]


def restore_plan(deleted: models.QuerySet[Any], *, whole_batches: bool = False) -> list[RestoreStep]:
    """What restoring the deleted rows of `deleted` brings back, parents before children; writes nothing."""
    deleted = deleted.filter(deleted_at__isnull=False)
    using = deleted.db
    if whole_batches:
        return _whole_batch_plan(deleted)
    steps: list[RestoreStep] = []
    pending = [RestoreStep(deleted.model, deleted)]
    while pending:
        step = pending.pop(0)
        if not step.rows.exists():
            continue
        steps.append(step)
        for foreign_key, child in _cascade_children(step.model):
            children = _rows(child, using).filter(
                deleted_at__isnull=False,
                delete_batch=F(f"{foreign_key}__delete_batch"),  # deleted by the same call as its parent
                **{f"{foreign_key}__in": step.rows.values("pk")},
            )
            for earlier in steps:  # a cycle of rows (a self-referential tree gone wrong) ends here
                if earlier.model is child:
                    children = children.exclude(pk__in=earlier.rows.values("pk"))
            pending.append(RestoreStep(child, children))
    return steps


def _whole_batch_plan(deleted: models.QuerySet[Any]) -> list[RestoreStep]:
    # Read once: the first UPDATE clears `delete_batch`, a subquery over it would then find nothing.
    batches = set(deleted.exclude(delete_batch=None).values_list("delete_batch", flat=True))
    if not batches:
        return []
    root_lookup = tenant_lookup(deleted.model)
    tenants = set(deleted.values_list(root_lookup, flat=True)) if root_lookup else set()
    steps = []
    for model in cascade_models(deleted.model):  # type: ignore[arg-type]  # model classes are hashable
        rows = _rows(model, deleted.db).filter(delete_batch__in=batches, deleted_at__isnull=False)
        lookup = tenant_lookup(model)
        if root_lookup and lookup:
            # Batches are per tenant; older ones may not be: never reach another tenant's rows.
            rows = rows.filter(**{f"{lookup}__in": tenants})
        steps.append(RestoreStep(model, rows))
    return steps


def restore(deleted: models.QuerySet[Any], *, whole_batches: bool = False) -> dict[str, int]:
    """Restore what `restore_plan()` lists, all or nothing; counts per model label."""
    using = deleted.db
    counts: dict[str, int] = {}
    now = timezone.now()
    with transaction.atomic(using=using):
        # Children first: a child's rows are chosen by its parent's batch, which the parent's UPDATE clears.
        for step in reversed(restore_plan(deleted, whole_batches=whole_batches)):
            model, rows = step.model, step.rows
            tenant = _tenant_columns(model)
            snapshot: dict[Any, tuple[Any, ...]] = {}
            if is_audited(model):
                # Locked, so a concurrent restore of the same rows waits and then finds them restored:
                # one audit event per row that really came back.
                snapshot = locked_rows(rows, *_DELETION_STATE, *tenant)
            try:
                with transaction.atomic(using=using):
                    restored = models.QuerySet.update(rows, deleted_at=None, deleted_by="", delete_batch=None)
            except IntegrityError:
                raise _restore_conflict(step) from None
            if restored:
                counts[model._meta.label] = counts.get(model._meta.label, 0) + restored
            records = [
                AuditRecord(
                    pk,
                    {"deleted_at": [row[0], None], "deleted_by": [row[1], ""], "delete_batch": [row[2], None]},
                    row[3] if tenant else None,
                )
                for pk, row in snapshot.items()
            ]
            record(model, AuditAction.RESTORE, records, occurred_at=now, using=using)
    return counts


def _alive_unique_constraints(model: type[models.Model]) -> Iterator[list[str]]:
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.condition is not None and constraint.fields:
            yield [str(getattr(model._meta.get_field(name), "attname", name)) for name in constraint.fields]


def _restore_conflict(step: RestoreStep) -> Conflict:
    """Which row of `step` a restore cannot bring back, and the value a live row already holds."""
    model, opts = step.model, step.model._meta
    for fields in _alive_unique_constraints(model):
        holders = _alive(model, step.rows.db).filter(**{name: OuterRef(name) for name in fields})
        clash = step.rows.filter(Exists(holders)).order_by("pk").values("pk", *fields).first()
        if clash is not None:
            values = ", ".join(f"{name}={str(clash[name])!r}" for name in fields)
            return Conflict(
                f"Cannot restore {opts.verbose_name} {clash['pk']}: a live {opts.verbose_name} already holds "
                f"{values}. Rename or delete that row first; nothing was restored."
            )
        shared = step.rows.order_by().values(*fields).annotate(rows=Count("pk")).filter(rows__gt=1)
        twins = shared.order_by(*fields).first()
        if twins is not None:
            values = ", ".join(f"{name}={str(twins[name])!r}" for name in fields)
            return Conflict(
                f"Cannot restore these {opts.verbose_name_plural}: {twins['rows']} of them hold {values}, "
                "which only one live row may hold. Restore them one at a time; nothing was restored."
            )
    return Conflict(
        f"Cannot restore these {opts.verbose_name_plural}: a live row now holds one of their unique values. "
        "Rename or delete that row first; nothing was restored."
    )
