"""The audit log in the admin: searchable, filterable, linked to the objects, and strictly read-only.

Nobody adds, changes or deletes an `AuditEvent` here, superusers included (the log is
append-only in the ORM and, on PostgreSQL, in the database itself). Viewing needs
`core.view_auditevent`; staff limited to tenants see only their tenants' events.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.core.admin.audit_history import history_entries
from apps.core.admin.estimated_count import LargeTableAdminMixin
from apps.core.admin.tenant_scoped_admin import TenantScopedAdminMixin
from apps.core.audit import is_audited
from apps.core.models.audit import AuditEvent

__all__ = ["AuditEventAdmin", "AuditedModelFilter"]


class AuditedModelFilter(admin.SimpleListFilter):
    """Filter by model from the audited models themselves, never a `SELECT DISTINCT` over the log."""

    title = "model"
    parameter_name = "model_label"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        models = sorted((m for m in apps.get_models() if is_audited(m)), key=lambda m: m._meta.label_lower)
        return [(m._meta.label_lower, m._meta.label) for m in models]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        return queryset.filter(model_label=value) if value else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedAdminMixin[AuditEvent], LargeTableAdminMixin[AuditEvent]):
    list_display = ["occurred_at", "action", "model_label", "object_link", "actor", "tenant_id", "request_id"]
    list_filter = ["action", AuditedModelFilter]
    # Exact lookups only: each is served by an index, whatever the size of the log.
    search_fields = ["=actor", "=object_pk", "=request_id"]
    search_help_text = "Exact actor (e.g. admin:alice), object id or request id."
    list_per_page = 50
    actions: Any = None
    readonly_fields = [
        "occurred_at",
        "action",
        "model_label",
        "object_link",
        "actor",
        "tenant_id",
        "request_id",
        "batch",
        "changes_table",
    ]

    def get_fields(self, request: HttpRequest, obj: AuditEvent | None = None) -> Any:
        return list(self.readonly_fields)  # every field shown read-only, the diff as a table

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    @admin.display(description="object")
    def object_link(self, event: AuditEvent) -> SafeString | str:
        try:
            model = apps.get_model(event.model_label)
        except (LookupError, ValueError):
            return event.object_pk
        if model not in self.admin_site._registry:
            return event.object_pk
        try:
            url = reverse(
                f"{self.admin_site.name}:{model._meta.app_label}_{model._meta.model_name}_change",
                args=[quote(event.object_pk)],
            )
        except NoReverseMatch:
            return event.object_pk
        return format_html('<a href="{}">{}</a>', url, event.object_pk)

    @admin.display(description="changes")
    def changes_table(self, event: AuditEvent) -> SafeString:
        rows = history_entries([event])[0].diff
        body = format_html_join(
            "", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", ((r.field, r.old, r.new) for r in rows)
        )
        return format_html(
            '<table class="audit-diff"><thead><tr><th>field</th><th>before</th><th>after</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            body,
        )
