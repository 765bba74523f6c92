"""upsert_rows: values that travel through COPY (JSON, text needing escapes) and columns that do not."""

from __future__ import annotations

import datetime
import uuid

import pytest

from apps.core.context import acting_as, in_tenant
from apps.core.models import AuditEvent
from apps.core.upsert import upsert_rows
from apps.documents.models import Document
from tests.testapp.models import Folder

pytestmark = pytest.mark.django_db
TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000f1")
AWKWARD = 'tab\there, newline\nthere, back\\slash, "quotes", NUL-free ünïcödé 🚀, \\N'


def test_json_and_text_values_round_trip_exactly() -> None:
    tags = ["plain", AWKWARD, {"nested": [1, 2.5, None, True]}]
    rows = [{"tenant_id": TENANT, "title": AWKWARD, "body": AWKWARD, "status": "draft", "tags": tags}]
    with acting_as("importer"):
        created = upsert_rows(Document, rows, conflict_fields=["tenant_id", "title"], update_fields=["body", "tags"])
        rows[0]["tags"] = []
        updated = upsert_rows(Document, rows, conflict_fields=["tenant_id", "title"], update_fields=["body", "tags"])
    assert (created.created, updated.updated) == (1, 1)
    document = Document.objects.get(tenant_id=TENANT)
    assert (document.title, document.body, document.tags) == (AWKWARD, AWKWARD, [])
    change = AuditEvent.objects.for_object(Document, document.pk).first()
    assert change is not None
    assert change.changes == {"tags": [tags, []]}


def test_columns_absent_from_the_rows_get_their_defaults_and_the_stamps() -> None:
    due = datetime.datetime(2026, 5, 1, tzinfo=datetime.UTC)
    rows = [{"name": "with due", "status": "x", "due_at": due}, {"name": "without", "status": "y"}]
    with in_tenant(TENANT), acting_as("importer"):
        result = upsert_rows(
            Folder,
            [{**row, "tenant_id": TENANT} for row in rows],
            conflict_fields=["tenant_id", "name"],
            update_fields=["status"],
        )
    assert (result.created, result.updated) == (2, 0)
    with_due, without = Folder.objects.get(name="with due"), Folder.objects.get(name="without")
    assert (with_due.due_at, without.due_at) == (due, None)
    assert (without.parent_id, without.deleted_at, without.deleted_by) == (None, None, "")
    assert (without.created_by, without.updated_by, without.tenant_id) == ("importer", "importer", TENANT)
    assert without.created_at is not None
    assert without.updated_at is not None
    assert uuid.UUID(str(without.pk)).version == 7
    assert without.pk != with_due.pk
