"""Documents and their attachments: UUIDv7 keys, timestamps, audit columns, soft delete, tenancy."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.models import (
    AuditColumnsMixin,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    UUIDv7PKMixin,
    unique_for_alive_rows,
)
from apps.core.validators import StorableJSONDecoder, validate_storable_text

__all__ = ["Attachment", "Document", "DocumentStatus"]


class DocumentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class Document(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin, TenantMixin):
    # The validator makes NUL and lone surrogates a form error in the admin (the API refuses them too).
    title = models.CharField(max_length=200, validators=[validate_storable_text])
    body = models.TextField(blank=True, default="", validators=[validate_storable_text])
    status = models.CharField(max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.DRAFT)
    tags = models.JSONField(default=list, blank=True, decoder=StorableJSONDecoder, validators=[validate_storable_text])

    class Meta:
        constraints = [unique_for_alive_rows("tenant_id", "title", name="document_title_unique_alive")]
        indexes = [
            # Keyset pagination range-scans these: (tenant, ordering field, id) over live rows.
            models.Index(
                fields=["tenant_id", "-created_at", "-id"], name="document_created_keyset", condition=Q(deleted_at=None)
            ),
            models.Index(
                fields=["tenant_id", "-updated_at", "-id"], name="document_updated_keyset", condition=Q(deleted_at=None)
            ),
            models.Index(
                fields=["tenant_id", "title", "id"], name="document_title_keyset", condition=Q(deleted_at=None)
            ),
        ]
        permissions = [
            ("restore_document", "Can restore deleted documents"),
            ("hard_delete_document", "Can permanently delete documents"),
        ]

    def __str__(self) -> str:
        return self.title


class Attachment(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin):
    """A child of a document: soft-deleted and restored with it (one delete batch)."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    size_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        permissions = [
            ("restore_attachment", "Can restore deleted attachments"),
            ("hard_delete_attachment", "Can permanently delete attachments"),
        ]

    def __str__(self) -> str:
        return self.filename
