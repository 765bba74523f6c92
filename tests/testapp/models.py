"""Models that exercise every combination and relation rule of the core mixins (tests only)."""

from __future__ import annotations

from django.db import models

from apps.core.models import (
    AuditColumnsMixin,
    IntegerPKMixin,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    UUIDPKMixin,
    UUIDv7PKMixin,
    unique_for_alive_rows,
)


class Label(IntegerPKMixin, TimestampMixin, SoftDeleteMixin):
    name = models.CharField(max_length=50)


class Folder(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin, TenantMixin):
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="draft")
    due_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="subfolders")
    labels = models.ManyToManyField(Label, blank=True, related_name="folders")

    class Meta:
        constraints = [unique_for_alive_rows("tenant_id", "name", name="folder_name_alive_unique")]
        indexes = [models.Index(fields=["-created_at", "-id"], name="folder_created_keyset")]


class Note(UUIDPKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin):
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField(default="")


class Comment(IntegerPKMixin, AuditColumnsMixin, SoftDeleteMixin):
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField(default="")


class Retention(IntegerPKMixin, SoftDeleteMixin):
    """Blocks deleting its folder while it is alive."""

    folder = models.ForeignKey(Folder, on_delete=models.PROTECT, related_name="retentions")


class Pin(IntegerPKMixin):
    """Not soft-deletable: stays when its folder is soft-deleted, goes on a hard delete."""

    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="pins")


class Plain(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin):
    """Audited but not soft-deletable."""

    value = models.IntegerField(default=0)


class Counter(IntegerPKMixin, TimestampMixin, AuditColumnsMixin):
    """Integer keys numbered by the database, a plain unique key: the upsert's other shape."""

    key = models.CharField(max_length=50, unique=True)
    value = models.IntegerField(default=0)


class Reading(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin):
    """Audited values of every encoding the audit log normalises: timestamps, UUIDs, decimals, JSON."""

    taken_at = models.DateTimeField(null=True, blank=True)
    source = models.UUIDField(null=True, blank=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    payload = models.JSONField(null=True, blank=True)
