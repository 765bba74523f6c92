"""`OptimisticLockingAdminMixin`: a change form saved over someone else's newer save is refused, not applied.

The change page carries the row version it was rendered from (`apps.core.versioning`, the
same version the API's ETag names) in a hidden `_row_version` input. On save the row is
locked (`SELECT ... FOR UPDATE`) before the admin reads it, and the form is invalid when the
row's version is no longer the one the page was rendered from: the page comes back with the
staff member's input and a message naming who saved in between; nothing is written.

Templates render the input with `{% include "admin/core/optimistic_locking/row_version.html" %}`
inside the form (the soft-delete change form does). A POST without the input (a script) is
not checked. Only the main row is compared: inline rows are saved with it or not at all.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.formats import date_format
from django.utils.timezone import localtime

from apps.core.models.features import has_timestamps
from apps.core.versioning import ExpectedVersion, version_of

__all__ = ["ROW_VERSION_FIELD", "OptimisticLockingAdminMixin"]

_M = TypeVar("_M", bound=models.Model)

ROW_VERSION_FIELD = "_row_version"


class _RefusesStaleSave(forms.BaseForm):
    """The change form's check: the row (read under its lock) must still be at the version the page showed."""

    instance: models.Model

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        shown = self.data.get(ROW_VERSION_FIELD)
        if shown and not ExpectedVersion.exactly(str(shown)).matches(version_of(self.instance)):
            raise ValidationError(_stale_message(self.instance), code="stale")
        return cleaned


def _stale_message(instance: models.Model) -> str:
    who = getattr(instance, "updated_by", "") or "someone else"
    when = date_format(localtime(instance.updated_at), "DATETIME_FORMAT")  # type: ignore[attr-defined]
    return (
        f"This {instance._meta.verbose_name} was changed by {who} on {when}, after you opened this page, "
        "so your changes were not saved. Open the page again to see that version, then make your changes again."
    )


def _is_versioned(model: type[models.Model]) -> bool:
    return has_timestamps(model)


class OptimisticLockingAdminMixin(admin.ModelAdmin[_M]):
    """Refuses a change form saved over a newer version of its row (see the module docstring)."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if object_id is None or request.method != "POST" or not _is_versioned(self.model):
            return super().changeform_view(request, object_id, form_url, extra_context)
        with transaction.atomic(using=router.db_for_write(self.model)):
            # Locked before Django reads it for the form: the version compared is the one saved over.
            self._lock_row(object_id)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def _lock_row(self, object_id: str) -> None:
        try:
            pk = self.model._meta.pk.to_python(unquote(object_id))
        except (ValidationError, ValueError):
            return  # not a key: Django answers "doesn't exist"
        manager = self.model._base_manager.db_manager(router.db_for_write(self.model))
        list(manager.select_for_update().filter(pk=pk).values_list("pk", flat=True))

    def get_form(self, request: HttpRequest, obj: _M | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None or not _is_versioned(self.model):
            return form
        return type(form.__name__, (_RefusesStaleSave, form), {})

    def render_change_form(  # noqa: PLR0917 - Django's signature
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: _M | None = None,
    ) -> Any:
        if obj is not None and _is_versioned(self.model):
            # A page shown again after a refused or invalid save keeps the version its input was based on.
            context["row_version"] = request.POST.get(ROW_VERSION_FIELD) or version_of(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)
