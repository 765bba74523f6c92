"""A ModelAdmin base whose every view (list, change, delete, history, actions) sees only the staff's tenants.

Foreign keys too: a form's choices, raw-id input and its label, and the autocomplete
reach only the rows of the staff's tenants that the key may point at (the related
model's default manager: live rows of a soft-deletable model); so do the list filters
by a foreign key. A row and the rows its keys point at share one tenant.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, TypeVar

from django import forms
from django.contrib import admin
from django.contrib.admin import AdminSite, RelatedFieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models
from django.db.models.fields.related import RelatedField
from django.db.models.fields.reverse_related import ManyToOneRel
from django.http import HttpRequest

from apps.core.admin.constraint_form import ConstraintValidatingForm
from apps.core.admin.tenants import scope_to_staff_tenants, staff_tenants
from apps.core.tenant_ownership import TENANT_FIELD, has_tenant_column, tenant_lookup

__all__ = [
    "TENANT_FORM_FIELD",
    "TenantScopedAdminMixin",
    "TenantScopedRawIdWidget",
    "TenantScopedRelatedFilter",
    "tenant_lookup_of",
]

_M = TypeVar("_M", bound=models.Model)
# The add form's tenant choice; not "tenant_id", which Django refuses as a non-editable model field.
TENANT_FORM_FIELD = "tenant"


class _OneTenantForm(forms.ModelForm[Any]):
    """A row and the rows its foreign keys point at share one tenant; the chosen tenant is on the instance.

    `row_tenant` is the stored row's tenant (None when adding); `tenant_keys` maps each
    foreign key to a tenant-owned model to that model's tenant lookup. The add form's
    tenant goes onto the instance before validation, so its constraints can read it.
    """

    row_tenant: ClassVar[uuid.UUID | None] = None
    tenant_keys: ClassVar[dict[str, str]] = {}

    def clean(self) -> dict[str, Any]:
        super().clean()
        chosen = self.cleaned_data.get(TENANT_FORM_FIELD)
        if chosen is not None:
            self.instance.tenant_id = chosen
        tenant = self.row_tenant if self.row_tenant is not None else chosen
        for name, lookup in self.tenant_keys.items():
            target = self.cleaned_data.get(name)
            if target is None:
                continue
            target_tenant = _tenant_of(target, lookup)
            if tenant is None:
                tenant = target_tenant  # a new child row: its first key decides
            elif target_tenant != tenant:
                self.add_error(name, f"This {target._meta.verbose_name} belongs to another tenant than this row.")
        return self.cleaned_data


def _tenant_of(row: models.Model, lookup: str) -> uuid.UUID | None:
    """The tenant of a saved `row` whose tenant column path is `lookup` (a query only through a relation)."""
    tenant: uuid.UUID | None
    if lookup == "tenant_id":
        tenant = getattr(row, "tenant_id", None)
    else:
        tenant = type(row)._base_manager.filter(pk=row.pk).values_list(lookup, flat=True).first()
    return tenant


def tenant_lookup_of(model: type[models.Model], admin_site: AdminSite) -> str | None:
    """The tenant column path of `model`: its tenant-scoped admin's, else `tenant_id` if it has one."""
    if admin_site.is_registered(model):
        model_admin = admin_site.get_model_admin(model)
        if isinstance(model_admin, TenantScopedAdminMixin):
            return model_admin.get_tenant_lookup()
    return tenant_lookup(model)


class TenantScopedRawIdWidget(ForeignKeyRawIdWidget):
    """The raw-id input whose label (the row's title next to it) names only rows of `queryset`."""

    def __init__(
        self,
        rel: ManyToOneRel,
        admin_site: AdminSite,
        *,
        queryset: models.QuerySet[Any],
        attrs: dict[str, Any] | None = None,
        using: str | None = None,
    ) -> None:
        super().__init__(rel, admin_site, attrs, using)
        self.queryset = queryset

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        key = self.rel.get_related_field().name
        try:
            reachable = self.queryset.filter(**{key: value}).exists()
        except (ValueError, ValidationError):
            reachable = False
        return super().label_and_url_for_value(value) if reachable else ("", "")


class TenantScopedRelatedFilter(RelatedFieldListFilter):
    """The list filter of a foreign key: it names only related rows of the staff's tenants."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        related = field.related_model
        reachable = scope_to_staff_tenants(
            related._default_manager.all(), request.user, tenant_lookup_of(related, model_admin.admin_site)
        )
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to={"pk__in": reachable.values("pk")}
        )


class TenantScopedAdminMixin(admin.ModelAdmin[_M]):
    """Rows limited to `staff_tenants(request.user)`; new rows get a tenant the user may use.

    The path to the tenant column is the data layer's (`apps.core.tenant_ownership.tenant_lookup`):
    `"tenant_id"` for a model with `TenantMixin`, `"document__tenant_id"` for a child owned
    through a required CASCADE parent; set `tenant_lookup` only to override it.
    """

    tenant_lookup: ClassVar[str | None] = None

    def get_tenant_lookup(self) -> str | None:
        if self.tenant_lookup is not None:
            return self.tenant_lookup
        return tenant_lookup(self.model)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[_M]:
        return scope_to_staff_tenants(super().get_queryset(request), request.user, self.get_tenant_lookup())

    # --- foreign keys: choices, raw-id label, autocomplete ------------------------------------

    def foreign_key_choices(self, db_field: RelatedField[Any, Any], request: HttpRequest, using: str | None) -> Any:
        """What `db_field` may point at: the related default manager's rows, in the staff's tenants."""
        related: type[models.Model] = db_field.related_model  # type: ignore[assignment]  # resolved: a class
        queryset = self.get_field_queryset(using, db_field, request)
        if queryset is None:
            queryset = related._default_manager.using(using)
        return scope_to_staff_tenants(queryset, request.user, tenant_lookup_of(related, self.admin_site))

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        kwargs.setdefault("queryset", self.foreign_key_choices(db_field, request, kwargs.get("using")))
        if "widget" not in kwargs and db_field.name in self.raw_id_fields:
            kwargs["widget"] = TenantScopedRawIdWidget(
                db_field.remote_field, self.admin_site, queryset=kwargs["queryset"], using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: models.ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField[Any] | None:
        kwargs.setdefault("queryset", self.foreign_key_choices(db_field, request, kwargs.get("using")))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> Any:
        """A filter by a foreign key to a tenant-owned model lists only the staff's rows of it."""
        return [self._scoped_filter(entry) for entry in super().get_list_filter(request)]

    def _scoped_filter(self, entry: Any) -> Any:
        if not isinstance(entry, str):
            return entry  # a filter class, or an explicit (field, filter class) pair: as written
        related = get_fields_from_path(self.model, entry)[-1].related_model
        if isinstance(related, type) and tenant_lookup_of(related, self.admin_site) is not None:
            return (entry, TenantScopedRelatedFilter)
        return entry

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        """The autocomplete of a foreign key to this model answers only rows the key may point at."""
        if _is_autocomplete(request):
            queryset = queryset & self.model._default_manager.all()
            if not queryset.ordered:  # the view pages its answer: unordered pages repeat and skip rows
                queryset = queryset.order_by("pk")
        return super().get_search_results(request, queryset, search_term)

    def _owns_tenant_column(self) -> bool:
        return self.get_tenant_lookup() == TENANT_FIELD and has_tenant_column(self.model)

    def _tenant_field(self, request: HttpRequest) -> forms.Field:
        tenants = staff_tenants(request.user)
        if tenants.all_tenants:
            return forms.UUIDField(
                label="Tenant", help_text="The tenant (UUID) that owns this row; fixed once created."
            )
        choices = [(str(tenant), str(tenant)) for tenant in sorted(tenants.ids, key=str)]
        return forms.TypedChoiceField(
            label="Tenant", choices=choices, coerce=uuid.UUID, help_text="Fixed once created."
        )

    def get_form(self, request: HttpRequest, obj: _M | None = None, change: bool = False, **kwargs: Any) -> Any:
        base = kwargs.get("form", self.form)
        mixins = [_OneTenantForm] + ([] if issubclass(base, ConstraintValidatingForm) else [ConstraintValidatingForm])
        attributes: dict[str, Any] = {"row_tenant": self._stored_tenant(obj), "tenant_keys": self._tenant_keys()}
        if obj is None and self._owns_tenant_column():
            # tenant_id is not editable on the model (fixed at creation): the add form asks for it.
            attributes[TENANT_FORM_FIELD] = self._tenant_field(request)
        kwargs["form"] = type(base.__name__, (*mixins, base), attributes)
        return super().get_form(request, obj, change, **kwargs)

    def _stored_tenant(self, obj: _M | None) -> uuid.UUID | None:
        lookup = self.get_tenant_lookup()
        if obj is None or lookup is None:
            return None
        if self._owns_tenant_column():
            return getattr(obj, "tenant_id", None)
        return _tenant_of(obj, lookup)

    def _tenant_keys(self) -> dict[str, str]:
        """Each editable foreign key to a tenant-owned model, with that model's tenant lookup."""
        keys = {}
        for field in self.model._meta.get_fields():
            if isinstance(field, models.ForeignKey) and field.editable:
                related: type[models.Model] = field.related_model  # type: ignore[assignment]  # resolved: a class
                lookup = tenant_lookup_of(related, self.admin_site)
                if lookup is not None:
                    keys[field.name] = lookup
        return keys

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError:
            if request.method != "POST":
                raise
            # A rival write committed the same unique values after this form was validated
            # (the view's transaction rolled back): validated again, the form now says so.
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fields(self, request: HttpRequest, obj: _M | None = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if obj is None and self._owns_tenant_column() and TENANT_FORM_FIELD not in fields:
            fields.insert(0, TENANT_FORM_FIELD)
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: _M | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None and "tenant_id" in fields and self._owns_tenant_column():
            fields.remove("tenant_id")
        return fields

    def save_model(self, request: HttpRequest, obj: _M, form: Any, change: bool) -> None:
        if not change and self._owns_tenant_column():
            obj.tenant_id = form.cleaned_data[TENANT_FORM_FIELD]  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)


def _is_autocomplete(request: HttpRequest) -> bool:
    """The admin site's autocomplete view (it searches this admin's rows for another model's key)."""
    match = request.resolver_match
    return match is not None and match.url_name == "autocomplete"
