"""Each mixin owns its rule through hooks chained with super(): any order and any subset compose."""

from __future__ import annotations

import uuid

from django.db import models
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
    class Invoice(UUIDv7PKMixin, TimestampMixin, AuditColumnsMixin, SoftDeleteMixin, TenantMixin):
        class Meta:
            app_label = "testapp"

    class Reversed(TenantMixin, SoftDeleteMixin, AuditColumnsMixin, TimestampMixin, IntegerPKMixin):
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
    class Stamped(IntegerPKMixin, TimestampMixin):
        class Meta:
            app_label = "testapp"

    class Owned(IntegerPKMixin, TenantMixin):
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


@isolate_apps("tests.testapp")
def test_a_project_mixin_extends_the_same_hooks() -> None:
    class VersionedMixin(CoreModel):
        """A team's own rule: a revision counter every update writes, never changed by a save."""

        revision_note = models.CharField(max_length=20, default="")
        imported_from = models.CharField(max_length=20, default="")

        class Meta:
            abstract = True

        @classmethod
        def update_stamps(cls) -> dict[str, object]:
            return {**super().update_stamps(), "revision_note": "edited"}

        @classmethod
        def fields_frozen_on_save(cls) -> frozenset[str]:
            return super().fields_frozen_on_save() | {"imported_from"}

    class Entry(IntegerPKMixin, VersionedMixin, AuditColumnsMixin):
        class Meta:
            app_label = "testapp"

    assert Entry.fields_frozen_on_save() == {"created_by", "imported_from"}
    with acting_as("user:bob"):
        assert Entry.update_stamps() == {"revision_note": "edited", "updated_by": "user:bob"}
