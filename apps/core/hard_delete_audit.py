"""Audit events for hard deletes, including rows Django's collector cascades to."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.signals import post_delete
from django.utils import timezone

from apps.core.audit import AuditRecord, is_audited, record
from apps.core.models.audit import AuditAction

__all__ = ["connect_hard_delete_audit"]


def _record_hard_delete(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    values = {field.attname: getattr(instance, field.attname) for field in sender._meta.concrete_fields}
    item = AuditRecord(instance.pk, {name: [value, None] for name, value in values.items()}, values.get("tenant_id"))
    record(sender, AuditAction.HARD_DELETE, [item], occurred_at=timezone.now(), using=using)


def connect_hard_delete_audit() -> None:
    """Called once from `CoreConfig.ready()`: one receiver per audited model."""
    for model in apps.get_models():
        if is_audited(model):
            post_delete.connect(
                _record_hard_delete, sender=model, dispatch_uid=f"audit-hard-delete-{model._meta.label}"
            )
