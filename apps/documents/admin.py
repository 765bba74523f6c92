"""Documents and attachments in the admin: live by default, restorable, audited, tenant-scoped."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.core.admin import SoftDeleteModelAdmin
from apps.documents.models import Attachment, Document

# Admin writes go through the core models, which emit the documents' events and drop their
# cached reads as the services' writes do (apps.documents.effects): nothing to add here.


class AttachmentInline(admin.TabularInline[Attachment, Document]):
    """The live attachments of a document (deleted ones are on the Attachment list, filter "Deleted")."""

    model = Attachment
    fields = ["filename", "content_type", "size_bytes", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]
    extra = 0
    show_change_link = True

    def _parent_deleted(self, obj: Any) -> bool:
        return isinstance(obj, Document) and obj.is_deleted

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._parent_deleted(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._parent_deleted(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._parent_deleted(obj) and super().has_delete_permission(request, obj)


@admin.register(Document)
class DocumentAdmin(SoftDeleteModelAdmin[Document]):
    list_display = ["title", "status", "tenant_id", "updated_at", "updated_by"]
    list_filter = ["status"]
    search_fields = ["title"]
    fields = ["title", "body", "status", "tags"]
    inlines = [AttachmentInline]
    list_per_page = 50


@admin.register(Attachment)
class AttachmentAdmin(SoftDeleteModelAdmin[Attachment]):
    list_display = ["filename", "document", "content_type", "size_bytes", "updated_at"]
    list_select_related = ["document"]  # the document column: one join, not one query per row
    search_fields = ["filename"]
    raw_id_fields = ["document"]
    fields = ["document", "filename", "content_type", "size_bytes"]
    list_per_page = 50
