"""`SoftDeleteModelAdmin`: the admin of a soft-deletable model, where staff see, delete and recover data.

- The list shows live rows by default; the "Deletion state" filter switches to deleted
  rows or all rows. Deleted rows are marked (and highlighted) with who deleted them, when.
- Deleting (action or the object's Delete button) soft-deletes set-based, with the
  soft-delete cascade listed on the confirmation page; `deleted_by` is the admin user.
- "Restore selected" (and an object's "Restore…" button) lists exactly the rows that will
  come back (the selected deleted rows and what their own delete cascaded), and offers,
  as a separate choice, to restore their whole delete batches when those hold more rows.
  Only rows the admin's (tenant-scoped) queryset shows are restored, with their cascade.
  It needs the `<app>.restore_<model>` permission and is not offered without it.
- "Delete permanently" works only on deleted rows and needs `<app>.hard_delete_<model>`:
  every posted id is checked on the server, under a row lock, and one live, foreign or
  missing row refuses the whole purge.
- Restores and hard deletes are written to the admin log (LogEntry) and to the audit log.
- A deleted row's change page is read-only until it is restored.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import models, router, transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from apps.core.admin.action_selection import ValidSelectionMixin
from apps.core.admin.audit_history import AuditHistoryMixin
from apps.core.admin.cascade_listing import (
    CascadeListing,
    hard_delete_listing,
    restore_listing,
    soft_delete_listing,
)
from apps.core.admin.estimated_count import LargeTableAdminMixin
from apps.core.admin.optimistic_locking import OptimisticLockingAdminMixin
from apps.core.admin.tenant_scoped_admin import TenantScopedAdminMixin
from apps.core.context import acting_as, actor_for_user
from apps.core.errors import Conflict
from apps.core.querysets import has_field

__all__ = ["AUDIT_FIELDS", "DeletionStateFilter", "SoftDeleteModelAdmin", "acting_as_admin_user"]

_M = TypeVar("_M", bound=models.Model)

# Stamped by apps.core from the acting user; never edited by hand.
AUDIT_FIELDS = (
    "id",
    "tenant_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "deleted_at",
    "deleted_by",
    "delete_batch",
)
CONFIRMED = "post"
WHOLE_BATCHES = "whole_batches"


def acting_as_admin_user(request: HttpRequest) -> Any:
    """Attribute the writes of an admin view to `admin:<username>` (explicitly, not via the request scope)."""
    return acting_as(actor_for_user(request.user))


class DeletionStateFilter(admin.SimpleListFilter):
    """Alive (the default) / Deleted / All."""

    title = "deletion state"
    parameter_name = "state"
    ALIVE, DELETED, ALL = "alive", "deleted", "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.DELETED, "Deleted"), (self.ALL, "All")]

    def choices(self, changelist: Any) -> Any:
        current = self.value() or self.ALIVE
        for value, label in ((self.ALIVE, "Alive"), (self.DELETED, "Deleted"), (self.ALL, "All")):
            query = {self.parameter_name: value} if value != self.ALIVE else {}
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string(query, [self.parameter_name] if not query else []),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if value == self.ALL:
            return queryset
        if value == self.DELETED:
            return queryset.deleted()
        return queryset.alive()


def _user_id(request: HttpRequest) -> int | str:
    user_id = request.user.pk
    if user_id is None:  # admin views are behind login: never anonymous here
        raise PermissionDenied
    return user_id


def _summary(counts: dict[str, int], first: type[models.Model]) -> str:
    """`1 document, 2 attachments`: the model acted on first, then the cascade."""
    parts = []
    for label, count in sorted(counts.items(), key=lambda item: item[0] != first._meta.label):
        opts = apps.get_model(label)._meta
        parts.append(f"{count} {opts.verbose_name if count == 1 else opts.verbose_name_plural}")
    return ", ".join(parts) or "nothing"


class SoftDeleteModelAdmin(
    OptimisticLockingAdminMixin[_M],
    ValidSelectionMixin[_M],
    AuditHistoryMixin[_M],
    TenantScopedAdminMixin[_M],
    LargeTableAdminMixin[_M],
):
    """Base ModelAdmin for models with `SoftDeleteMixin` (see the module docstring)."""

    actions = ["restore_selected", "hard_delete_selected"]
    change_form_template = "admin/core/soft_delete/change_form.html"
    delete_confirmation_template = "admin/core/soft_delete/delete_confirmation.html"
    delete_selected_confirmation_template = "admin/core/soft_delete/delete_selected_confirmation.html"
    cascade_confirmation_template = "admin/core/soft_delete/cascade_confirmation.html"

    class Media:
        css = {"all": ["core/admin/soft_delete.css"]}

    # --- what is listed -------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> Any:
        # Deleted rows too: their change, history and restore pages need them; the list filter hides them.
        return super().get_queryset(request).with_deleted()  # type: ignore[attr-defined]

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        return shown if "deletion_state" in shown else [*shown, "deletion_state"]

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = list(super().get_list_filter(request))
        return filters if DeletionStateFilter in filters else [DeletionStateFilter, *filters]

    def get_readonly_fields(self, request: HttpRequest, obj: _M | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields  # nothing is stamped yet; the add form asks for the tenant instead
        return fields + [name for name in AUDIT_FIELDS if name not in fields and has_field(self.model, name)]

    def get_fieldsets(self, request: HttpRequest, obj: _M | None = None) -> Any:
        if self.fieldsets or obj is None:
            return super().get_fieldsets(request, obj)
        # The data first, then the stamps apps.core keeps (read-only) in their own section.
        fields = list(self.get_fields(request, obj))
        stamps = [name for name in AUDIT_FIELDS if has_field(self.model, name)]
        data = [name for name in fields if name not in stamps]
        return [(None, {"fields": data}), ("Record", {"fields": stamps})]

    @admin.display(description="Deleted", ordering="deleted_at")
    def deletion_state(self, obj: _M) -> SafeString | str:
        deleted_at = getattr(obj, "deleted_at", None)
        if deleted_at is None:
            return "—"
        return format_html(
            '<span class="soft-deleted" title="delete batch {}">Deleted by {} on {}</span>',
            getattr(obj, "delete_batch", ""),
            getattr(obj, "deleted_by", "") or "unknown",
            date_format(localtime(deleted_at), "DATETIME_FORMAT"),
        )

    # --- permissions ------------------------------------------------------------------------

    def _perm(self, action: str) -> str:
        return f"{self.opts.app_label}.{action}_{self.opts.model_name}"

    def has_restore_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return bool(request.user.has_perm(self._perm("restore")))

    def has_hard_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return bool(request.user.has_perm(self._perm("hard_delete")))

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        if obj is not None and getattr(obj, "deleted_at", None) is not None:
            return False  # a deleted row is shown read-only; restore it to edit it
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        if obj is not None and getattr(obj, "deleted_at", None) is not None:
            return False  # already deleted: "Delete permanently" is the hard delete
        return super().has_delete_permission(request, obj)

    # --- writes, attributed to the admin user ------------------------------------------------

    # The admin writes through the models: their declared side effects (apps.core.side_effects)
    # emit the events and invalidate the cached reads, as for a service's write.

    def save_model(self, request: HttpRequest, obj: _M, form: Any, change: bool) -> None:
        with acting_as_admin_user(request):
            super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        with acting_as_admin_user(request):
            super().save_related(request, form, formsets, change)

    def delete_model(self, request: HttpRequest, obj: _M) -> None:
        with acting_as_admin_user(request):
            obj.delete()  # soft: this row and its soft-deletable cascade, one batch

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[_M]) -> None:
        with acting_as_admin_user(request):
            queryset.delete()  # soft and set-based: one UPDATE per model of the cascade

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        rows = [obj for obj in queryset if getattr(obj, "deleted_at", None) is None]
        return LogEntry.objects.log_actions(
            user_id=_user_id(request), queryset=rows, action_flag=DELETION, change_message="Soft-deleted (restorable)"
        )

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, Any, Any]:
        """What the delete confirmation lists: the soft-delete cascade, not Django's hard-delete collector."""
        queryset = (
            objs
            if isinstance(objs, models.QuerySet)
            else self.get_queryset(request).filter(pk__in=[obj.pk for obj in objs])
        )
        listing = soft_delete_listing(queryset, self.admin_site)
        return listing.flat(), listing.model_count(), set(), listing.protected

    # --- restore ------------------------------------------------------------------------------

    @admin.action(description="Restore selected %(verbose_name_plural)s", permissions=["restore"])
    def restore_selected(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        deleted = queryset.deleted()
        if request.POST.get(CONFIRMED) == "yes":
            self._restore(request, deleted, whole_batches=request.POST.get(WHOLE_BATCHES) == "yes")
            return None
        return self._restore_confirmation(request, deleted, action="restore_selected")

    def restore_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._missing(request, object_id)
        if not self.has_restore_permission(request, obj):
            raise PermissionDenied
        deleted = self.get_queryset(request).filter(pk=obj.pk).deleted()
        if request.method == "POST" and request.POST.get(CONFIRMED) == "yes":
            self._restore(request, deleted, whole_batches=request.POST.get(WHOLE_BATCHES) == "yes")
            return HttpResponseRedirect(self._change_url(obj))
        return self._restore_confirmation(request, deleted, action=None)

    def _restore_confirmation(self, request: HttpRequest, deleted: Any, *, action: str | None) -> HttpResponse:
        listing = restore_listing(deleted, self.admin_site)
        whole_batches = restore_listing(deleted, self.admin_site, whole_batches=True)
        return self._confirmation(
            request,
            kind="restore",
            title=f"Restore {self.opts.verbose_name_plural}",
            intro="These rows will come back: the selected ones and what their own delete removed with them:",
            listing=listing,
            selected=list(deleted.values_list("pk", flat=True)),
            action=action,
            confirm_label="Yes, restore them",
            # Offered only when it is a different choice: other rows were deleted in the same calls.
            whole_batch_listing=whole_batches if whole_batches.total > listing.total else None,
        )

    def _restore(self, request: HttpRequest, deleted: Any, *, whole_batches: bool) -> None:
        roots = list(deleted)
        if not roots:
            self.message_user(
                request, f"None of the selected {self.opts.verbose_name_plural} is deleted.", messages.WARNING
            )
            return
        scope = "with its whole delete batch" if whole_batches else "with what its delete removed"
        try:
            with transaction.atomic(using=router.db_for_write(self.model)), acting_as_admin_user(request):
                counts = deleted.restore(whole_batches=whole_batches)
                summary = _summary(counts, self.model)
                LogEntry.objects.log_actions(
                    user_id=_user_id(request),
                    queryset=roots,
                    action_flag=CHANGE,
                    change_message=f"Restored {scope}: {summary}",
                )
        except Conflict as error:
            self.message_user(request, f"Nothing was restored. {error.detail}", messages.ERROR)
            return
        self.message_user(request, f"Restored {summary}.", messages.SUCCESS)

    # --- hard delete --------------------------------------------------------------------------

    @admin.action(description="Delete selected %(verbose_name_plural)s permanently", permissions=["hard_delete"])
    def hard_delete_selected(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        chosen, expected = self._selection(request, queryset)
        if request.POST.get(CONFIRMED) == "yes":
            self._hard_delete(request, chosen, expected)
            return None
        roots = list(chosen)
        if self._refuse_hard_delete(request, roots, expected):
            return None
        return self._hard_delete_confirmation(request, roots, action="hard_delete_selected")

    def hard_delete_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._missing(request, object_id)
        if not self.has_hard_delete_permission(request, obj):
            raise PermissionDenied
        chosen = self.get_queryset(request).filter(pk=obj.pk)
        if request.method == "POST" and request.POST.get(CONFIRMED) == "yes":
            if self._hard_delete(request, chosen, expected=1):
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:{self._urlname('changelist')}"))
            return HttpResponseRedirect(self._change_url(obj))
        roots = list(chosen)
        if self._refuse_hard_delete(request, roots, expected=1):
            return HttpResponseRedirect(self._change_url(obj))
        return self._hard_delete_confirmation(request, roots, action=None)

    def _selection(self, request: HttpRequest, queryset: Any) -> tuple[Any, int | None]:
        """The rows an action was asked to act on, and how many ids were posted (None: "select all").

        Every posted id counts, whatever the list filter showed: Django's action queryset
        silently drops ids the list does not show, and a hard delete must not skip them.
        """
        select_across = self.action_form.base_fields["select_across"]  # read as Django's action form reads it
        if select_across.clean(request.POST.get("select_across")):
            return queryset, None
        # Parsed (response_action refused malformed ones): two spellings of one id are one row.
        ids = {self.opts.pk.to_python(value) for value in request.POST.getlist(ACTION_CHECKBOX_NAME)}
        return self.get_queryset(request).filter(pk__in=ids), len(ids)

    def _refuse_hard_delete(self, request: HttpRequest, roots: list[_M], expected: int | None) -> bool:
        """Refuse (and say why) unless every selected row exists here and is deleted."""
        total = len(roots) if expected is None else expected
        missing = total - len(roots)
        refused = missing + sum(1 for obj in roots if getattr(obj, "deleted_at", None) is None)
        if not refused:
            return False
        plural = self.opts.verbose_name_plural
        # Another tenant's row reads as a missing one: the message must not tell them apart.
        if refused == 1:
            state = "is not deleted or does not exist" if missing else "is not deleted"
        else:
            state = "are not deleted or do not exist" if missing else "are not deleted"
        message = (
            f"Nothing was deleted permanently: {refused} of the {total} selected {plural} {state}. "
            f"Only deleted {plural} can be deleted permanently."
        )
        self.message_user(request, message, messages.ERROR)
        return True

    def _hard_delete_confirmation(self, request: HttpRequest, roots: list[_M], *, action: str | None) -> HttpResponse:
        listing = hard_delete_listing(roots, self.model, self.admin_site, request.user)
        return self._confirmation(
            request,
            kind="hard_delete",
            title=f"Delete {self.opts.verbose_name_plural} permanently",
            intro="These rows will be removed from the database for good. This cannot be undone:",
            listing=listing,
            selected=[obj.pk for obj in roots],
            action=action,
            confirm_label="Yes, delete them permanently",
        )

    def _hard_delete(self, request: HttpRequest, chosen: Any, expected: int | None) -> bool:
        pks = list(chosen.values_list("pk", flat=True))
        try:
            with transaction.atomic(using=router.db_for_write(self.model)), acting_as_admin_user(request):
                # Locked, then checked: a restore committed meanwhile is seen here, not purged.
                locked = self.get_queryset(request).filter(pk__in=pks).select_for_update(of=("self",))
                roots = list(locked.order_by("pk"))
                if self._refuse_hard_delete(request, roots, len(pks) if expected is None else expected):
                    return False
                if hard_delete_listing(roots, self.model, self.admin_site, request.user).perms_lacking:
                    raise PermissionDenied
                LogEntry.objects.log_actions(
                    user_id=_user_id(request),
                    queryset=roots,
                    action_flag=DELETION,
                    change_message="Deleted permanently (hard delete)",
                )
                _total, counts = self.get_queryset(request).filter(pk__in=pks).hard_delete()
        except (ProtectedError, RestrictedError) as error:
            self.message_user(request, f"Nothing was deleted: {error.args[0]}", messages.ERROR)
            return False
        self.message_user(request, f"Permanently deleted {_summary(counts, self.model)}.", messages.SUCCESS)
        return True

    # --- pages ----------------------------------------------------------------------------------

    def _missing(self, request: HttpRequest, object_id: str) -> HttpResponse:
        # Django's own "doesn't exist. Perhaps it was deleted?" message and redirect (not in the stubs).
        response: HttpResponse = self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        return response

    def _urlname(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def _change_url(self, obj: _M) -> str:
        return reverse(f"{self.admin_site.name}:{self._urlname('change')}", args=[quote(obj.pk)])

    def _confirmation(
        self,
        request: HttpRequest,
        *,
        kind: str,
        title: str,
        intro: str,
        listing: CascadeListing,
        selected: list[Any],
        action: str | None,
        confirm_label: str,
        whole_batch_listing: CascadeListing | None = None,
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "kind": kind,
            "intro": intro,
            "listing": listing,
            "selected": selected,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "confirm_label": confirm_label,
            "whole_batch_listing": whole_batch_listing,
            "whole_batches_name": WHOLE_BATCHES,
            "opts": self.opts,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.cascade_confirmation_template, context)

    def render_change_form(  # noqa: PLR0917 - Django's signature
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: _M | None = None,
    ) -> Any:
        if obj is not None and getattr(obj, "deleted_at", None) is not None:
            context.update(
                soft_deleted=True,
                deleted_by=getattr(obj, "deleted_by", "") or "unknown",
                deleted_at=getattr(obj, "deleted_at", None),
                can_restore=self.has_restore_permission(request, obj),
                can_hard_delete=self.has_hard_delete_permission(request, obj),
                restore_url=reverse(f"{self.admin_site.name}:{self._urlname('restore')}", args=[quote(obj.pk)]),
                hard_delete_url=reverse(f"{self.admin_site.name}:{self._urlname('hard_delete')}", args=[quote(obj.pk)]),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[URLPattern]:
        # Before the default ones: `<path:object_id>/` would swallow these.
        extra = [
            path(
                "<path:object_id>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name=self._urlname("restore"),
            ),
            path(
                "<path:object_id>/hard-delete/",
                self.admin_site.admin_view(self.hard_delete_view),
                name=self._urlname("hard_delete"),
            ),
        ]
        return [*extra, *super().get_urls()]
