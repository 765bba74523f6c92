"""Each mixin owns its rule through hooks chained with super(): any order and any subset compose.

The models built here under `isolate_apps` are unknown to django-stubs (it reads the app registry), so it
cannot merge the mixins' `_default_manager`s into one per model: those class lines ignore that `misc` error.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, models
from django.test.utils import isolate_apps

from apps.core.context import acting_as, in_tenant
from apps.core.models import (
    AuditColumnsMixin,
    CoreModel,
    IntegerPKMixin,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    UUIDv7PKMixin,
)

TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000a")
EVERY_FROZEN = {"created_at", "created_by", "deleted_at", "deleted_by", "delete_batch", "tenant_id"}


@isolate_apps("tests.testapp")
def test_the_spec_order_and_its_reverse_apply_every_rule() -> None:
    class Invoice(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin, TenantMixin):  # type: ignore[misc]  # see the docstring
        class Meta:
            app_label = "testapp"

    class Reversed(TenantMixin, SoftDeleteMixin, AuditColumnsMixin, TimestampMixin, IntegerPKMixin):  # type: ignore[misc]  # see the docstring
        class Meta:
            app_label = "testapp"

    for model in (Invoice, Reversed):
        assert model.fields_frozen_on_save() == EVERY_FROZEN, model
        assert set(model.update_stamps()) == {"updated_at", "updated_by"}, model
        row = model()
        with acting_as("user:alice"), in_tenant(TENANT):
            row.stamp_for_create()
        assert row.created_at is not None
        assert row.updated_at == row.created_at
        assert (row.created_by, row.updated_by, row.tenant_id) == ("user:alice", "user:alice", TENANT)


@isolate_apps("tests.testapp")
def test_a_mixin_contributes_only_its_own_rule() -> None:
    class Stamped(IntegerPKMixin, TimestampMixin):  # type: ignore[misc]  # see the docstring
        class Meta:
            app_label = "testapp"

    class Owned(IntegerPKMixin, TenantMixin):  # type: ignore[misc]  # see the docstring
        class Meta:
            app_label = "testapp"

    assert Stamped.fields_frozen_on_save() == {"created_at"}
    assert set(Stamped.update_stamps()) == {"updated_at"}
    assert Owned.fields_frozen_on_save() == {"tenant_id"}
    assert Owned.update_stamps() == {}
    owned = Owned(tenant_id=TENANT)
    with in_tenant(uuid.uuid4()):
        owned.stamp_for_create()
    assert owned.tenant_id == TENANT, "a tenant the caller set is kept"


class _ReviewedMixin(CoreModel):
    """A team's own rule, as docs/data-layer.md shows it: every update resets the review, the first reviewer stays."""

    review_state = models.CharField(max_length=20, default="unreviewed")
    first_reviewer = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        abstract = True
        app_label = "testapp"

    @classmethod
    def update_stamps(cls) -> dict[str, object]:
        return {**super().update_stamps(), "review_state": "unreviewed"}

    @classmethod
    def fields_frozen_on_save(cls) -> frozenset[str]:
        return super().fields_frozen_on_save() | {"first_reviewer"}


@isolate_apps("tests.testapp")
def test_a_project_mixin_extends_the_same_hooks() -> None:
    class Entry(IntegerPKMixin, _ReviewedMixin, AuditColumnsMixin):  # type: ignore[misc]  # see the docstring
        class Meta:
            app_label = "testapp"

    assert Entry.fields_frozen_on_save() == {"created_by", "first_reviewer"}
    with acting_as("user:bob"):
        assert Entry.update_stamps() == {"review_state": "unreviewed", "updated_by": "user:bob"}


@pytest.mark.django_db(transaction=True)  # a table made for this test: no surrounding transaction on SQLite
@isolate_apps("tests.testapp")
def test_a_project_mixin_applies_on_save_and_on_every_bulk_path() -> None:
    class Reviewed(IntegerPKMixin, _ReviewedMixin, AuditColumnsMixin):  # type: ignore[misc]  # see the docstring
        title = models.CharField(max_length=50, default="")

        class Meta:
            app_label = "testapp"

    with connection.schema_editor() as editor:
        editor.create_model(Reviewed)
    try:
        with acting_as("user:carol"):
            row = Reviewed.objects.create(title="draft", first_reviewer="user:dave", review_state="approved")
            row.first_reviewer = "user:mallory"
            row.review_state = "approved"
            row.title = "second"
            row.save()
            stored = Reviewed.objects.values("title", "review_state", "first_reviewer").get(pk=row.pk)
            assert stored == {"title": "second", "review_state": "unreviewed", "first_reviewer": "user:dave"}
            assert row.first_reviewer == "user:dave", "the instance shows what the row holds"

            Reviewed.objects.filter(pk=row.pk).update(review_state="approved")
            Reviewed.objects.filter(pk=row.pk).update(title="third")
            assert Reviewed.objects.values_list("review_state", flat=True).get(pk=row.pk) == "unreviewed"

            Reviewed.objects.filter(pk=row.pk).update(review_state="approved")
            row.title = "fourth"
            Reviewed.objects.bulk_update([row], ["title"])
            assert Reviewed.objects.values_list("review_state", "updated_by").get(pk=row.pk) == (
                "unreviewed",
                "user:carol",
            )
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Reviewed)
