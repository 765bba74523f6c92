"""The append-only audit log: one row per change, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

__all__ = ["AuditAction", "AuditEvent", "AuditEventQuerySet", "AuditLogIsAppendOnly"]


class AuditLogIsAppendOnly(Exception):
    """Raised on any attempt to change or remove audit history through the ORM."""


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    SOFT_DELETE = "soft_delete", "Soft delete"
    RESTORE = "restore", "Restore"
    HARD_DELETE = "hard_delete", "Hard delete"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_object(self, model: type[models.Model], pk: Any) -> AuditEventQuerySet:
        return self.filter(model_label=model._meta.label_lower, object_pk=str(pk))

    def by_actor(self, actor: str) -> AuditEventQuerySet:
        return self.filter(actor=actor)

    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly("audit events cannot be updated")

    def delete(self) -> NoReturn:
        raise AuditLogIsAppendOnly("audit events cannot be deleted")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly("audit events cannot be updated")


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    model_label = models.CharField(max_length=128)
    object_pk = models.CharField(max_length=64)
    tenant_id = models.UUIDField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    batch = models.UUIDField(null=True, blank=True, help_text="The soft-delete batch this event belongs to.")
    changes = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="{field: [old, new]}")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["model_label", "object_pk", "occurred_at"], name="audit_object_idx"),
            models.Index(fields=["actor", "occurred_at"], name="audit_actor_idx"),
        ]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.action} {self.model_label}:{self.object_pk} by {self.actor or 'unknown'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly("audit events cannot be deleted")
