"""BaseRepository[T]: tenant scoping that fails closed, typed reads and writes, upsert, set-based deletes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.context import acting_as, in_tenant
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.core.models import AuditEvent
from apps.core.repository import BaseRepository, UpsertResult
from tests.factories import TENANT_A, TENANT_B, FolderFactory, NoteFactory
from tests.testapp.models import Folder, Label, Note

pytestmark = pytest.mark.django_db


class FolderRepository(BaseRepository[Folder]):
    model = Folder
    search_fields = ("name", "status")


class LabelRepository(BaseRepository[Label]):
    model = Label


def test_no_tenant_in_context_sees_no_rows_and_cannot_write() -> None:
    FolderFactory.create(tenant_id=TENANT_A)
    repository = FolderRepository()
    assert repository.count() == 0
    assert repository.list() == []
    with pytest.raises(PermissionDenied, match="No tenant in context"):
        repository.create(name="orphan")


def test_tenant_scoping_hides_other_tenants_rows_everywhere() -> None:
    mine = FolderFactory.create(tenant_id=TENANT_A, name="mine")
    theirs = FolderFactory.create(tenant_id=TENANT_B, name="theirs")
    repository = FolderRepository()
    with in_tenant(TENANT_A):
        assert repository.list() == [mine]
        assert repository.get(theirs.pk) is None
        with pytest.raises(NotFound):
            repository.get_or_raise(theirs.pk)
        assert repository.exists(name="theirs") is False
        assert repository.delete_many(name="theirs") == 0
    assert Folder.objects.filter(pk=theirs.pk).exists()


def test_models_without_tenant_are_not_scoped() -> None:
    Label.objects.create(name="x")
    assert LabelRepository().count() == 1


def test_get_handles_malformed_keys_as_not_found() -> None:
    with in_tenant(TENANT_A):
        assert FolderRepository().get("not-a-uuid") is None
        with pytest.raises(NotFound, match="No folder with id not-a-uuid"):
            FolderRepository().get_or_raise("not-a-uuid")


def test_create_update_delete_restore_round_trip_with_audit_stamps() -> None:
    repository = FolderRepository()
    with in_tenant(TENANT_A), acting_as("user-1"):
        folder = repository.create(name="q1")
        assert (folder.tenant_id, folder.created_by) == (TENANT_A, "user-1")
    with in_tenant(TENANT_A), acting_as("user-2"):
        repository.update(folder, status="published")
        stored = repository.get_or_raise(folder.pk)
        assert (stored.status, stored.updated_by, stored.created_by) == ("published", "user-2", "user-1")
        repository.delete(folder)
        assert repository.get(folder.pk) is None
        assert repository.restore(folder.pk).pk == folder.pk
        with pytest.raises(NotFound, match="No deleted folder"):
            repository.restore(folder.pk)


def test_update_validates_the_fields_it_writes() -> None:
    with in_tenant(TENANT_A):
        folder = FolderRepository().create(name="valid")
        with pytest.raises(InvalidInput) as caught:
            FolderRepository().update(folder, name="x" * 101)
        assert "at most 100 characters" in str(caught.value.errors)


def test_search_matches_declared_fields() -> None:
    FolderFactory.create(name="Quarterly report", tenant_id=TENANT_A)
    FolderFactory.create(name="Holiday plans", tenant_id=TENANT_A)
    with in_tenant(TENANT_A):
        assert [f.name for f in FolderRepository().search("quarterly")] == ["Quarterly report"]
        assert FolderRepository().search("  ").count() == 2


def test_bulk_create_stamps_tenant_and_audits() -> None:
    with in_tenant(TENANT_B), acting_as("importer"):
        created = FolderRepository().bulk_create([Folder(name=f"b{i}") for i in range(3)])
    assert {f.tenant_id for f in created} == {TENANT_B}
    assert AuditEvent.objects.filter(action="create", actor="importer", model_label="testapp.folder").count() == 3


def test_delete_many_is_set_based_with_cascade() -> None:
    folders = FolderFactory.create_batch(4, tenant_id=TENANT_A, status="old")
    for folder in folders:
        NoteFactory.create(folder=folder)
    with in_tenant(TENANT_A), CaptureQueriesContext(connection) as queries:
        assert FolderRepository().delete_many(status="old") == 8
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert (
        len(updates) == 4
    )  # folders, their (empty) sub-folder level, notes, (no) comments: one per model, not per row
    assert Note.objects.count() == 0


def test_upsert_counts_created_and_updated_and_stamps_only_updated_columns() -> None:
    repository = FolderRepository()
    with in_tenant(TENANT_A), acting_as("creator"):
        first = repository.upsert(
            [{"name": "a", "status": "s1"}, {"name": "b", "status": "s1"}],
            conflict_fields=["name"],
            update_fields=["status"],
        )
    assert first == UpsertResult(created=2, updated=0)
    original = Folder.objects.get(name="a")
    with in_tenant(TENANT_A), acting_as("updater"):
        second = repository.upsert(
            [{"name": "a", "status": "s2"}, {"name": "c", "status": "s1"}, {"name": "a", "status": "s3"}],
            conflict_fields=["name"],
            update_fields=["status"],
        )
    assert second == UpsertResult(created=1, updated=1)
    updated = Folder.objects.get(name="a")
    assert (updated.pk, updated.status) == (original.pk, "s3"), "the last row for a key wins"
    assert (updated.created_by, updated.created_at) == ("creator", original.created_at)
    assert updated.updated_by == "updater"
    assert updated.updated_at > original.updated_at
    change = AuditEvent.objects.for_object(Folder, original.pk).first()
    assert change is not None
    assert (change.action, change.actor, change.changes) == ("update", "updater", {"status": ["s1", "s3"]})
    assert Folder.objects.get(name="c").tenant_id == TENANT_A


def test_upsert_works_with_the_partial_unique_index_of_soft_deleted_rows() -> None:
    repository = FolderRepository()
    gone = FolderFactory.create(name="reused", tenant_id=TENANT_A, status="old")
    gone.delete()
    with in_tenant(TENANT_A):
        result = repository.upsert(
            [{"name": "reused", "status": "new"}], conflict_fields=["name"], update_fields=["status"]
        )
    assert result == UpsertResult(created=1, updated=0)
    assert Folder.all_objects.get(pk=gone.pk).status == "old", "a deleted row is never updated by an upsert"
    assert Folder.objects.get(name="reused").status == "new"


def test_upsert_is_scoped_to_the_tenant() -> None:
    FolderFactory.create(name="shared-name", tenant_id=TENANT_B, status="theirs")
    with in_tenant(TENANT_A):
        result = FolderRepository().upsert(
            [{"name": "shared-name", "status": "mine"}], conflict_fields=["name"], update_fields=["status"]
        )
    assert result == UpsertResult(created=1, updated=0)
    assert Folder.objects.get(tenant_id=TENANT_B).status == "theirs"


def test_unchanged_upserted_rows_write_no_update_event() -> None:
    with in_tenant(TENANT_A):
        FolderRepository().upsert([{"name": "same", "status": "x"}], conflict_fields=["name"], update_fields=["status"])
        FolderRepository().upsert([{"name": "same", "status": "x"}], conflict_fields=["name"], update_fields=["status"])
    folder = Folder.objects.get(name="same")
    assert [e.action for e in AuditEvent.objects.for_object(Folder, folder.pk)] == ["create"]


def test_upsert_rows_missing_their_key_are_refused_before_writing() -> None:
    with in_tenant(TENANT_A), pytest.raises(InvalidInput, match="Every row needs"):
        FolderRepository().upsert(
            [{"name": "x", "status": "s"}, {"status": "s"}], conflict_fields=["name"], update_fields=["status"]
        )
    assert Folder.all_objects.count() == 0


def test_pagination_helpers_use_the_scoped_queryset() -> None:
    for index in range(5):
        FolderFactory.create(name=f"p{index}", tenant_id=TENANT_A)
    FolderFactory.create(name="other", tenant_id=TENANT_B)
    with in_tenant(TENANT_A):
        offset_page = FolderRepository().paginate_offset(limit=2, with_total=True)
        cursor_page = FolderRepository().paginate_cursor(limit=10)
    assert offset_page.total == 5
    assert len(cursor_page.items) == 5


def test_upsert_on_integer_keys_numbered_by_the_database() -> None:
    from tests.testapp.models import Counter

    class CounterRepository(BaseRepository[Counter]):
        model = Counter

    repository = CounterRepository()
    with acting_as("svc:counter"):
        assert repository.upsert(
            [{"key": "a", "value": 1}, {"key": "b", "value": 2}], conflict_fields=["key"], update_fields=["value"]
        ) == UpsertResult(created=2, updated=0)
        assert repository.upsert(
            [{"key": "a", "value": 5}, {"key": "c", "value": 3}], conflict_fields=["key"], update_fields=["value"]
        ) == UpsertResult(created=1, updated=1)
    assert dict(Counter.objects.values_list("key", "value")) == {"a": 5, "b": 2, "c": 3}
    assert all(isinstance(pk, int) for pk in Counter.objects.values_list("pk", flat=True))
    a = Counter.objects.get(key="a")
    change = AuditEvent.objects.for_object(Counter, a.pk).first()
    assert change is not None
    assert (change.action, change.changes) == ("update", {"value": [1, 5]})


def test_invalid_values_are_invalid_input_not_a_server_error() -> None:
    with in_tenant(TENANT_A), pytest.raises(InvalidInput) as caught:
        FolderRepository().create(name="x" * 101)
    assert "name" in (caught.value.errors or {})


def test_restore_of_a_malformed_key_is_not_found() -> None:
    with in_tenant(TENANT_A), pytest.raises(NotFound):
        FolderRepository().restore("not-a-uuid")


def test_writes_lock_and_check_the_row_again_rather_than_trust_a_stale_instance() -> None:
    repository = FolderRepository()
    with in_tenant(TENANT_A), acting_as("user-1"):
        folder = repository.create(name="q1")
        stale = repository.get_or_raise(folder.pk)  # read before someone else deletes the row
        repository.delete(folder)
        events = AuditEvent.objects.count()
        with pytest.raises(NotFound, match="No folder with id"):
            repository.update(stale, status="published")
        with pytest.raises(NotFound, match="No folder with id"):
            repository.delete(stale)
        restored = repository.restore(folder.pk)
        with pytest.raises(NotFound, match="No deleted folder"):
            repository.restore(folder.pk)
    assert AuditEvent.objects.count() == events + 1  # the one restore
    stored = Folder.all_objects.get(pk=folder.pk)
    assert (stored.status, stored.updated_at, stored.deleted_at) == ("draft", restored.updated_at, None)


def test_update_refreshes_the_instance_it_is_given_before_writing() -> None:
    repository = FolderRepository()
    with in_tenant(TENANT_A), acting_as("user-1"):
        folder = repository.create(name="q1")
        stale = repository.get_or_raise(folder.pk)
        repository.update(folder, name="renamed")
        repository.update(stale, status="published")  # writes status only, onto the row as it is now
    stored = Folder.objects.get(pk=folder.pk)
    assert (stored.name, stored.status) == ("renamed", "published")
    assert (stale.name, stale.status) == ("renamed", "published")
    update = AuditEvent.objects.for_object(Folder, folder.pk).filter(action="update").order_by("occurred_at").last()
    assert update is not None
    assert update.changes["status"] == ["draft", "published"]
    assert "name" not in update.changes  # the diff is against the row as locked, not as `stale` first read it
