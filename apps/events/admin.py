"""The outbox in the admin: read-only rows, filters by status and type, and a replay action for dead ones."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from apps.core.admin import ValidSelectionMixin
from apps.events.dead_letters import replay_dead_rows
from apps.events.models import OutboxEvent, OutboxStatus
from apps.events.relay import relay_outbox


@admin.register(OutboxEvent)
class OutboxEventAdmin(ValidSelectionMixin[OutboxEvent], admin.ModelAdmin[OutboxEvent]):
    list_display = ["id", "event_type", "aggregate", "aggregate_id", "status", "attempts", "occurred_at", "sent_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["=id", "event_type", "aggregate_id", "request_id", "actor"]
    date_hierarchy = "occurred_at"
    actions = ["replay_dead"]
    list_per_page = 50
    show_full_result_count = False  # the outbox grows: no COUNT(*) over it on every page

    def get_readonly_fields(self, request: HttpRequest, obj: OutboxEvent | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events are written by services, in the transaction of their change

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False  # purging dead letters is `manage.py events_dead_letters --purge`

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("events.change_outboxevent"))

    @admin.action(description="Replay selected dead events", permissions=["replay"])
    def replay_dead(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        ids = set(queryset.filter(status=OutboxStatus.DEAD).values_list("pk", flat=True))
        replayed = replay_dead_rows(ids)
        report = relay_outbox(ids=replayed) if replayed else None
        skipped = queryset.count() - len(replayed)
        message = f"{len(replayed)} dead event(s) made pending again"
        if report is not None:
            message += f"; relayed now: {report.sent} sent"
            if report.broker_unavailable:
                message += " (broker unavailable: the periodic relay will send them)"
        if skipped:
            message += f"; {skipped} selected event(s) were not dead and were left alone"
        self.message_user(request, message, messages.SUCCESS)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Read-only: the change page is a detail view with no save buttons.
        extra = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        extra["show_save_and_add_another"] = False
        return super().changeform_view(request, object_id, form_url, extra)
