"""One predicate per data-layer feature: ask these, never a field name or a class attribute.

A model has a feature exactly when it has the feature's mixin (`apps.core.models.mixins`);
tenancy also reaches through a required `CASCADE` parent (`apps.core.tenant_ownership`).

    is_soft_deletable(Folder)   # SoftDeleteMixin: delete() hides, restore() brings back
    is_audited(Folder)          # AuditColumnsMixin: every change writes an AuditEvent
    has_timestamps(Folder)      # TimestampMixin: created_at / updated_at
    is_tenant_owned(Attachment) # own tenant_id, or its document's
"""

from __future__ import annotations

from django.db import models

# The module, not its classes: `mixins` imports the querysets, which ask these predicates.
from apps.core.models import mixins
from apps.core.tenant_ownership import is_tenant_owned

__all__ = ["has_timestamps", "is_audited", "is_soft_deletable", "is_tenant_owned"]


def _has(model: type[models.Model], mixin: type[models.Model]) -> bool:
    return isinstance(model, type) and issubclass(model, mixin)


def is_soft_deletable(model: type[models.Model]) -> bool:
    return _has(model, mixins.SoftDeleteMixin)


def is_audited(model: type[models.Model]) -> bool:
    return _has(model, mixins.AuditColumnsMixin)


def has_timestamps(model: type[models.Model]) -> bool:
    return _has(model, mixins.TimestampMixin)
