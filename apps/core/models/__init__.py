"""Abstract model mixins and the audit log model."""

from apps.core.models.audit import AuditAction, AuditEvent, AuditLogIsAppendOnly
from apps.core.models.mixins import (
    AuditColumnsMixin,
    CoreModel,
    IntegerPKMixin,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    UUIDPKMixin,
    UUIDv7PKMixin,
    unique_for_alive_rows,
)

__all__ = [
    "AuditAction",
    "AuditColumnsMixin",
    "AuditEvent",
    "AuditLogIsAppendOnly",
    "CoreModel",
    "IntegerPKMixin",
    "SoftDeleteMixin",
    "TenantMixin",
    "TimestampMixin",
    "UUIDPKMixin",
    "UUIDv7PKMixin",
    "unique_for_alive_rows",
]
