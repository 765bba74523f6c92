"""Abstract model mixins, freely combinable on one model.

    class Invoice(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin, TenantMixin):
        number = models.CharField(max_length=32)

        class Meta:
            constraints = [unique_for_alive_rows("tenant_id", "number", name="invoice_number_unique")]

All of them share `CoreModel`, whose one `save()` applies the rules of whichever
mixins the model has: stamps from `apps.core.context`, `created_*` frozen after
creation, deletion state changed only by `delete()` / `restore()`, tenant fixed at
creation, and an audit event written in the same transaction (models with
`AuditColumnsMixin`).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import AuditRecord, changed_fields, record
from apps.core.context import current_actor, current_tenant
from apps.core.models.audit import AuditAction
from apps.core.querysets import AliveManager, AllObjectsManager, CoreManager, DeletedManager
from apps.core.uuid7 import uuid7

__all__ = [
    "AuditColumnsMixin",
    "CoreModel",
    "IntegerPKMixin",
    "SoftDeleteMixin",
    "TenantMixin",
    "TimestampMixin",
    "UUIDPKMixin",
    "UUIDv7PKMixin",
    "unique_for_alive_rows",
]

# Only delete()/restore() change these, and nothing changes the creation stamps or tenant.
_FROZEN_ON_SAVE = frozenset({"created_at", "created_by", "deleted_at", "deleted_by", "delete_batch", "tenant_id"})


class CoreModel(models.Model):
    """The shared base of the mixins: one `save()` that honours all of them."""

    audit_changes: ClassVar[bool] = False
    soft_deletable: ClassVar[bool] = False

    objects = CoreManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        adding = self._state.adding
        if adding:
            self.stamp_for_create()
        else:
            kwargs["update_fields"] = self._update_fields_for_save(kwargs.get("update_fields"))
        using = kwargs.get("using") or self._state.db or "default"
        with transaction.atomic(using=using):
            if adding:
                before: dict[str, Any] = {}
            elif self.audit_changes:
                # The diff's "before" is what the row holds now, read under its lock: a stale
                # instance (or a concurrent save) cannot make two events claim the same old value.
                before = self._locked_row_values(using)
            else:
                before = getattr(self, "_loaded_values", {})
            super().save(*args, **kwargs)
            after = self._field_values()
            if not adding:
                written = {
                    str(getattr(self._meta.get_field(name), "attname", name)) for name in kwargs["update_fields"]
                }
                # What the UPDATE did not write is what the row holds: keep the instance truthful.
                for attname in after.keys() - written:
                    if attname in before and before[attname] != after[attname]:
                        setattr(self, attname, before[attname])
                        after[attname] = before[attname]
            if self.audit_changes:
                changes = changed_fields(type(self), before, after)
                if adding or changes:
                    action = AuditAction.CREATE if adding else AuditAction.UPDATE
                    item = AuditRecord(self.pk, changes, getattr(self, "tenant_id", None))
                    record(type(self), action, [item], occurred_at=timezone.now(), using=using)
            self._loaded_values = after

    def _locked_row_values(self, using: str) -> dict[str, Any]:
        attnames = [field.attname for field in self._meta.concrete_fields]
        row = type(self)._base_manager.using(using).select_for_update().filter(pk=self.pk).values(*attnames).first()
        return dict(row) if row is not None else {}

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Any:
        instance = super().from_db(db, field_names, values)
        instance._loaded_values = dict(zip(field_names, values, strict=True))
        return instance

    def refresh_from_db(self, using: str | None = None, fields: Any = None, from_queryset: Any = None) -> None:
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        # The audit diff compares with what the row held when last read: that is now.
        current = self._field_values()
        if fields is None or not hasattr(self, "_loaded_values"):
            self._loaded_values = current
        else:
            refreshed = {str(getattr(self._meta.get_field(name), "attname", name)) for name in fields}
            self._loaded_values.update({name: value for name, value in current.items() if name in refreshed})

    def _field_values(self) -> dict[str, Any]:
        return {field.attname: getattr(self, field.attname) for field in self._meta.concrete_fields}

    def stamp_for_create(self) -> None:
        """Fill creation stamps from the context (also used by `bulk_create`)."""
        now = timezone.now()
        actor = current_actor() or ""
        for name, value in (("created_at", now), ("updated_at", now)):
            if hasattr(self, name) and getattr(self, name) is None:
                setattr(self, name, value)
        for name in ("created_by", "updated_by"):
            if hasattr(self, name) and not getattr(self, name):
                setattr(self, name, actor)
        if hasattr(self, "tenant_id") and getattr(self, "tenant_id", None) is None:
            self.tenant_id = current_tenant()

    def _update_fields_for_save(self, requested: Any) -> list[str]:
        """The fields an UPDATE may write: never the frozen ones; always the update stamps."""
        now = timezone.now()
        if hasattr(self, "updated_at"):
            self.updated_at = now
        if hasattr(self, "updated_by"):
            self.updated_by = current_actor() or ""
        concrete = [field.name for field in self._meta.concrete_fields if not field.primary_key]
        wanted = concrete if requested is None else list(requested)
        fields = [name for name in wanted if name not in _FROZEN_ON_SAVE]
        fields += [name for name in ("updated_at", "updated_by") if hasattr(self, name) and name not in fields]
        return fields


class IntegerPKMixin(CoreModel):
    id = models.BigAutoField(primary_key=True)

    class Meta:
        abstract = True


class UUIDPKMixin(CoreModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class UUIDv7PKMixin(CoreModel):
    """Time-sortable keys (RFC 9562 v7): index-friendly like integers, unguessable like v4."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)

    class Meta:
        abstract = True


class TimestampMixin(CoreModel):
    created_at = models.DateTimeField(default=None, editable=False, db_index=True)
    updated_at = models.DateTimeField(default=None, editable=False)

    class Meta:
        abstract = True


class AuditColumnsMixin(CoreModel):
    """`created_by` / `updated_by` actor strings, and an audit event for every change."""

    audit_changes: ClassVar[bool] = True

    created_by = models.CharField(max_length=255, blank=True, default="", editable=False)
    updated_by = models.CharField(max_length=255, blank=True, default="", editable=False)

    class Meta:
        abstract = True


class SoftDeleteMixin(CoreModel):
    """`delete()` hides rows instead of removing them; `restore()` brings back the row and its own cascade."""

    soft_deletable: ClassVar[bool] = True

    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    deleted_by = models.CharField(max_length=255, blank=True, default="", editable=False)
    delete_batch = models.UUIDField(null=True, blank=True, editable=False, db_index=True)

    objects = AliveManager()  # type: ignore[assignment,misc]  # narrower than CoreModel's: alive rows only
    all_objects = AllObjectsManager()
    deleted_objects = DeletedManager()

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def _own_row(self) -> Any:
        return type(self).all_objects.using(self._state.db or "default").filter(pk=self.pk)

    def _reload_deletion_state(self) -> None:
        fields = ["deleted_at", "deleted_by", "delete_batch"]
        row = self._own_row().values(*fields).first()
        for name, value in (row or {}).items():
            setattr(self, name, value)
        if hasattr(self, "_loaded_values") and row:
            self._loaded_values.update(row)

    def delete(self, using: Any = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        """Soft-delete this row and its soft-deletable cascade (one batch); `(0, {})` if it is already deleted."""
        result: tuple[int, dict[str, int]] = self._own_row().delete()
        self._reload_deletion_state()
        return result

    def restore(self, *, whole_batches: bool = False) -> dict[str, int]:
        """Restore this row and what its own delete cascaded (or its whole delete batch); `{}` if it is alive."""
        counts: dict[str, int] = self._own_row().restore(whole_batches=whole_batches)
        self._reload_deletion_state()
        return counts

    def hard_delete(self) -> tuple[int, dict[str, int]]:
        return models.Model.delete(self)


class TenantMixin(CoreModel):
    """Rows owned by one tenant (an Accent-Auth tenant UUID), set from the context at creation."""

    tenant_id = models.UUIDField(db_index=True, editable=False)

    class Meta:
        abstract = True


def unique_for_alive_rows(*fields: str, name: str) -> models.UniqueConstraint:
    """A unique constraint over live rows only, so a deleted value can be created again."""
    return models.UniqueConstraint(fields=list(fields), condition=Q(deleted_at__isnull=True), name=name)
