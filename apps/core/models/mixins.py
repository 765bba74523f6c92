"""Abstract model mixins, freely combinable on one model.

    class Invoice(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin, TenantMixin):
        number = models.CharField(max_length=32)

        class Meta:
            constraints = [unique_for_alive_rows("tenant_id", "number", name="invoice_number_unique")]

Each mixin owns its rule and chains to the others with `super()` (NetBox's feature
mixins), so any order and any subset compose:

- `TimestampMixin` stamps `created_at` / `updated_at` and freezes `created_at`;
- `AuditColumnsMixin` stamps `created_by` / `updated_by` from `apps.core.context`,
  freezes `created_by`, and records an audit event in the save's transaction (the
  diff's "before" read under the row lock), which also runs the model's declared side
  effects (`apps.core.side_effects`);
- `SoftDeleteMixin` leaves its deletion state to `delete()` / `restore()` only;
- `TenantMixin` fills `tenant_id` from the context at creation and freezes it.

`CoreModel.save()` only runs the hooks: `stamp_for_create()` (creation stamps),
`update_stamps()` (what every update writes), `fields_frozen_on_save()`, and the
before/after pair `_row_before_save()` / `_after_save()`. The bulk paths of
`apps.core.querysets` ask the same hooks, so a queryset write stamps as a save does.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import AuditRecord, changed_fields, record
from apps.core.context import current_actor, current_tenant
from apps.core.models.audit import AuditAction
from apps.core.querysets import AliveManager, AllObjectsManager, CoreManager, DeletedManager
from apps.core.tenant_ownership import own_tenant
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


class CoreModel(models.Model):
    """The shared base of the mixins: a `save()` that runs the hooks each mixin extends with `super()`."""

    objects = CoreManager()

    class Meta:
        abstract = True

    # --- the save that runs them --------------------------------------------------------------------

    def save(self, *args: Any, **kwargs: Any) -> None:
        adding = self._state.adding
        if adding:
            self.stamp_for_create()
        else:
            kwargs["update_fields"] = self._update_fields_for_save(kwargs.get("update_fields"))
        using = kwargs.get("using") or self._state.db or "default"
        with transaction.atomic(using=using):
            before = {} if adding else self._row_before_save(using)
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
            self._after_save(adding=adding, before=before, after=after, using=using)
            self._loaded_values = after

    # --- hooks: each mixin adds its own rule and calls super() -------------------------------------

    def stamp_for_create(self) -> None:
        """Fill the creation stamps the caller left empty (also used by `bulk_create`)."""

    @classmethod
    def update_stamps(cls) -> dict[str, Any]:
        """`{field: value}` every update writes (also used by `update()` and `bulk_update()`)."""
        return {}

    @classmethod
    def fields_frozen_on_save(cls) -> frozenset[str]:
        """Fields a `save()` of an existing row never writes."""
        return frozenset()

    def _row_before_save(self, using: str) -> dict[str, Any]:
        """What the row held before this update, by attname: as last read, unless a mixin needs it exact."""
        return dict(getattr(self, "_loaded_values", {}))

    def _after_save(self, *, adding: bool, before: dict[str, Any], after: dict[str, Any], using: str) -> None:
        """Runs in the save's transaction once the row is written."""

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

    def _update_fields_for_save(self, requested: Any) -> list[str]:
        """The fields an UPDATE may write: never the frozen ones; always the update stamps."""
        stamps = self.update_stamps()
        for name, value in stamps.items():
            setattr(self, name, value)
        frozen = self.fields_frozen_on_save()
        concrete = [field.name for field in self._meta.concrete_fields if not field.primary_key]
        wanted = concrete if requested is None else list(requested)
        fields = [name for name in wanted if name not in frozen]
        fields += [name for name in stamps if name not in fields]
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
    """`created_at` / `updated_at`, stamped by the core (not `auto_now`, so bulk paths stamp alike)."""

    created_at = models.DateTimeField(default=None, editable=False, db_index=True)
    updated_at = models.DateTimeField(default=None, editable=False)

    class Meta:
        abstract = True

    def stamp_for_create(self) -> None:
        super().stamp_for_create()
        now = timezone.now()
        if self.created_at is None:
            self.created_at = now
        if self.updated_at is None:
            self.updated_at = now

    @classmethod
    def update_stamps(cls) -> dict[str, Any]:
        return {**super().update_stamps(), "updated_at": timezone.now()}

    @classmethod
    def fields_frozen_on_save(cls) -> frozenset[str]:
        return super().fields_frozen_on_save() | {"created_at"}


class AuditColumnsMixin(CoreModel):
    """`created_by` / `updated_by` actor strings, and an audit event for every change."""

    created_by = models.CharField(max_length=255, blank=True, default="", editable=False)
    updated_by = models.CharField(max_length=255, blank=True, default="", editable=False)

    class Meta:
        abstract = True

    def stamp_for_create(self) -> None:
        super().stamp_for_create()
        actor = current_actor() or ""
        if not self.created_by:
            self.created_by = actor
        if not self.updated_by:
            self.updated_by = actor

    @classmethod
    def update_stamps(cls) -> dict[str, Any]:
        return {**super().update_stamps(), "updated_by": current_actor() or ""}

    @classmethod
    def fields_frozen_on_save(cls) -> frozenset[str]:
        return super().fields_frozen_on_save() | {"created_by"}

    def _row_before_save(self, using: str) -> dict[str, Any]:
        # The diff's "before" is what the row holds now, read under its lock: a stale
        # instance (or a concurrent save) cannot make two events claim the same old value.
        attnames = [field.attname for field in self._meta.concrete_fields]
        row = type(self)._base_manager.using(using).select_for_update().filter(pk=self.pk).values(*attnames).first()
        return dict(row) if row is not None else {}

    def _after_save(self, *, adding: bool, before: dict[str, Any], after: dict[str, Any], using: str) -> None:
        super()._after_save(adding=adding, before=before, after=after, using=using)
        # An update that moved only the stamps has an empty diff: `record()` logs nothing for it.
        action = AuditAction.CREATE if adding else AuditAction.UPDATE
        record(
            type(self),
            action,
            [AuditRecord(self.pk, changed_fields(type(self), before, after), own_tenant(self))],
            occurred_at=timezone.now(),
            using=using,
        )


class SoftDeleteMixin(CoreModel):
    """`delete()` hides rows instead of removing them; `restore()` brings back the row and its own cascade."""

    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    deleted_by = models.CharField(max_length=255, blank=True, default="", editable=False)
    delete_batch = models.UUIDField(null=True, blank=True, editable=False, db_index=True)

    objects = AliveManager()  # type: ignore[assignment,misc]  # narrower than CoreModel's: alive rows only
    all_objects = AllObjectsManager()
    deleted_objects = DeletedManager()

    class Meta:
        abstract = True

    @classmethod
    def fields_frozen_on_save(cls) -> frozenset[str]:
        # Only delete() / restore() change the deletion state: a save of a stale instance cannot undo them.
        return super().fields_frozen_on_save() | {"deleted_at", "deleted_by", "delete_batch"}

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

    def stamp_for_create(self) -> None:
        super().stamp_for_create()
        if self.tenant_id is None:
            self.tenant_id = current_tenant()

    @classmethod
    def fields_frozen_on_save(cls) -> frozenset[str]:
        # A row never changes tenant: that would move data between tenants.
        return super().fields_frozen_on_save() | {"tenant_id"}


def unique_for_alive_rows(*fields: str, name: str) -> models.UniqueConstraint:
    """A unique constraint over live rows only, so a deleted value can be created again."""
    return models.UniqueConstraint(fields=list(fields), condition=Q(deleted_at__isnull=True), name=name)
