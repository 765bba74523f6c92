"""Querysets and managers that know the rules of the core mixins.

- Every write path stamps the audit columns from `apps.core.context` and records
  audit events in the same transaction: `update()`, `bulk_create()`, `bulk_update()`.
- Soft-deletable models get three managers: `objects` (alive rows only; the default
  manager, so reverse-FK and M2M related managers and `prefetch_related` hide deleted
  rows), `all_objects` and `deleted_objects`; the base manager stays unfiltered so a
  forward FK to a deleted row and saving a deleted row still work.
- A verb acts on exactly the rows its queryset shows, never more: `delete()`
  soft-deletes the alive ones (set-based, see `apps.core.soft_delete`), `restore()`
  brings back the deleted ones with what their own delete cascaded (or their whole
  delete batches, `whole_batches=True`), `hard_delete()` removes them for real.
- `get_or_create()` / `update_or_create()` refuse a key a soft-deleted row holds
  (`Conflict`): a deleted row is restored on purpose, never revived silently.
- `for_tenant()` / `for_current_tenant()` scope by tenant (through the parent for a
  child model, see `apps.core.tenant_ownership`) and fail closed.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from django.core.exceptions import FieldDoesNotExist, FullResultSet, ObjectDoesNotExist
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.db.models.lookups import IsNull
from django.utils import timezone

from apps.core import soft_delete
from apps.core.audit import AuditRecord, changed_fields, is_audited, record
from apps.core.context import current_actor, current_tenant
from apps.core.errors import Conflict
from apps.core.models.audit import AuditAction
from apps.core.row_locks import chunks, locked_rows
from apps.core.tenant_ownership import TENANT_FIELD, has_tenant_column, own_tenant, tenant_lookup

__all__ = ["AliveManager", "CoreManager", "CoreQuerySet", "DeletedManager", "SoftDeleteQuerySet"]

_M = TypeVar("_M", bound=models.Model)


class _Stamped(Protocol):
    """The stamp hooks every core mixin extends (`apps.core.models.mixins.CoreModel`)."""

    @classmethod
    def update_stamps(cls) -> dict[str, Any]: ...

    def stamp_for_create(self) -> None: ...


def has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def _creation_snapshot(obj: models.Model) -> dict[str, list[Any]]:
    values = {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}
    return changed_fields(type(obj), {}, values)


def _attname(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    return str(getattr(field, "attname", name))


_TOKENS = itertools.count(1)
# Attributes of the SQL query (`QuerySet.query`) that carry the visibility state; `Query.clone()` copies them.
_RESTRICTIONS = "soft_delete_restrictions"
_LIFTED = "soft_delete_lifted"


class _DeletionRestriction(IsNull):
    """`deleted_at IS [NOT] NULL`, added by a manager or `.alive()` / `.deleted()`, liftable later.

    Why this shape: a queryset's visibility is state of its query (the restriction tokens it
    holds and the ones lifted), not something read back out of `query.where`. The restriction
    is a plain lookup expression passed to the public `filter()`; `.with_deleted()` lifts it by
    recording its token, and the lookup then compiles to "no condition" (`FullResultSet`, the
    public way a condition says it matches everything). Clones, subqueries and `qs1 | qs2`
    keep working because nothing rewrites the WHERE tree; `|` / `&` / `^` merge the state.
    """

    def __init__(self, *, deleted: bool) -> None:
        super().__init__(F("deleted_at"), not deleted)
        self.token = next(_TOKENS)

    @property
    def identity(self) -> tuple[Any, ...]:
        return (*super().identity, self.token)

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if self.token in getattr(compiler.query, _LIFTED, frozenset()):
            raise FullResultSet
        return super().as_sql(compiler, connection)


def _tokens(query: Any, name: str) -> frozenset[int]:
    tokens: frozenset[int] = getattr(query, name, frozenset())
    return tokens


class CoreQuerySet(models.QuerySet[_M]):
    """Stamps audit columns and records audit events on the bulk write paths."""

    def for_tenant(self, tenant_id: uuid.UUID | str | None) -> Self:
        """Rows of `tenant_id`; no rows at all when it is `None` (fail closed)."""
        lookup = tenant_lookup(self.model)
        if lookup is None:
            return self
        if tenant_id is None:
            return self.none()
        return self.filter(**{lookup: uuid.UUID(str(tenant_id))})

    def for_current_tenant(self) -> Self:
        return self.for_tenant(current_tenant())

    def _stamped(self) -> type[_Stamped]:
        model: type[_Stamped] = self.model  # type: ignore[assignment]  # a CoreManager's model is a CoreModel
        return model

    def _update_stamps(self, given: dict[str, Any]) -> dict[str, Any]:
        """The model's own update stamps (each mixin's `update_stamps()`), except what the caller sets."""
        return {name: value for name, value in self._stamped().update_stamps().items() if name not in given}

    def update(self, **kwargs: Any) -> int:
        if self.query.is_sliced:  # Django's own rule, which the audited path below would not meet
            raise TypeError("Cannot update a query once a slice has been taken.")
        values = {**kwargs, **self._update_stamps(kwargs)}
        if not is_audited(self.model):
            return super().update(**values)
        fields = [name for name in kwargs if has_field(self.model, name)]
        attnames = [_attname(self.model, name) for name in fields]
        tenant = [TENANT_FIELD] if has_tenant_column(self.model) else []
        with transaction.atomic(using=self.db):
            # Lock and read the rows first: the diff is exact and the set updated is the set read.
            before = locked_rows(self, *attnames, *tenant)
            pks = list(before)
            base = self.model._base_manager.using(self.db)
            updated = sum(models.QuerySet.update(base.filter(pk__in=chunk), **values) for chunk in chunks(pks))
            after: dict[Any, tuple[Any, ...]] = {}
            for chunk in chunks(pks):
                after.update({row[0]: row[1:] for row in base.filter(pk__in=chunk).values_list("pk", *attnames)})
            records = []
            for pk in pks:
                diff = changed_fields(
                    self.model,
                    dict(zip(attnames, before[pk], strict=False)),
                    dict(zip(attnames, after[pk], strict=True)),
                )
                # An empty diff (only the stamps moved) is not logged, but still a change for the side effects.
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
            stamped: _Stamped = obj  # type: ignore[assignment]  # a CoreManager's model is a CoreModel
            stamped.stamp_for_create()
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            if is_audited(self.model) and not kwargs.get("update_conflicts") and not kwargs.get("ignore_conflicts"):
                records = [AuditRecord(obj.pk, _creation_snapshot(obj), own_tenant(obj)) for obj in created]
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
            for chunk in chunks([obj.pk for obj in objs]):
                # The rows the update will reach (`plain` keeps this queryset's filters: alive rows only).
                before.update(locked_rows(plain.filter(pk__in=chunk), *attnames))
            updated = plain.bulk_update(objs, all_fields, batch_size=batch_size)
            records = []
            for obj in objs:
                if obj.pk not in before:
                    continue
                after = {name: getattr(obj, name) for name in attnames}
                diff = changed_fields(self.model, dict(zip(attnames, before[obj.pk], strict=True)), after)
                records.append(AuditRecord(obj.pk, diff, own_tenant(obj)))
            record(self.model, AuditAction.UPDATE, records, occurred_at=timezone.now(), using=self.db)
        return updated


class SoftDeleteQuerySet(CoreQuerySet[_M]):
    """Alive/deleted visibility, set-based soft delete, restore, hard delete (see the module docstring)."""

    def _with_visibility(self, restrictions: frozenset[int], lifted: frozenset[int]) -> Self:
        setattr(self.query, _RESTRICTIONS, restrictions)
        setattr(self.query, _LIFTED, lifted)
        return self

    def _restricted(self, *, deleted: bool | None) -> Self:
        """This queryset with every visibility restriction lifted, then (unless `None`) a fresh one."""
        restrictions = _tokens(self.query, _RESTRICTIONS)
        lifted = restrictions
        clone = self.all()
        if deleted is not None:
            restriction = _DeletionRestriction(deleted=deleted)
            clone = clone.filter(restriction)
            restrictions |= {restriction.token}
        return clone._with_visibility(restrictions, lifted)

    def with_deleted(self) -> Self:
        """The same rows without any alive/deleted restriction; the caller's own filters stay."""
        return self._restricted(deleted=None)

    def alive(self) -> Self:
        return self._restricted(deleted=False)

    def deleted(self) -> Self:
        return self._restricted(deleted=True)

    def _combined(self, other: Any, combine: Callable[[Any, Any], Any]) -> Any:
        """`qs1 | qs2` (and `&`, `^`) with the visibility state of both sides."""
        mine_active = _tokens(self.query, _RESTRICTIONS) - _tokens(self.query, _LIFTED)
        other_query = getattr(other, "query", None)
        theirs_active = _tokens(other_query, _RESTRICTIONS) - _tokens(other_query, _LIFTED)
        shared_lineage_disagrees = (mine_active & _tokens(other_query, _LIFTED)) or (
            theirs_active & _tokens(self.query, _LIFTED)
        )
        if shared_lineage_disagrees:
            # Both sides hold the same restriction, lifted on one side only: compare by key instead.
            both = combine(Q(pk__in=self.values("pk")), Q(pk__in=other.values("pk")))
            return type(self)(model=self.model, using=self.db).filter(both)
        combined = combine(super(), other)
        if isinstance(combined, SoftDeleteQuerySet) and combined is not self and combined is not other:
            combined._with_visibility(
                _tokens(self.query, _RESTRICTIONS) | _tokens(other_query, _RESTRICTIONS),
                _tokens(self.query, _LIFTED) | _tokens(other_query, _LIFTED),
            )
        return combined

    def __or__(self, other: Any) -> Any:
        return self._combined(other, lambda left, right: left.__or__(right))

    def __and__(self, other: Any) -> Any:
        return self._combined(other, lambda left, right: left.__and__(right))

    def __xor__(self, other: Any) -> Any:
        return self._combined(other, lambda left, right: left.__xor__(right))

    # --- verbs: each acts on the rows shown here, narrowed to the state it applies to -------------

    def delete(self) -> tuple[int, dict[str, int]]:
        """Soft-delete the alive rows here and, under one batch id per tenant, their soft-deletable cascade."""
        counts = soft_delete.soft_delete(self.filter(deleted_at__isnull=True), actor=current_actor() or "")
        return sum(counts.values()), counts

    def restore(self, *, whole_batches: bool = False) -> dict[str, int]:
        """Bring back the deleted rows here and what their own delete cascaded; counts per model label.

        `whole_batches=True` brings back every row deleted in the same calls as these rows instead.
        """
        return soft_delete.restore(self.filter(deleted_at__isnull=False), whole_batches=whole_batches)

    def hard_delete(self) -> tuple[int, dict[str, int]]:
        """Delete the rows here for real (Django's collector: CASCADE, PROTECT, signals); audited per row."""
        return models.QuerySet.delete(self)

    # --- get_or_create / update_or_create ----------------------------------------------------------

    def get_or_create(self, defaults: Mapping[str, Any] | None = None, **kwargs: Any) -> tuple[_M, bool]:
        """Like Django's, but a key a soft-deleted row holds is a `Conflict` (no new row, no IntegrityError)."""
        try:
            return self.get(**kwargs), False
        except ObjectDoesNotExist:
            self._refuse_key_of_deleted_row(kwargs)
        try:
            return super().get_or_create(defaults, **kwargs)
        except IntegrityError:
            self._refuse_key_of_deleted_row(kwargs)  # deleted meanwhile by another transaction
            raise

    def _refuse_key_of_deleted_row(self, lookup: Mapping[str, Any]) -> None:
        holder = self.with_deleted().filter(deleted_at__isnull=False, **lookup).values_list("pk", flat=True).first()
        if holder is not None:
            keys = ", ".join(f"{name}={value!r}" for name, value in lookup.items())
            raise Conflict(
                f"A deleted {self.model._meta.verbose_name} ({holder}) holds {keys}. "
                "Restore it instead of creating a new one (deleted rows are never revived silently)."
            )


# django-stubs types a manager's filter()/all()/... by the queryset class it is built from: declaring the
# bases through from_queryset() for the checker types `Folder.objects.filter(...).restore()`. Types only:
# at run time the managers keep their plain base, and get_queryset() below builds the queryset class.
if TYPE_CHECKING:
    _CoreManagerBase = models.Manager.from_queryset(CoreQuerySet)
    _SoftDeleteManagerParent = models.Manager.from_queryset(SoftDeleteQuerySet)
else:
    _CoreManagerBase = _SoftDeleteManagerParent = models.Manager


class CoreManager(_CoreManagerBase[_M]):
    """The manager of models without soft delete; bulk paths stamp and audit."""

    # Read by get_queryset(), so `CoreManager.from_queryset(MyQuerySet)` really uses MyQuerySet.
    _queryset_class = CoreQuerySet

    def get_queryset(self) -> CoreQuerySet[_M]:
        queryset: CoreQuerySet[_M] = self._queryset_class(model=self.model, using=self._db)
        return queryset


class _SoftDeleteManagerBase(_SoftDeleteManagerParent[_M]):
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

    def restore(self, *, whole_batches: bool = False) -> dict[str, int]:
        return self.get_queryset().restore(whole_batches=whole_batches)

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
