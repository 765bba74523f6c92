"""Documents and attachments in the admin: live by default, restorable, audited, tenant-scoped."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.caching import invalidate_tags
from apps.core.admin import SoftDeleteModelAdmin
from apps.documents.models import Attachment, Document
from apps.documents.selectors import DETAIL_TAG, LIST_TAG


class _InvalidatesDocumentReads:
    """Admin writes skip the services, so they drop the cached document reads themselves.

    A restore or a delete may touch a whole batch of documents: every cached list and
    detail goes (admin writes are rare; a stale read served to the API is not).
    """

    def data_changed(self, request: HttpRequest) -> None:
        invalidate_tags([LIST_TAG, DETAIL_TAG])


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
class DocumentAdmin(_InvalidatesDocumentReads, SoftDeleteModelAdmin[Document]):
    list_display = ["title", "status", "tenant_id", "updated_at", "updated_by"]
    list_filter = ["status"]
    search_fields = ["title"]
    fields = ["title", "body", "status", "tags"]
    inlines = [AttachmentInline]
    list_per_page = 50


@admin.register(Attachment)
class AttachmentAdmin(_InvalidatesDocumentReads, SoftDeleteModelAdmin[Attachment]):
    list_display = ["filename", "document", "content_type", "size_bytes", "updated_at"]
    list_select_related = ["document"]  # the document column: one join, not one query per row
    search_fields = ["filename"]
    raw_id_fields = ["document"]
    fields = ["document", "filename", "content_type", "size_bytes"]
    list_per_page = 50
