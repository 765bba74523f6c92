"""Querysets and managers that know the rules of the core mixins.

- Every write path stamps the audit columns from `apps.core.context` and records
  audit events in the same transaction: `update()`, `bulk_create()`, `bulk_update()`.
- Soft-deletable models get three managers: `objects` (alive rows only; the default
  manager, so reverse-FK and M2M related managers and `prefetch_related` hide deleted
  rows), `all_objects` and `deleted_objects`; the base manager stays unfiltered so a
  forward FK to a deleted row and saving a deleted row still work.
- `delete()` on a queryset soft-deletes set-based (see `apps.core.soft_delete`);
  `hard_delete()` removes rows for real; `restore()` brings back whole delete batches.
- `for_tenant()` / `for_current_tenant()` scope by tenant and fail closed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar

from django.db import models, transaction
from django.utils import timezone

from apps.core import soft_delete
from apps.core.audit import AuditRecord, changed_fields, is_audited, record
from apps.core.context import current_actor, current_tenant
from apps.core.models.audit import AuditAction

if TYPE_CHECKING:
    from django.db.models.lookups import Lookup

__all__ = ["AliveManager", "CoreManager", "CoreQuerySet", "DeletedManager", "SoftDeleteQuerySet"]

_M = TypeVar("_M", bound=models.Model)
_CHUNK = 1000
_VISIBILITY_TAG = "_soft_delete_visibility"


def has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist
        return False
    return True


def _creation_snapshot(obj: models.Model) -> dict[str, list[Any]]:
    return changed_fields({}, {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields})


def _attname(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    return str(getattr(field, "attname", name))


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CoreQuerySet(models.QuerySet[_M]):
    """Stamps audit columns and records audit events on the bulk write paths."""

    def for_tenant(self, tenant_id: uuid.UUID | str | None) -> Self:
        """Rows of `tenant_id`; no rows at all when it is `None` (fail closed)."""
        if not has_field(self.model, "tenant_id"):
            return self
        if tenant_id is None:
            return self.none()
        return self.filter(tenant_id=uuid.UUID(str(tenant_id)))

    def for_current_tenant(self) -> Self:
        return self.for_tenant(current_tenant())

    def _update_stamps(self, given: dict[str, Any]) -> dict[str, Any]:
        stamps: dict[str, Any] = {}
        if has_field(self.model, "updated_at") and "updated_at" not in given:
            stamps["updated_at"] = timezone.now()
        if has_field(self.model, "updated_by") and "updated_by" not in given:
            stamps["updated_by"] = current_actor() or ""
        return stamps

    def update(self, **kwargs: Any) -> int:
        values = {**kwargs, **self._update_stamps(kwargs)}
        if not is_audited(self.model):
            return super().update(**values)
        fields = [name for name in kwargs if has_field(self.model, name)]
        attnames = [_attname(self.model, name) for name in fields]
        tenant = ["tenant_id"] if has_field(self.model, "tenant_id") else []
        with transaction.atomic(using=self.db):
            # Lock and read the rows first: the diff is exact and the set updated is the set read.
            before = {row[0]: row[1:] for row in self.select_for_update().values_list("pk", *attnames, *tenant)}
            pks = list(before)
            base = self.model._base_manager.using(self.db)
            updated = sum(models.QuerySet.update(base.filter(pk__in=chunk), **values) for chunk in _chunks(pks))
            after: dict[Any, tuple[Any, ...]] = {}
            for chunk in _chunks(pks):
                after.update({row[0]: row[1:] for row in base.filter(pk__in=chunk).values_list("pk", *attnames)})
            records = []
            for pk in pks:
                diff = changed_fields(
                    dict(zip(attnames, before[pk], strict=False)), dict(zip(attnames, after[pk], strict=True))
                )
                if diff:
                    records.append(AuditRecord(pk, diff, before[pk][-1] if tenant else None))
            record(
                self.model,
                AuditAction.UPDATE,
                records,
                occurred_at=values.get("updated_at", timezone.now()),
                using=self.db,
            )
        return updated

    def bulk_create(self, objs: Iterable[_M], *args: Any, **kwargs: Any) -> list[_M]:
        objs = list(objs)
        for obj in objs:
            stamp_for_create = getattr(obj, "stamp_for_create", None)
            if stamp_for_create is not None:
                stamp_for_create()
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            if is_audited(self.model) and not kwargs.get("update_conflicts") and not kwargs.get("ignore_conflicts"):
                records = [
                    AuditRecord(obj.pk, _creation_snapshot(obj), getattr(obj, "tenant_id", None)) for obj in created
                ]
                record(self.model, AuditAction.CREATE, records, occurred_at=timezone.now(), using=self.db)
        return created

    def bulk_update(self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None) -> int:
        objs = list(objs)
        fields = list(fields)
        stamps = self._update_stamps(dict.fromkeys(fields))
        for obj in objs:
            for name, value in stamps.items():
                setattr(obj, name, value)
        all_fields = [*fields, *stamps]
        # Django's bulk_update runs CASE/WHEN updates; they go through the plain update, audited here as a whole.
        plain: models.QuerySet[_M] = models.QuerySet(self.model, query=self.query.chain(), using=self.db)
        if not is_audited(self.model):
            return plain.bulk_update(objs, all_fields, batch_size=batch_size)
        attnames = [_attname(self.model, name) for name in fields]
        with transaction.atomic(using=self.db):
            before: dict[Any, tuple[Any, ...]] = {}
            for chunk in _chunks([obj.pk for obj in objs]):
                # The rows the update will reach (`plain` keeps this queryset's filters: alive rows only).
                rows = plain.filter(pk__in=chunk).select_for_update().values_list("pk", *attnames)
                before.update({row[0]: row[1:] for row in rows})
            updated = plain.bulk_update(objs, all_fields, batch_size=batch_size)
            records = []
            for obj in objs:
                if obj.pk not in before:
                    continue
                after = {name: getattr(obj, name) for name in attnames}
                diff = changed_fields(dict(zip(attnames, before[obj.pk], strict=True)), after)
                if diff:
                    records.append(AuditRecord(obj.pk, diff, getattr(obj, "tenant_id", None)))
            record(self.model, AuditAction.UPDATE, records, occurred_at=timezone.now(), using=self.db)
        return updated


class SoftDeleteQuerySet(CoreQuerySet[_M]):
    """Alive/deleted visibility, set-based soft delete, batch restore, hard delete."""

    def _mark_visibility(self) -> Self:
        lookup: Lookup[Any] = self.query.where.children[-1]  # type: ignore[assignment]
        setattr(lookup, _VISIBILITY_TAG, True)
        return self

    def with_deleted(self) -> Self:
        """The same query without the alive/deleted restriction its manager applied."""
        clone = self.all()
        children = clone.query.where.children
        clone.query.where.children = [c for c in children if not getattr(c, _VISIBILITY_TAG, False)]
        return clone

    def alive(self) -> Self:
        return self.with_deleted().filter(deleted_at__isnull=True)._mark_visibility()

    def deleted(self) -> Self:
        return self.with_deleted().filter(deleted_at__isnull=False)._mark_visibility()

    def delete(self) -> tuple[int, dict[str, int]]:
        """Soft-delete the alive rows here and, under one batch id, their soft-deletable children."""
        counts = soft_delete.soft_delete(self.alive(), actor=current_actor() or "")
        return sum(counts.values()), counts

    def restore(self) -> dict[str, int]:
        """Bring back every row deleted in the same batches as the deleted rows here."""
        return soft_delete.restore_batches(self.deleted())

    def hard_delete(self) -> tuple[int, dict[str, int]]:
        """Delete for real (Django's collector: CASCADE, PROTECT, signals); audited per row."""
        return models.QuerySet.delete(self.with_deleted())


class CoreManager(models.Manager[_M]):
    """The manager of models without soft delete; bulk paths stamp and audit."""

    # Read by get_queryset(), so `CoreManager.from_queryset(MyQuerySet)` really uses MyQuerySet.
    _queryset_class = CoreQuerySet

    def get_queryset(self) -> CoreQuerySet[_M]:
        queryset: CoreQuerySet[_M] = self._queryset_class(model=self.model, using=self._db)
        return queryset


class _SoftDeleteManagerBase(models.Manager[_M]):
    _queryset_class = SoftDeleteQuerySet  # as in CoreManager: from_queryset() must be honoured

    def get_queryset(self) -> SoftDeleteQuerySet[_M]:
        queryset: SoftDeleteQuerySet[_M] = self._queryset_class(model=self.model, using=self._db)
        return queryset

    def with_deleted(self) -> SoftDeleteQuerySet[_M]:
        return self.get_queryset().with_deleted()

    def alive(self) -> SoftDeleteQuerySet[_M]:
        return self.get_queryset().alive()

    def deleted(self) -> SoftDeleteQuerySet[_M]:
        return self.get_queryset().deleted()

    def for_tenant(self, tenant_id: uuid.UUID | str | None) -> SoftDeleteQuerySet[_M]:
        return self.get_queryset().for_tenant(tenant_id)

    def for_current_tenant(self) -> SoftDeleteQuerySet[_M]:
        return self.get_queryset().for_current_tenant()

    def restore(self) -> dict[str, int]:
        return self.get_queryset().restore()

    def hard_delete(self) -> tuple[int, dict[str, int]]:
        return self.get_queryset().hard_delete()


class AliveManager(_SoftDeleteManagerBase[_M]):
    """`objects`: rows that are not soft-deleted. Used for related managers too."""

    use_in_migrations = False

    def get_queryset(self) -> SoftDeleteQuerySet[_M]:
        return super().get_queryset().alive()


class AllObjectsManager(_SoftDeleteManagerBase[_M]):
    """`all_objects`: alive and deleted rows."""


class DeletedManager(_SoftDeleteManagerBase[_M]):
    """`deleted_objects`: soft-deleted rows only."""

    def get_queryset(self) -> SoftDeleteQuerySet[_M]:
        return super().get_queryset().deleted()
