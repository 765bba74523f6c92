"""`GenericModelAdmin[Model]`: ModelAdmin as django-stubs types it (generic), subscriptable at run time too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin

__all__ = ["GenericModelAdmin"]

if TYPE_CHECKING:
    GenericModelAdmin = admin.ModelAdmin
else:

    class GenericModelAdmin(admin.ModelAdmin):
        """At run time ModelAdmin is not generic: accept and ignore `[Model]`."""

        def __class_getitem__(cls, item: Any) -> type:
            return cls
