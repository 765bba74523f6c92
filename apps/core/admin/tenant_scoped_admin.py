"""A ModelAdmin base whose every view (list, change, delete, history, actions) sees only the staff's tenants."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, TypeVar

from django import forms
from django.db import models
from django.http import HttpRequest

from apps.core.admin.generic_model_admin import GenericModelAdmin
from apps.core.admin.tenants import scope_to_staff_tenants, staff_tenants
from apps.core.querysets import has_field

__all__ = ["TENANT_FORM_FIELD", "TenantScopedAdminMixin"]

_M = TypeVar("_M", bound=models.Model)
# The add form's tenant choice; not "tenant_id", which Django refuses as a non-editable model field.
TENANT_FORM_FIELD = "tenant"


class TenantScopedAdminMixin(GenericModelAdmin[_M]):
    """Rows limited to `staff_tenants(request.user)`; new rows get a tenant the user may use.

    `tenant_lookup` is the path to the tenant column: `"tenant_id"` (the default when the
    model has `TenantMixin`), `"document__tenant_id"` for a child that inherits its
    parent's tenant, or `None` for a model without tenancy.
    """

    tenant_lookup: ClassVar[str | None] = None

    def get_tenant_lookup(self) -> str | None:
        if self.tenant_lookup is not None:
            return self.tenant_lookup
        return "tenant_id" if has_field(self.model, "tenant_id") else None

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[_M]:
        return scope_to_staff_tenants(super().get_queryset(request), request.user, self.get_tenant_lookup())

    def _owns_tenant_column(self) -> bool:
        return self.get_tenant_lookup() == "tenant_id" and has_field(self.model, "tenant_id")

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
        if obj is None and self._owns_tenant_column():
            # tenant_id is not editable on the model (fixed at creation): the add form asks for it.
            base = kwargs.get("form", self.form)
            kwargs["form"] = type(base.__name__, (base,), {TENANT_FORM_FIELD: self._tenant_field(request)})
        return super().get_form(request, obj, change, **kwargs)

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
