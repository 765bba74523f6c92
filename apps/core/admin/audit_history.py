"""The admin "History" page of an audited object: its audit events with field diffs, then the admin log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest, HttpResponse

from apps.core.audit import is_audited
from apps.core.models.audit import AuditEvent

__all__ = ["AUDIT_PAGE_VAR", "AuditHistoryMixin", "DiffRow", "HistoryEntry"]

AUDIT_PAGE_VAR = "audit_page"
AUDIT_EVENTS_PER_PAGE = 50
_SHOWN_VALUE_LENGTH = 200

_M = TypeVar("_M", bound=models.Model)


@dataclass(frozen=True)
class DiffRow:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class HistoryEntry:
    event: AuditEvent
    diff: list[DiffRow]


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    text = str(value)
    return text if len(text) <= _SHOWN_VALUE_LENGTH else text[: _SHOWN_VALUE_LENGTH - 1] + "…"


def history_entries(events: Any) -> list[HistoryEntry]:
    entries = []
    for event in events:
        changes = event.changes if isinstance(event.changes, dict) else {}
        diff = [
            DiffRow(name, _shown(pair[0]), _shown(pair[1]))
            for name, pair in sorted(changes.items())
            if isinstance(pair, list | tuple) and len(pair) == 2
        ]
        entries.append(HistoryEntry(event, diff))
    return entries


class AuditHistoryMixin(admin.ModelAdmin[_M]):
    """Add to any ModelAdmin of an audited model: its History page lists the object's audit events.

    One query for the page of events (newest first, `?audit_page=N`), whatever the number
    of fields changed; Django's own admin log for the object follows below.
    """

    object_history_template = "admin/core/object_history.html"

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        extra = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and is_audited(self.model) and self.has_view_or_change_permission(request, obj):
            events = AuditEvent.objects.for_object(self.model, obj.pk).order_by("-occurred_at", "-id")
            page = Paginator(events, AUDIT_EVENTS_PER_PAGE).get_page(request.GET.get(AUDIT_PAGE_VAR, 1))
            extra.update(
                audited=True,
                audit_page=page,
                audit_entries=history_entries(page.object_list),
                audit_page_var=AUDIT_PAGE_VAR,
            )
        response: HttpResponse = super().history_view(request, object_id, extra)
        return response
