"""Which models belong to a tenant: their own column, or a required CASCADE parent that does."""

from __future__ import annotations

from django.db import models
from django.test.utils import isolate_apps

from apps.core.models import IntegerPKMixin, TenantMixin
from apps.core.tenant_ownership import has_tenant_column, is_tenant_owned, tenant_lookup
from tests.testapp.models import Comment, Folder, Label, Note, Pin


def test_own_column_parent_and_grandparent() -> None:
    assert tenant_lookup(Folder) == "tenant_id"
    assert tenant_lookup(Note) == "folder__tenant_id"
    assert tenant_lookup(Comment) == "note__folder__tenant_id"
    assert tenant_lookup(Pin) == "folder__tenant_id", "not soft-deletable, still the folder's data"
    assert tenant_lookup(Label) is None
    assert has_tenant_column(Folder)
    assert not has_tenant_column(Note)
    assert is_tenant_owned(Note)
    assert not is_tenant_owned(Label)


@isolate_apps("tests.testapp")
def test_only_a_required_cascade_parent_makes_a_row_the_parents_tenants() -> None:
    class Owner(IntegerPKMixin, TenantMixin):  # type: ignore[misc]  # built under isolate_apps, unseen by django-stubs
        class Meta:
            app_label = "testapp"

    class Optional(IntegerPKMixin):
        owner = models.ForeignKey(Owner, null=True, on_delete=models.CASCADE)

        class Meta:
            app_label = "testapp"

    class Referencing(IntegerPKMixin):
        owner = models.ForeignKey(Owner, on_delete=models.PROTECT)

        class Meta:
            app_label = "testapp"

    class Loop(IntegerPKMixin):
        other = models.ForeignKey("LoopBack", on_delete=models.CASCADE)

        class Meta:
            app_label = "testapp"

    class LoopBack(IntegerPKMixin):
        loop = models.ForeignKey(Loop, on_delete=models.CASCADE)

        class Meta:
            app_label = "testapp"

    assert tenant_lookup(Optional) is None, "a row without a parent has no tenant"
    assert tenant_lookup(Referencing) is None, "a reference is not ownership"
    assert tenant_lookup(Loop) is None, "a cycle of parents ends"
