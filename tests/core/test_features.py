"""One predicate per data-layer feature: a model has a feature exactly when it has the feature's mixin."""

from __future__ import annotations

from typing import ClassVar

import pytest
from django.db import models
from django.test.utils import isolate_apps

from apps.core import audit, soft_delete
from apps.core.models import AuditEvent, IntegerPKMixin
from apps.core.models.features import has_timestamps, is_audited, is_soft_deletable, is_tenant_owned
from apps.documents.models import Attachment, Document
from tests.testapp.models import Comment, Counter, Folder, Label, Note, Pin, Plain, Retention


@pytest.mark.parametrize(
    ("model", "soft_deletable", "audited", "timestamped", "tenant_owned"),
    [
        (Folder, True, True, True, True),
        (Note, True, True, True, True),  # tenant-owned through its folder
        (Comment, True, True, False, True),
        (Label, True, False, True, False),
        (Retention, True, False, False, False),  # PROTECT is a reference, not ownership
        (Pin, False, False, False, True),
        (Plain, False, True, True, False),
        (Counter, False, True, True, False),
        (Document, True, True, True, True),
        (Attachment, True, True, True, True),
    ],
)
def test_each_feature_is_its_mixin(
    model: type[models.Model], soft_deletable: bool, audited: bool, timestamped: bool, tenant_owned: bool
) -> None:
    assert is_soft_deletable(model) is soft_deletable
    assert is_audited(model) is audited
    assert has_timestamps(model) is timestamped
    assert is_tenant_owned(model) is tenant_owned


def test_the_audit_log_itself_is_not_audited_but_is_scoped_by_its_tenant_column() -> None:
    assert not is_audited(AuditEvent)
    assert not is_soft_deletable(AuditEvent)
    assert is_tenant_owned(AuditEvent), "staff see only their tenants' audit events"


@isolate_apps("tests.testapp")
def test_a_look_alike_attribute_is_not_the_feature() -> None:
    class LooksSoftDeletable(IntegerPKMixin):
        # The old flags: a class attribute claimed the feature without the mixin's fields and rules.
        soft_deletable: ClassVar[bool] = True
        audit_changes: ClassVar[bool] = True

        class Meta:
            app_label = "testapp"

    assert not is_soft_deletable(LooksSoftDeletable)
    assert not is_audited(LooksSoftDeletable)


def test_the_modules_that_used_to_own_a_check_ask_the_same_predicate() -> None:
    assert soft_delete.is_soft_deletable is is_soft_deletable
    assert audit.is_audited is is_audited
