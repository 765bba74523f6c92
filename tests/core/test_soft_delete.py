"""Soft delete done right: each failure of django-safedelete, proven absent here."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, ProtectedError
from django.test.utils import CaptureQueriesContext

from apps.core.context import acting_as
from apps.core.errors import Conflict
from apps.core.models import AuditEvent
from apps.core.tenant_ownership import tenant_lookup
from tests.factories import (
    TENANT_A,
    TENANT_B,
    CommentFactory,
    FolderFactory,
    LabelFactory,
    NoteFactory,
    PinFactory,
    RetentionFactory,
)
from tests.testapp.models import Comment, Folder, Label, Note, Pin

pytestmark = pytest.mark.django_db
QUERIES_FOR_THREE_MODEL_DELETE = 15  # the same for 3 rows and 30: tenants, protect checks, updates, audit reads/inserts


def _updates(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]


def test_managers_split_alive_deleted_and_all() -> None:
    alive, gone = FolderFactory.create(), FolderFactory.create()
    gone.delete()
    assert list(Folder.objects.all()) == [alive]
    assert list(Folder.deleted_objects.all()) == [gone]
    assert set(Folder.all_objects.all()) == {alive, gone}
    assert set(Folder.objects.with_deleted()) == {alive, gone}
    assert list(Folder.all_objects.alive()) == [alive]
    assert list(Folder.all_objects.deleted()) == [gone]
    assert list(Folder.objects.filter(name=gone.name).with_deleted()) == [gone]


def test_deleted_row_is_stamped_with_actor_time_and_batch() -> None:
    folder = FolderFactory.create()
    with acting_as("admin:alice"):
        folder.delete()
    assert folder.is_deleted
    assert folder.deleted_by == "admin:alice"
    assert folder.delete_batch is not None
    stored = Folder.all_objects.get(pk=folder.pk)
    assert (stored.deleted_by, stored.delete_batch) == ("admin:alice", folder.delete_batch)


@pytest.mark.parametrize("rows", [3, 30])
def test_queryset_delete_is_one_update_per_model_whatever_the_row_count(rows: int) -> None:
    folders = FolderFactory.create_batch(rows)
    for folder in folders:
        CommentFactory.create(note=NoteFactory.create(folder=folder))
    with CaptureQueriesContext(connection) as queries:
        total, counts = Folder.objects.all().delete()
    assert counts == {"testapp.Folder": rows, "testapp.Note": rows, "testapp.Comment": rows}
    assert total == 3 * rows
    updates = _updates(queries)
    per_table = {
        table: sum(f'UPDATE "{table}"' in sql for sql in updates) for table in ("testapp_note", "testapp_comment")
    }
    assert per_table == {"testapp_note": 1, "testapp_comment": 1}, updates  # never a row loop
    # Folder is a self-referential tree: one UPDATE per level (here the rows, then their empty subfolder level).
    assert sum('UPDATE "testapp_folder"' in sql for sql in updates) == 2
    assert len(queries.captured_queries) == QUERIES_FOR_THREE_MODEL_DELETE


def test_update_through_objects_never_touches_deleted_rows() -> None:
    alive, gone = FolderFactory.create(status="draft"), FolderFactory.create(status="draft")
    gone.delete()
    assert Folder.objects.update(status="published") == 1
    assert Folder.all_objects.get(pk=gone.pk).status == "draft"
    assert Folder.objects.get(pk=alive.pk).status == "published"


def test_save_of_a_stale_instance_never_undeletes() -> None:
    folder = FolderFactory.create()
    stale = Folder.objects.get(pk=folder.pk)
    folder.delete()
    stale.status = "edited"
    stale.save()
    stored = Folder.all_objects.get(pk=folder.pk)
    assert stored.is_deleted
    assert stored.status == "edited"


def test_saving_a_deleted_row_works_and_keeps_it_deleted() -> None:
    folder = FolderFactory.create()
    folder.delete()
    folder.status = "archived"
    folder.save()
    stored = Folder.all_objects.get(pk=folder.pk)
    assert (stored.status, stored.is_deleted) == ("archived", True)


def test_explicit_update_fields_cannot_undelete_either() -> None:
    folder = FolderFactory.create()
    stale = Folder.objects.get(pk=folder.pk)
    folder.delete()
    stale.deleted_at = None
    stale.save(update_fields=["deleted_at", "status"])
    assert Folder.all_objects.get(pk=folder.pk).is_deleted


def test_reverse_fk_manager_and_prefetch_hide_deleted_children() -> None:
    folder = FolderFactory.create()
    kept, dropped = NoteFactory.create(folder=folder), NoteFactory.create(folder=folder)
    dropped.delete()
    assert list(folder.notes.all()) == [kept]
    assert folder.notes.count() == 1
    assert list(folder.notes.with_deleted().order_by("text")) == sorted([kept, dropped], key=lambda n: n.text)
    prefetched = Folder.objects.prefetch_related("notes").get(pk=folder.pk)
    assert list(prefetched.notes.all()) == [kept]
    annotated = Folder.objects.annotate(n=Count("notes")).get(pk=folder.pk)
    assert annotated.n == 2, "annotations count the join; documented: filter them with Q(notes__deleted_at=None)"


def test_m2m_manager_and_prefetch_hide_deleted_targets() -> None:
    folder = FolderFactory.create()
    kept, dropped = LabelFactory.create(), LabelFactory.create()
    folder.labels.add(kept, dropped)
    dropped.delete()
    assert list(folder.labels.all()) == [kept]
    assert list(Folder.objects.prefetch_related("labels").get(pk=folder.pk).labels.all()) == [kept]
    assert list(kept.folders.all()) == [folder]
    folder.delete()
    assert list(kept.folders.all()) == []


def test_forward_fk_to_a_deleted_parent_still_resolves() -> None:
    note = NoteFactory.create()
    folder_id = note.folder_id
    Folder.objects.filter(pk=folder_id).delete()
    reloaded = Note.all_objects.get(pk=note.pk)
    assert reloaded.folder.pk == folder_id
    assert reloaded.folder.is_deleted


def test_cascade_soft_deletes_children_under_one_batch_and_leaves_plain_children() -> None:
    folder = FolderFactory.create()
    sub = FolderFactory.create(parent=folder)
    note = NoteFactory.create(folder=sub)
    comment = CommentFactory.create(note=note)
    pin = PinFactory.create(folder=folder)
    _, counts = folder.delete()
    assert counts == {"testapp.Folder": 2, "testapp.Note": 1, "testapp.Comment": 1}
    batches = {
        Folder.all_objects.get(pk=sub.pk).delete_batch,
        Note.all_objects.get(pk=note.pk).delete_batch,
        Comment.all_objects.get(pk=comment.pk).delete_batch,
    }
    assert batches == {folder.delete_batch}
    assert Pin.objects.filter(pk=pin.pk).exists(), "a non-soft-deletable child stays while its parent exists"


def test_restore_brings_back_exactly_what_that_delete_removed() -> None:
    folder = FolderFactory.create()
    earlier = NoteFactory.create(folder=folder)
    earlier.delete()  # its own batch, before the folder's
    later = NoteFactory.create(folder=folder)
    comment = CommentFactory.create(note=later)
    folder.delete()
    counts = Folder.deleted_objects.filter(pk=folder.pk).restore()
    assert counts == {"testapp.Folder": 1, "testapp.Note": 1, "testapp.Comment": 1}
    assert Note.objects.filter(pk=later.pk).exists()
    assert Comment.objects.filter(pk=comment.pk).exists()
    assert Note.deleted_objects.filter(pk=earlier.pk).exists(), "deleted before, in another batch: stays deleted"


def test_restoring_a_child_brings_back_the_child_only_and_its_whole_batch_on_request() -> None:
    note = NoteFactory.create()
    note.folder.delete()
    assert Note.deleted_objects.filter(pk=note.pk).restore() == {"testapp.Note": 1}
    assert not Folder.objects.filter(pk=note.folder_id).exists(), "its parent's delete is not its own"
    note.delete()
    Note.deleted_objects.filter(pk=note.pk).restore(whole_batches=True)  # its own, new batch: just the note
    assert not Folder.objects.filter(pk=note.folder_id).exists()
    Folder.deleted_objects.filter(pk=note.folder_id).restore(whole_batches=True)
    assert Folder.objects.filter(pk=note.folder_id).exists()


def test_instance_restore_updates_the_instance() -> None:
    folder = FolderFactory.create()
    folder.delete()
    folder.restore()
    assert not folder.is_deleted
    assert folder.delete_batch is None
    assert Folder.objects.filter(pk=folder.pk).exists()


def test_protect_is_honoured_and_nothing_is_written() -> None:
    retention = RetentionFactory.create()
    folder = retention.folder
    note = NoteFactory.create(folder=folder)
    with pytest.raises(ProtectedError) as caught:
        Folder.objects.filter(pk=folder.pk).delete()
    assert retention in caught.value.protected_objects
    assert Folder.objects.filter(pk=folder.pk).exists()
    assert Note.objects.filter(pk=note.pk).exists()
    retention.delete()  # a deleted protector no longer protects
    folder.delete()
    assert Folder.deleted_objects.filter(pk=folder.pk).exists()


def test_partial_unique_constraint_lets_a_deleted_value_be_created_again() -> None:
    first = FolderFactory.create(name="reports")
    with pytest.raises(IntegrityError), transaction.atomic():
        FolderFactory.create(name="reports")
    first.delete()
    again = FolderFactory.create(name="reports")
    assert Folder.objects.get(name="reports") == again


def test_restore_onto_a_recreated_unique_value_is_a_conflict_and_writes_nothing() -> None:
    first = FolderFactory.create(name="reports")
    note = NoteFactory.create(folder=first)
    first.delete()
    FolderFactory.create(name="reports")
    clash = f"Cannot restore folder {first.pk}: a live folder already holds .*name='reports'"
    with pytest.raises(Conflict, match=clash):
        Folder.deleted_objects.filter(pk=first.pk).restore()
    assert Folder.deleted_objects.filter(pk=first.pk).exists()
    assert Note.deleted_objects.filter(pk=note.pk).exists()


def test_hard_delete_removes_rows_and_applies_real_cascades() -> None:
    folder = FolderFactory.create()
    note = NoteFactory.create(folder=folder)
    pin = PinFactory.create(folder=folder)
    folder.delete()
    Folder.deleted_objects.filter(pk=folder.pk).hard_delete()
    assert not Folder.all_objects.filter(pk=folder.pk).exists()
    assert not Note.all_objects.filter(pk=note.pk).exists()
    assert not Pin.objects.filter(pk=pin.pk).exists()


def test_hard_delete_still_honours_protect() -> None:
    retention = RetentionFactory.create()
    with pytest.raises(ProtectedError):
        retention.folder.hard_delete()


def test_delete_of_already_deleted_rows_changes_nothing() -> None:
    folder = FolderFactory.create()
    folder.delete()
    batch = folder.delete_batch
    assert Folder.all_objects.filter(pk=folder.pk).delete() == (0, {})
    assert Folder.all_objects.get(pk=folder.pk).delete_batch == batch


def test_tenant_scoping_fails_closed() -> None:
    mine = FolderFactory.create(tenant_id=TENANT_A)
    assert list(Folder.objects.for_tenant(TENANT_A)) == [mine]
    assert list(Folder.objects.for_tenant(None)) == []
    assert list(Folder.objects.for_current_tenant()) == []
    assert Label.objects.for_tenant(None).model is Label, "models without a tenant are not scoped"


def test_a_delete_across_tenants_makes_one_batch_per_tenant() -> None:
    mine, theirs = FolderFactory.create(tenant_id=TENANT_A), FolderFactory.create(tenant_id=TENANT_B)
    mine_note = NoteFactory.create(folder=mine)
    Folder.objects.filter(pk__in=[mine.pk, theirs.pk]).delete()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.delete_batch != theirs.delete_batch
    Folder.deleted_objects.filter(pk=mine.pk).restore()
    assert Folder.objects.filter(pk=mine.pk).exists()
    assert Note.objects.filter(pk=mine_note.pk).exists()
    assert Folder.deleted_objects.filter(pk=theirs.pk).exists(), "another tenant's row stays deleted"


# --- a restore brings back a row and what its own delete cascaded ----------------------------------


def test_restoring_one_of_fifty_rows_deleted_together_restores_that_row_and_its_cascade() -> None:
    folders = [FolderFactory.create() for _ in range(50)]
    notes = [NoteFactory.create(folder=folder) for folder in folders]
    comment = CommentFactory.create(note=notes[7])
    Folder.objects.filter(pk__in=[folder.pk for folder in folders]).delete()

    counts = Folder.deleted_objects.filter(pk=folders[7].pk).restore()

    assert counts == {"testapp.Folder": 1, "testapp.Note": 1, "testapp.Comment": 1}
    assert list(Folder.objects.all()) == [folders[7]]
    assert list(Note.objects.all()) == [notes[7]]
    assert list(Comment.objects.all()) == [comment]
    assert Folder.deleted_objects.count() == 49
    assert Folder.deleted_objects.filter(pk=folders[8].pk).restore(whole_batches=True)["testapp.Folder"] == 49


def test_instance_restore_follows_the_same_rule() -> None:
    first, second = FolderFactory.create(), FolderFactory.create()
    note = NoteFactory.create(folder=first)
    Folder.objects.filter(pk__in=[first.pk, second.pk]).delete()
    first.refresh_from_db()
    assert first.restore() == {"testapp.Folder": 1, "testapp.Note": 1}
    assert Note.objects.filter(pk=note.pk).exists()
    assert Folder.deleted_objects.filter(pk=second.pk).exists()


def test_restoring_a_tree_brings_back_its_subtree_only() -> None:
    root, other = FolderFactory.create(), FolderFactory.create()
    child = FolderFactory.create(parent=root)
    grandchild = FolderFactory.create(parent=child)
    NoteFactory.create(folder=grandchild)
    FolderFactory.create(parent=other)
    Folder.objects.filter(pk__in=[root.pk, other.pk]).delete()
    assert Folder.deleted_objects.count() == 5

    counts = Folder.deleted_objects.filter(pk=root.pk).restore()

    assert counts == {"testapp.Folder": 3, "testapp.Note": 1}
    assert set(Folder.objects.all()) == {root, child, grandchild}


def test_restore_of_a_cycle_of_rows_terminates() -> None:
    first = FolderFactory.create()
    second = FolderFactory.create(parent=first)
    Folder.all_objects.filter(pk=first.pk).update(parent=second)  # a cycle: first -> second -> first
    first.delete()
    assert Folder.deleted_objects.filter(pk=first.pk).restore() == {"testapp.Folder": 2}


def test_a_conflict_in_a_parent_undoes_the_children_already_restored() -> None:
    folder = FolderFactory.create(name="reports")
    notes = [NoteFactory.create(folder=folder) for _ in range(3)]
    folder.delete()
    FolderFactory.create(name="reports")
    with pytest.raises(Conflict, match=f"Cannot restore folder {folder.pk}"):
        folder.restore()
    assert Note.deleted_objects.filter(pk__in=[note.pk for note in notes]).count() == 3
    assert not AuditEvent.objects.filter(action="restore").exists()


def test_two_deleted_rows_holding_one_value_cannot_both_come_back() -> None:
    first = FolderFactory.create(name="plans")
    first.delete()
    second = FolderFactory.create(name="plans")
    second.delete()
    with pytest.raises(Conflict, match=r"2 of them hold tenant_id='[0-9a-f-]+', name='plans'"):
        Folder.deleted_objects.filter(name="plans").restore()
    assert Folder.deleted_objects.filter(name="plans").count() == 2


# --- a delete batch never spans tenants, also for a child owned through its parent -----------------


def test_children_of_two_tenants_deleted_in_one_call_get_one_batch_per_tenant() -> None:
    mine, theirs = FolderFactory.create(tenant_id=TENANT_A), FolderFactory.create(tenant_id=TENANT_B)
    my_note, their_note = NoteFactory.create(folder=mine), NoteFactory.create(folder=theirs)
    Note.objects.filter(pk__in=[my_note.pk, their_note.pk]).delete()
    my_note.refresh_from_db()
    their_note.refresh_from_db()
    assert my_note.delete_batch != their_note.delete_batch
    assert Note.deleted_objects.filter(pk=my_note.pk).restore(whole_batches=True) == {"testapp.Note": 1}
    assert Note.deleted_objects.filter(pk=their_note.pk).exists(), "the other tenant's note stays deleted"


def test_for_tenant_scopes_a_child_through_its_parent() -> None:
    mine, theirs = (
        NoteFactory.create(folder=FolderFactory.create(tenant_id=TENANT_A)),
        NoteFactory.create(folder=FolderFactory.create(tenant_id=TENANT_B)),
    )
    assert list(Note.objects.for_tenant(TENANT_A)) == [mine]
    assert list(Note.objects.for_tenant(None)) == []
    assert theirs not in Note.objects.for_tenant(TENANT_A)
    assert tenant_lookup(Comment) == "note__folder__tenant_id"
    assert tenant_lookup(Label) is None


# --- get_or_create / update_or_create never revive a deleted row silently -------------------------


def _deleted_folder(name: str) -> Folder:
    folder = FolderFactory.create(name=name)
    folder.delete()
    return folder


@pytest.mark.parametrize(
    "call",
    [
        lambda folder: Folder.objects.get_or_create(tenant_id=TENANT_A, name=folder.name),
        lambda folder: Folder.objects.update_or_create(tenant_id=TENANT_A, name=folder.name, defaults={"status": "x"}),
        lambda folder: Folder.objects.filter(tenant_id=TENANT_A).get_or_create(name=folder.name),
        lambda folder: Folder.objects.for_tenant(TENANT_A).update_or_create(name=folder.name),
        lambda folder: Folder.objects.get_or_create(pk=folder.pk, defaults={"name": "new", "tenant_id": TENANT_A}),
    ],
    ids=[
        "manager get_or_create",
        "manager update_or_create",
        "queryset get_or_create",
        "queryset update_or_create",
        "by pk",
    ],
)
def test_get_or_create_by_the_key_of_a_deleted_row_is_a_conflict(call: Any) -> None:
    folder = _deleted_folder("archive")
    with pytest.raises(Conflict, match=f"A deleted folder \\({folder.pk}\\) holds .*Restore it"):
        call(folder)
    assert Folder.all_objects.count() == 1, "nothing was created"
    assert Folder.deleted_objects.get().status == "draft", "nothing was updated"


def test_get_or_create_through_a_related_manager_refuses_a_deleted_child() -> None:
    folder = FolderFactory.create()
    note = NoteFactory.create(folder=folder, text="kept")
    note.delete()
    with pytest.raises(Conflict):
        folder.notes.get_or_create(text="kept")
    assert folder.notes.get_or_create(text="fresh")[1] is True
    assert Note.objects.get_or_create(folder=folder, text="fresh") == (Note.objects.get(text="fresh"), False)


# --- deleting a deleted row, restoring a live one: nothing written ----------------------------------


def test_deleting_a_deleted_instance_writes_nothing_and_records_nothing() -> None:
    folder = FolderFactory.create()
    folder.delete()
    events = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        assert folder.delete() == (0, {})
    assert not _updates(queries)
    assert AuditEvent.objects.count() == events


def test_restoring_a_live_instance_writes_nothing_and_records_nothing() -> None:
    folder = FolderFactory.create()
    events = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        assert folder.restore() == {}
    assert not _updates(queries)
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db(transaction=True)
def test_concurrent_restores_of_one_row_record_one_restore(postgres: None) -> None:
    folder = FolderFactory.create()
    NoteFactory.create(folder=folder)
    folder.delete()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def restore() -> None:
        try:
            start.wait(timeout=30)
            Folder.deleted_objects.filter(pk=folder.pk).restore()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=restore) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert AuditEvent.objects.filter(action="restore", model_label="testapp.folder").count() == 1
    assert AuditEvent.objects.filter(action="restore", model_label="testapp.note").count() == 1
