"""django-safedelete's own test cases, carried over to our managers, querysets, relations and instances.

Each table row is one of its cases (test_queryset, test_many2many, test_related_manager,
test_prefetch, test_model) asked of `objects` / `all_objects` / `deleted_objects`: which rows
a read shows, what a verb does. The verb table of docs/data-layer.md says the same.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Prefetch, QuerySet

from apps.core.errors import Conflict
from apps.core.models import AuditEvent
from tests.factories import CommentFactory, FolderFactory, LabelFactory, NoteFactory
from tests.testapp.models import Comment, Folder, Label, Note

pytestmark = pytest.mark.django_db

MANAGERS: dict[str, Callable[[], QuerySet[Folder]]] = {
    "objects": Folder.objects.all,
    "all_objects": Folder.all_objects.all,
    "deleted_objects": Folder.deleted_objects.all,
}
SHOWS = {"objects": {"alive"}, "all_objects": {"alive", "gone"}, "deleted_objects": {"gone"}}

# Read paths of safedelete's test_queryset: each gives the names of the rows it returns.
READS: dict[str, Callable[[QuerySet[Folder]], set[str]]] = {
    "iteration": lambda rows: {row.name for row in rows},
    "values": lambda rows: {row["name"] for row in rows.values("name")},
    "values_list": lambda rows: set(rows.values_list("name", flat=True)),
    "in_bulk": lambda rows: {row.name for row in rows.in_bulk().values()},
    "iterator": lambda rows: {row.name for row in rows.iterator(chunk_size=1)},
    "count": lambda rows: {"alive", "gone"} if rows.count() == 2 else set(rows.values_list("name", flat=True)),
    "exists": lambda rows: {name for name in ("alive", "gone") if rows.filter(name=name).exists()},
    "aggregate": lambda rows: {n for n in ("alive", "gone") if rows.filter(name=n).aggregate(c=Count("pk"))["c"]},
    "union": lambda rows: {row.name for row in rows.union(Folder.objects.none())},
    "distinct": lambda rows: {row.name for row in rows.filter(labels__name="red").distinct()},
    "slice": lambda rows: {row.name for row in rows.order_by("name")[:5]},
    "select_related": lambda rows: {row.name for row in rows.select_related("parent")},
    "prefetch_related": lambda rows: {row.name for row in rows.prefetch_related("notes", "labels")},
    "get": lambda rows: {name for name in ("alive", "gone") if rows.filter(name=name).count() == 1},
}


@pytest.fixture
def alive_and_gone() -> dict[str, Folder]:
    red = LabelFactory.create(name="red")
    rows = {name: FolderFactory.create(name=name) for name in ("alive", "gone")}
    for row in rows.values():
        row.labels.add(red)
        NoteFactory.create(folder=row)
    rows["gone"].delete()
    return rows


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("manager", list(MANAGERS))
def test_every_read_shows_what_its_manager_shows(alive_and_gone: dict[str, Folder], manager: str, read: str) -> None:
    assert READS[read](MANAGERS[manager]()) == SHOWS[manager]


# Verbs, per manager: (what the verb returns, which of "alive"/"gone" are deleted afterwards).
VERBS: dict[str, dict[str, tuple[Any, set[str]]]] = {
    "delete": {
        "objects": ((2, {"testapp.Folder": 1, "testapp.Note": 1}), {"alive", "gone"}),
        "all_objects": ((2, {"testapp.Folder": 1, "testapp.Note": 1}), {"alive", "gone"}),
        "deleted_objects": ((0, {}), {"gone"}),
    },
    "restore": {
        "objects": ({}, {"gone"}),
        "all_objects": ({"testapp.Folder": 1, "testapp.Note": 1}, set()),
        "deleted_objects": ({"testapp.Folder": 1, "testapp.Note": 1}, set()),
    },
    "update": {"objects": (1, {"gone"}), "all_objects": (2, {"gone"}), "deleted_objects": (1, {"gone"})},
}
CALLS: dict[str, Callable[[QuerySet[Folder]], Any]] = {
    "delete": lambda rows: rows.delete(),
    "restore": lambda rows: rows.restore(),  # type: ignore[attr-defined]
    "update": lambda rows: rows.update(status="review"),
}


@pytest.mark.parametrize("through_m2m_distinct", [False, True])
@pytest.mark.parametrize("verb", list(VERBS))
@pytest.mark.parametrize("manager", list(MANAGERS))
def test_every_verb_acts_on_what_its_manager_shows(
    alive_and_gone: dict[str, Folder], manager: str, verb: str, through_m2m_distinct: bool
) -> None:
    """The distinct variant is the filter a to-many relation needs (it was a 500 on PostgreSQL: FOR UPDATE)."""
    rows = MANAGERS[manager]()
    if through_m2m_distinct:
        rows = rows.filter(labels__name="red").distinct()
    returned, deleted_after = VERBS[verb][manager]
    assert CALLS[verb](rows) == returned
    assert set(Folder.deleted_objects.values_list("name", flat=True)) == deleted_after


def test_hard_delete_through_each_manager_removes_only_what_it_shows(alive_and_gone: dict[str, Folder]) -> None:
    assert Folder.deleted_objects.filter(labels__name="red").distinct().hard_delete()[1]["testapp.Folder"] == 1
    assert list(Folder.all_objects.values_list("name", flat=True)) == ["alive"]


def test_a_sliced_update_is_refused_as_django_refuses_it_on_every_model() -> None:
    """The audited path read the slice by key and wrote it; an unaudited model raised: one rule now."""
    FolderFactory.create_batch(2)
    LabelFactory.create_batch(2)
    for rows in (Folder.objects.order_by("name")[:1], Folder.all_objects.all()[:1]):
        with pytest.raises(TypeError, match="slice"):
            rows.update(status="review")
    with pytest.raises(TypeError, match="slice"):
        Label.objects.all()[:1].update(name="x")
    assert not Folder.objects.filter(status="review").exists()


def test_related_managers_hide_deleted_rows_and_their_verbs_never_reach_them() -> None:
    """safedelete's test_related_manager: reverse FK and M2M, both directions."""
    folder = FolderFactory.create()
    kept, dropped = NoteFactory.create(folder=folder), NoteFactory.create(folder=folder, text="same")
    dropped.delete()
    assert list(folder.notes.all()) == [kept]
    assert folder.notes.count() == 1
    assert folder.notes.update(text="edited") == 1
    assert Note.all_objects.get(pk=dropped.pk).text == "same"
    assert folder.notes.restore() == {}
    assert folder.notes.with_deleted().filter(pk=dropped.pk).restore() == {"testapp.Note": 1}
    dropped.delete()
    with pytest.raises(Conflict):
        folder.notes.get_or_create(text="same")
    note, created = folder.notes.get_or_create(text="new")
    # django-stubs leaves the model type of a related manager built from a generic manager unbound.
    assert (created, note.folder) == (True, folder)  # type: ignore[attr-defined]
    assert folder.notes.all().delete()[1] == {"testapp.Note": 2}

    red, blue = LabelFactory.create(), LabelFactory.create()
    folder.labels.add(red, blue)
    blue.delete()
    assert list(folder.labels.all()) == [red]
    assert list(red.folders.all()) == [folder]
    folder.delete()
    assert list(red.folders.all()) == []
    assert set(red.folders.with_deleted()) == {folder}


def test_prefetch_hides_deleted_rows_unless_the_prefetch_asks_for_them() -> None:
    """safedelete's test_prefetch."""
    folder = FolderFactory.create()
    kept, dropped = NoteFactory.create(folder=folder), NoteFactory.create(folder=folder)
    dropped.delete()
    red, blue = LabelFactory.create(), LabelFactory.create()
    folder.labels.add(red, blue)
    blue.delete()
    got = Folder.objects.prefetch_related("notes", "labels").get(pk=folder.pk)
    assert (list(got.notes.all()), list(got.labels.all())) == ([kept], [red])
    all_notes = Prefetch("notes", queryset=Note.all_objects.all())
    wide = Folder.objects.prefetch_related(all_notes).get(pk=folder.pk)  # type: ignore[arg-type]  # stubs: Prefetch generics
    assert set(wide.notes.all()) == {kept, dropped}
    assert Note.all_objects.select_related("folder").get(pk=dropped.pk).folder == folder  # forward FK resolves


def test_get_or_create_per_manager() -> None:
    gone = FolderFactory.create(name="g")
    gone.delete()
    tenant = gone.tenant_id
    assert Folder.deleted_objects.get_or_create(tenant_id=tenant, name="g") == (gone, False)
    with pytest.raises(Conflict):
        Folder.objects.update_or_create(tenant_id=tenant, name="g", defaults={"status": "x"})
    with pytest.raises(Conflict):
        Folder.objects.get_or_create(pk=gone.pk, defaults={"name": "z", "tenant_id": tenant})
    row, created = Folder.all_objects.get_or_create(tenant_id=tenant, name="g")
    assert (row, created, row.is_deleted) == (gone, False, True)
    row, created = Folder.deleted_objects.get_or_create(tenant_id=tenant, name="fresh")
    assert (created, row.is_deleted) == (True, False)


def test_restore_across_three_levels_and_of_a_child_whose_parent_is_deleted() -> None:
    comment = CommentFactory.create()
    note = comment.note
    folder = note.folder
    folder.delete()
    assert Comment.deleted_objects.filter(pk=comment.pk).exists()
    assert folder.restore() == {"testapp.Folder": 1, "testapp.Note": 1, "testapp.Comment": 1}
    assert Comment.objects.filter(pk=comment.pk).exists()
    folder.delete()
    assert note.restore() == {"testapp.Note": 1, "testapp.Comment": 1}  # its own cascade, not its parent
    assert Folder.deleted_objects.filter(pk=folder.pk).exists()
    for model, pk in ((Folder, folder.pk), (Note, note.pk), (Comment, comment.pk)):
        actions = [event.action for event in AuditEvent.objects.for_object(model, pk)]
        expected = ["soft_delete", "restore", "soft_delete", "create"]
        assert actions == (expected if model is Folder else ["restore", *expected])


@pytest.mark.django_db(transaction=True)
def test_concurrent_deletes_and_restores_of_one_row_keep_it_whole_and_audited(postgres: None) -> None:
    """Threads deleting and restoring the same folder at once: the folder and its note always move together,
    and the audit log holds one event per change that really happened (never two restores in a row)."""
    comment = CommentFactory.create()
    note = comment.note
    folder = note.folder
    errors: list[BaseException] = []

    def act(verb: str, start: threading.Barrier) -> None:
        try:
            start.wait(timeout=30)
            rows = Folder.all_objects.filter(pk=folder.pk)
            rows.delete() if verb == "delete" else rows.restore()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    for _round in range(6):
        start = threading.Barrier(4)
        threads = [threading.Thread(target=act, args=(verb, start)) for verb in ("delete", "restore") * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        states = [
            model.all_objects.values_list("deleted_at", "delete_batch").get(pk=pk)  # type: ignore[misc]  # mixed pk types
            for model, pk in ((Folder, folder.pk), (Note, note.pk), (Comment, comment.pk))
        ]
        assert len({state[1] for state in states}) == 1  # one batch, or none, for all three
        assert len({state[0] is None for state in states}) == 1
    for model, pk in ((Folder, folder.pk), (Note, note.pk), (Comment, comment.pk)):
        actions = [event.action for event in reversed(AuditEvent.objects.for_object(model, pk))]
        changes = [action for action in actions if action in ("soft_delete", "restore")]
        assert all(first != second for first, second in itertools.pairwise(changes)), changes
        deleted_now = model.all_objects.get(pk=pk).deleted_at is not None  # type: ignore[misc]  # mixed pk types
        assert (changes[-1] == "soft_delete") == deleted_now if changes else not deleted_now


def test_bulk_update_through_a_distinct_queryset_is_audited_per_row(alive_and_gone: dict[str, Folder]) -> None:
    rows = Folder.all_objects.filter(labels__name="red").distinct()
    folders = list(Folder.all_objects.order_by("name"))
    for folder in folders:
        folder.status = "review"
    assert rows.bulk_update(folders, ["status"]) == 2
    updates = AuditEvent.objects.filter(action="update", changes__status=["draft", "review"])
    assert updates.count() == 2
