"""`BaseRepository[T]`: the typed data access every service uses.

A repository wraps one model's default manager (alive rows for soft-deletable
models) and applies tenant scoping automatically for `TenantMixin` models: with no
tenant in `apps.core.context` it sees no rows and refuses to write (fail closed).
Writes go through the core models and querysets, so audit columns and the audit log
follow on every path, bulk ones included.

    class DocumentRepository(BaseRepository[Document]):
        model = Document
        search_fields = ("title", "body")
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import connections, models, transaction
from django.db.models import Q

from apps.core.context import current_tenant
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.core.pagination import CursorPage, OffsetPage, Ordering, paginate_cursor, paginate_offset
from apps.core.tenant_ownership import has_tenant_column
from apps.core.upsert import UpsertResult, upsert_rows
from apps.core.versioning import ExpectedVersion

__all__ = ["BaseRepository", "UpsertResult"]

T = TypeVar("T", bound=models.Model)


@dataclass(frozen=True)
class _Scope:
    tenant_id: uuid.UUID | None


def _validate(instance: models.Model, **options: Any) -> None:
    """`full_clean`, raising the app's `InvalidInput` (400) rather than Django's ValidationError."""
    try:
        instance.full_clean(**options)
    except ValidationError as error:
        raise InvalidInput("The data is invalid; see errors.", errors=error.message_dict) from None


class BaseRepository(Generic[T]):
    model: ClassVar[type[Any]]
    search_fields: ClassVar[Sequence[str]] = ()
    default_ordering: ClassVar[Sequence[str]] = ("-created_at",)

    def __init__(self, *, using: str = "default") -> None:
        self.using = using

    # -- reads -----------------------------------------------------------------------
    @property
    def _tenant_scoped(self) -> bool:
        return has_tenant_column(self.model)

    def _scope(self) -> _Scope:
        return _Scope(current_tenant())

    def queryset(self) -> models.QuerySet[T]:
        """Every row this caller may see: alive rows, of the current tenant for tenant models."""
        queryset: models.QuerySet[T] = self.model._default_manager.using(self.using).all()
        if self._tenant_scoped:
            tenant = self._scope().tenant_id
            queryset = queryset.filter(tenant_id=tenant) if tenant is not None else queryset.none()
        return queryset

    def deleted_queryset(self) -> models.QuerySet[T]:
        """Soft-deleted rows this caller may see (for restore)."""
        queryset: models.QuerySet[T] = self.model.deleted_objects.using(self.using).all()
        if self._tenant_scoped:
            tenant = self._scope().tenant_id
            queryset = queryset.filter(tenant_id=tenant) if tenant is not None else queryset.none()
        return queryset

    def get(self, pk: Any) -> T | None:
        try:
            return self.queryset().filter(pk=pk).first()
        except (ValueError, ValidationError):  # a malformed key (e.g. not a UUID) is simply not found
            return None

    def get_or_raise(self, pk: Any) -> T:
        instance = self.get(pk)
        if instance is None:
            raise NotFound(f"No {self._name} with id {pk}.")
        return instance

    @property
    def _name(self) -> str:
        return str(self.model._meta.verbose_name)

    def list(self, *, filters: Mapping[str, Any] | None = None, ordering: Sequence[str] | None = None) -> list[T]:
        return list(self.queryset().filter(**(filters or {})).order_by(*(ordering or self.default_ordering)))

    def search(self, text: str, queryset: models.QuerySet[T] | None = None) -> models.QuerySet[T]:
        """Rows matching `text` in `search_fields`: full-text on PostgreSQL, `icontains` elsewhere."""
        base = self.queryset() if queryset is None else queryset
        if not text.strip() or not self.search_fields:
            return base
        if connections[self.using].vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector  # noqa: PLC0415

            vector = SearchVector(*self.search_fields, config="simple")
            query = SearchQuery(text, config="simple", search_type="websearch")
            matches: models.QuerySet[T] = base.annotate(_search=vector).filter(_search=query)
            return matches
        condition = Q()
        for name in self.search_fields:
            condition |= Q(**{f"{name}__icontains": text})
        return base.filter(condition)

    def exists(self, **filters: Any) -> bool:
        return self.queryset().filter(**filters).exists()

    def count(self, **filters: Any) -> int:
        return self.queryset().filter(**filters).count()

    def paginate_offset(
        self, queryset: models.QuerySet[T] | None = None, *, offset: int = 0, limit: int = 50, with_total: bool = False
    ) -> OffsetPage[T]:
        ordering = Ordering(tuple(self.default_ordering)).with_pk()
        base = (self.queryset() if queryset is None else queryset).order_by(*ordering)
        return paginate_offset(base, offset=offset, limit=limit, with_total=with_total)

    def paginate_cursor(
        self,
        queryset: models.QuerySet[Any, Any] | None = None,
        *,
        ordering: Ordering | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> CursorPage[Any]:
        base = self.queryset() if queryset is None else queryset
        return paginate_cursor(
            base, ordering=ordering or Ordering(tuple(self.default_ordering)), cursor=cursor, limit=limit
        )

    # -- writes ----------------------------------------------------------------------
    def _require_tenant(self) -> dict[str, Any]:
        if not self._tenant_scoped:
            return {}
        tenant = self._scope().tenant_id
        if tenant is None:
            raise PermissionDenied(f"No tenant in context: {self.model._meta.verbose_name_plural} belong to a tenant.")
        return {"tenant_id": tenant}

    def create(self, **values: Any) -> T:
        instance = self.model(**{**values, **self._require_tenant()})
        _validate(instance, validate_unique=False, validate_constraints=False)
        with transaction.atomic(using=self.using):
            instance.save(using=self.using)
        return instance  # type: ignore[no-any-return]

    def _lock_again(self, instance: T, *, expected_version: ExpectedVersion | None) -> None:
        """Lock `instance`'s row and read it again, inside the caller's transaction; then check its version.

        Whatever `instance` held when it was read (perhaps long ago, outside any lock), from
        here on it is the row as it is now, and no other writer can change it before commit.
        """
        try:
            instance.refresh_from_db(using=self.using, from_queryset=self.queryset().select_for_update())
        except self.model.DoesNotExist:  # deleted (or moved out of sight) since it was read
            raise NotFound(f"No {self._name} with id {instance.pk}.") from None
        if expected_version is not None:
            expected_version.check(instance)

    def update(self, instance: T, *, expected_version: ExpectedVersion | None = None, **values: Any) -> T:
        """Partial update: writes only `values` (plus the update stamps) to `instance`'s row.

        The row is locked and read again first: a row deleted meanwhile is `NotFound`, and
        `expected_version` (an If-Match) is compared with what is really there
        (`PreconditionFailed`); either way nothing is written.
        """
        with transaction.atomic(using=self.using):
            self._lock_again(instance, expected_version=expected_version)
            if not values:
                return instance
            for name, value in values.items():
                setattr(instance, name, value)
            _validate(
                instance,
                exclude=[f.name for f in self.model._meta.fields if f.name not in values],
                validate_unique=False,
                validate_constraints=False,
            )
            instance.save(using=self.using, update_fields=list(values))
        return instance

    def delete(self, instance: T, *, expected_version: ExpectedVersion | None = None) -> T:
        """Soft delete (with its cascade) for soft-deletable models, a real delete otherwise.

        Locked and checked like `update`: a row deleted meanwhile is `NotFound`, and nothing (no
        stamp, no audit event) is written for it. Returns `instance`, as deleted.
        """
        with transaction.atomic(using=self.using):
            self._lock_again(instance, expected_version=expected_version)
            instance.delete()
        return instance

    def restore(self, pk: Any, *, expected_version: ExpectedVersion | None = None) -> T:
        """Bring back the deleted row `pk` and what its delete cascaded; `NotFound` unless it is deleted.

        The deleted row is locked before it is checked: of two restores, the second waits, then
        finds the row alive and writes nothing.
        """
        with transaction.atomic(using=self.using):
            deleted = self.deleted_queryset().select_for_update()
            try:
                # FOR UPDATE applies the filters again to a row another transaction just changed.
                instance = deleted.filter(pk=pk).first()
            except (ValueError, ValidationError):  # a malformed key is simply not found
                instance = None
            if instance is None:
                raise NotFound(f"No deleted {self._name} with id {pk}.")
            if expected_version is not None:
                expected_version.check(instance)
            self.deleted_queryset().filter(pk=instance.pk).restore()  # type: ignore[attr-defined]
            return self.get_or_raise(instance.pk)

    def bulk_create(self, instances: Iterable[T], *, batch_size: int = 1000) -> builtins.list[T]:
        stamps = self._require_tenant()
        items = list(instances)
        for item in items:
            for name, value in stamps.items():
                setattr(item, name, value)
        with transaction.atomic(using=self.using):
            return self.model._default_manager.using(self.using).bulk_create(items, batch_size=batch_size)  # type: ignore[no-any-return]

    def upsert(
        self, rows: Sequence[Mapping[str, Any]], *, conflict_fields: Sequence[str], update_fields: Sequence[str]
    ) -> UpsertResult:
        """Insert or update `rows` by `conflict_fields` (a live-rows unique constraint); counts both.

        On conflict a row writes only the `update_fields` it gives (an omitted one keeps the
        row's value; defaults fill it only on insert). Safe under concurrency: rows are locked
        in key order, a lost race (deadlock, serialization failure) is retried, then `Conflict`.
        """
        stamps = self._require_tenant()
        return upsert_rows(
            self.model,
            [{**row, **stamps} for row in rows],
            conflict_fields=[*stamps, *(f for f in conflict_fields if f not in stamps)],
            update_fields=update_fields,
            using=self.using,
        )

    def delete_many(self, **filters: Any) -> int:
        """Delete every visible row matching `filters`, set-based (soft for soft-deletable models)."""
        total, _ = self.queryset().filter(**filters).delete()
        return total
