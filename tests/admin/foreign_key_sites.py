"""URLs for the foreign-key tests: the Attachment admin with `autocomplete_fields`, and with a plain select.

The project registers `AttachmentAdmin` with a raw-id field; these two sites register the
same admins, changed only in how the `document` foreign key is rendered (and filtered).
The select site also registers the test app's `Folder`: tenant-owned, with a `parent` key.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from apps.core.admin import SoftDeleteModelAdmin
from apps.documents.admin import AttachmentAdmin, DocumentAdmin
from apps.documents.models import Attachment, Document
from tests.testapp.models import Folder


class AutocompleteAttachmentAdmin(AttachmentAdmin):
    raw_id_fields = []
    autocomplete_fields = ["document"]


class SelectAttachmentAdmin(AttachmentAdmin):
    raw_id_fields = []
    list_filter = ["document"]


class FolderAdmin(SoftDeleteModelAdmin[Folder]):
    """A second tenant-owned model, as a new feature would add it: a key to its own kind, a unique name."""

    fields = ["name", "status", "parent", "labels"]


autocomplete_site = admin.AdminSite(name="autocomplete_admin")
autocomplete_site.register(Document, DocumentAdmin)
autocomplete_site.register(Attachment, AutocompleteAttachmentAdmin)

select_site = admin.AdminSite(name="select_admin")
select_site.register(Document, DocumentAdmin)
select_site.register(Attachment, SelectAttachmentAdmin)
select_site.register(Folder, FolderAdmin)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("autocomplete-admin/", autocomplete_site.urls),
    path("select-admin/", select_site.urls),
]
