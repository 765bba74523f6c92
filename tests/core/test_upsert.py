"""upsert_rows: values that travel through COPY (JSON, text needing escapes) and columns that do not."""

from __future__ import annotations

import datetime
import re
import uuid

import pytest

from apps.core.context import acting_as, in_tenant
from apps.core.errors import InvalidInput
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


def test_a_row_that_omits_a_field_leaves_it_as_it_is_and_defaults_fill_only_inserts() -> None:
    key = ["tenant_id", "title"]
    fields = ["body", "status", "tags"]
    first = {"tenant_id": TENANT, "title": "kept", "body": "b0", "status": "published", "tags": ["t0"]}
    upsert_rows(Document, [first], conflict_fields=key, update_fields=fields)
    with acting_as("importer"):
        result = upsert_rows(
            Document,
            [
                {"tenant_id": TENANT, "title": "kept", "body": "b1"},  # status and tags omitted
                {"tenant_id": TENANT, "title": "new"},  # only the key: the model's defaults
                {"tenant_id": TENANT, "title": "kept", "tags": ["t1"]},  # the same key again: merged
            ],
            conflict_fields=key,
            update_fields=fields,
        )
    assert (result.created, result.updated) == (1, 1)
    kept, new = Document.objects.get(title="kept"), Document.objects.get(title="new")
    assert (kept.body, kept.status, kept.tags) == ("b1", "published", ["t1"])
    assert (new.body, new.status, new.tags) == ("", "draft", [])
    change = AuditEvent.objects.for_object(Document, kept.pk).first()
    assert change is not None
    assert (change.action, change.changes) == ("update", {"body": ["b0", "b1"], "tags": [["t0"], ["t1"]]})


def test_rows_giving_no_update_field_touch_only_the_stamps() -> None:
    upsert_rows(
        Folder,
        [{"tenant_id": TENANT, "name": "f", "status": "s0"}],
        conflict_fields=["tenant_id", "name"],
        update_fields=["status"],
    )
    with acting_as("toucher"):
        result = upsert_rows(
            Folder,
            [{"tenant_id": TENANT, "name": "f"}],
            conflict_fields=["tenant_id", "name"],
            update_fields=["status"],
        )
    folder = Folder.objects.get(name="f")
    assert (result.created, result.updated, folder.status, folder.updated_by) == (0, 1, "s0", "toucher")
    assert [event.action for event in AuditEvent.objects.for_object(Folder, folder.pk)] == ["create"]


@pytest.mark.parametrize(
    ("row", "field"),
    [({"tenant_id": TENANT, "title": None}, "title"), ({"tenant_id": TENANT, "title": "t", "colour": "red"}, "colour")],
)
def test_null_keys_and_unknown_fields_are_refused_before_writing(row: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        upsert_rows(Document, [row], conflict_fields=["tenant_id", "title"], update_fields=["body"])
    assert caught.value.errors is not None
    assert field in caught.value.errors
    assert not Document.all_objects.exists()


def stored_changes(model: type[Folder] | type[Document], pk: object) -> dict[str, object]:
    event = AuditEvent.objects.for_object(model, pk).first()
    assert event is not None
    return dict(event.changes)


def test_an_upserts_stored_diff_is_the_one_a_save_stores_for_the_same_change() -> None:
    """Same shape and encoding as the save() path: attnames, no stamps, timestamps, UUIDs, JSON lists."""
    before = datetime.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    after = datetime.datetime(2026, 3, 2, 8, 30, 15, 654321, tzinfo=datetime.UTC)
    for name in ("saved", "upserted"):
        Folder.objects.create(tenant_id=TENANT, name=name, status="s0", due_at=before)
        Document.objects.create(tenant_id=TENANT, title=name, tags=["a", {"b": [1]}])
    saved_folder, saved_document = Folder.objects.get(name="saved"), Document.objects.get(title="saved")
    saved_folder.status, saved_folder.due_at = "s1", after
    saved_folder.save()
    saved_document.tags = ["c"]
    saved_document.save()
    upsert_rows(
        Folder,
        [{"tenant_id": TENANT, "name": "upserted", "status": "s1", "due_at": after}],
        conflict_fields=["tenant_id", "name"],
        update_fields=["status", "due_at"],
    )
    upsert_rows(
        Document,
        [{"tenant_id": TENANT, "title": "upserted", "tags": ["c"]}],
        conflict_fields=["tenant_id", "title"],
        update_fields=["tags"],
    )
    upserted_folder, upserted_document = Folder.objects.get(name="upserted"), Document.objects.get(title="upserted")
    assert stored_changes(Folder, upserted_folder.pk) == stored_changes(Folder, saved_folder.pk)
    assert stored_changes(Document, upserted_document.pk) == stored_changes(Document, saved_document.pk)

    created_by_save = Document.objects.create(tenant_id=TENANT, title="c-save", body="b", tags=["x"])
    upsert_rows(
        Document,
        [{"tenant_id": TENANT, "title": "c-upsert", "body": "b", "tags": ["x"]}],
        conflict_fields=["tenant_id", "title"],
        update_fields=["body"],
    )
    by_save = stored_changes(Document, created_by_save.pk)
    by_upsert = stored_changes(Document, Document.objects.get(title="c-upsert").pk)
    assert by_upsert.keys() == by_save.keys()
    differing = {"id", "title", "created_at"}
    assert {k: v for k, v in by_upsert.items() if k not in differing} == {
        k: v for k, v in by_save.items() if k not in differing
    }
    for name in ("id", "created_at"):  # the same encoding of a different value: a UUID, a timestamp
        shape = [re.sub(r"[0-9a-f]", "0", str(changes[name][1])) for changes in (by_save, by_upsert)]
        assert shape[0] == shape[1], (name, by_save[name], by_upsert[name])
