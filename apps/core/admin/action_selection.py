"""`ValidSelectionMixin`: an admin action posted with a malformed id changes nothing and says so.

Django filters the list by the posted ids (`_selected_action`) before any action runs;
an id its primary key cannot parse (`not-a-uuid` for a UUID key) raises there, and the
crafted POST would answer with a server error.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

__all__ = ["ValidSelectionMixin"]

_M = TypeVar("_M", bound=models.Model)


class ValidSelectionMixin(admin.ModelAdmin[_M]):
    """Refuses the whole selection of an action if one posted id is not a valid key."""

    def response_action(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
            try:
                self.opts.pk.to_python(value)
            except ValidationError:
                message = f"Nothing was changed: the selection holds an invalid {self.opts.verbose_name} id."
                self.message_user(request, message, messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
        response: HttpResponse | None = super().response_action(request, queryset)
        return response
