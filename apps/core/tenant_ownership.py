"""Which models belong to a tenant, and the lookup from one of their rows to its tenant id.

A model is tenant-owned when it has the `tenant_id` column (`TenantMixin`) or when it
belongs to a tenant-owned parent through a required `CASCADE` foreign key (an
attachment of a document): such a row lives and dies with its parent, so it is the
parent's tenant's data. Every rule that depends on tenancy asks `tenant_lookup()`.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.deletion import CASCADE

__all__ = ["TENANT_FIELD", "has_tenant_column", "is_tenant_owned", "own_tenant", "tenant_lookup"]

TENANT_FIELD = "tenant_id"


def has_tenant_column(model: type[models.Model]) -> bool:
    """The model stores its tenant itself (`TenantMixin`): the column audit events copy."""
    try:
        model._meta.get_field(TENANT_FIELD)
    except FieldDoesNotExist:
        return False
    return True


def own_tenant(obj: models.Model) -> uuid.UUID | None:
    """The tenant a row stores itself (what its audit events copy); `None` for a model without the column."""
    tenant: uuid.UUID | None = getattr(obj, TENANT_FIELD) if has_tenant_column(type(obj)) else None
    return tenant


def _lookup(model: type[models.Model], visited: frozenset[type[models.Model]]) -> str | None:
    if has_tenant_column(model):
        return TENANT_FIELD
    for field in model._meta.concrete_fields:
        parent = field.related_model
        if (
            isinstance(field, models.ForeignKey)
            and not field.null
            and field.remote_field.on_delete is CASCADE
            and isinstance(parent, type)
            and parent not in visited
        ):
            path = _lookup(parent, visited | {model})
            if path is not None:
                return f"{field.name}__{path}"
    return None


_LOOKUPS: dict[type[models.Model], str | None] = {}  # models are fixed once the app registry is ready


def tenant_lookup(model: type[models.Model]) -> str | None:
    """`"tenant_id"`, `"document__tenant_id"` for a child owned through its parent, or `None`."""
    if model not in _LOOKUPS:
        _LOOKUPS[model] = _lookup(model, frozenset({model}))
    return _LOOKUPS[model]


def is_tenant_owned(model: type[models.Model]) -> bool:
    """Rows belong to a tenant: their own column or a required CASCADE parent's (the one predicate)."""
    return tenant_lookup(model) is not None
