"""Settings make the generic classes django-stubs declares subscriptable at run time (`django_stubs_ext`)."""

from __future__ import annotations

from django.contrib import admin

from apps.documents.models import Document


def test_model_admin_is_subscriptable_at_run_time() -> None:
    # The admin mixins subclass `admin.ModelAdmin[_M]` as mypy sees it; without the patch this is a TypeError.
    assert admin.ModelAdmin[Document] is admin.ModelAdmin
