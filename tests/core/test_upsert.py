"""upsert_rows: values that travel through COPY (JSON, text needing escapes) and columns that do not."""

from __future__ import annotations

import datetime
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from apps.core.context import acting_as, in_tenant
from apps.core.errors import InvalidInput
from apps.core.models import AuditEvent
from apps.core.upsert import UpsertResult, upsert_rows
from apps.documents.models import Document
from tests.races import wait_until_a_backend_waits_for_a_lock
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
    rows: list[dict[str, Any]] = [
        {"name": "with due", "status": "x", "due_at": due},
        {"name": "without", "status": "y"},
    ]
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
    [
        ({"tenant_id": TENANT, "title": None}, "title"),
        ({"tenant_id": TENANT, "title": "t", "colour": "red"}, "colour"),
        ({"tenant_id": "not-a-uuid", "title": "t"}, "key"),
    ],
)
def test_null_keys_and_unknown_fields_are_refused_before_writing(row: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        upsert_rows(Document, [row], conflict_fields=["tenant_id", "title"], update_fields=["body"])
    assert caught.value.errors is not None
    assert field in caught.value.errors
    assert not Document.all_objects.exists()


def test_one_key_written_two_ways_is_one_row() -> None:
    rows: list[dict[str, Any]] = [
        {"tenant_id": TENANT, "title": "same", "body": "first", "status": "draft"},
        {"tenant_id": str(TENANT).upper(), "title": "same", "body": "second", "status": "published"},
    ]
    result = upsert_rows(Document, rows, conflict_fields=["tenant_id", "title"], update_fields=["body", "status"])
    assert (result.created, result.updated) == (1, 0)
    assert Document.objects.values_list("body", "status").get() == ("second", "published")
    again = [{"tenant_id": str(TENANT).upper(), "title": "same", "body": "third"}]
    result = upsert_rows(Document, again, conflict_fields=["tenant_id", "title"], update_fields=["body", "status"])
    assert (result.created, result.updated) == (0, 1)
    assert Document.objects.values_list("body", "status").get() == ("third", "published")


def stored_changes(model: type[Folder] | type[Document], pk: object) -> dict[str, list[Any]]:
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


def run_together(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """`work(0..count-1)` in `count` threads released at once, each on its own connection; their errors."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (an undetected lock wait?)"
    return errors


def deadlocks_so_far() -> int:
    with connection.cursor() as cursor:
        if connection.pg_version >= 150000:  # type: ignore[attr-defined]  # statistics flushed lazily since 15
            cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_upserts_over_overlapping_keys_in_opposite_orders_never_deadlock(postgres: None) -> None:
    names = [f"k{index:02d}" for index in range(40)]
    for name in names[::2]:  # half exist, half are new in the first round
        Folder.objects.create(tenant_id=TENANT, name=name, status="seed")
    deadlocks = deadlocks_so_far()

    def upsert_repeatedly(index: int) -> None:
        ordered = names if index % 2 == 0 else names[::-1]
        for round_number in range(15):
            rows = [{"tenant_id": TENANT, "name": name, "status": f"w{index}-{round_number}"} for name in ordered]
            with transaction.atomic():
                upsert_rows(Folder, rows, conflict_fields=["tenant_id", "name"], update_fields=["status"])

    assert run_together(2, upsert_repeatedly) == []
    assert deadlocks_so_far() == deadlocks, "rows were locked in different orders"
    assert sorted(Folder.objects.values_list("name", flat=True)) == names


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_one_key_record_a_chain_of_true_befores(postgres: None) -> None:
    folder = Folder.objects.create(tenant_id=TENANT, name="contended", status="v0")

    def upsert_repeatedly(index: int) -> None:
        for round_number in range(10):
            rows = [{"tenant_id": TENANT, "name": "contended", "status": f"t{index}-{round_number}"}]
            upsert_rows(Folder, rows, conflict_fields=["tenant_id", "name"], update_fields=["status"])

    assert run_together(4, upsert_repeatedly) == []
    updates = [
        e.changes["status"]
        for e in AuditEvent.objects.for_object(Folder, folder.pk).filter(action="update").order_by("id")
    ]
    assert len(updates) == 40
    befores = [before for before, _ in updates]
    assert len(set(befores)) == len(befores), "two events claim the same before"
    assert befores == ["v0"] + [after for _, after in updates[:-1]], "each before is what the last writer left"
    assert Folder.objects.get(pk=folder.pk).status == updates[-1][1]


@pytest.mark.django_db(transaction=True)
def test_an_upsert_racing_an_insert_of_its_key_is_an_update_with_the_true_before(postgres: None) -> None:
    inserted, release = threading.Event(), threading.Event()

    def insert_then_wait() -> None:
        try:
            with transaction.atomic():
                Folder.objects.create(tenant_id=TENANT, name="raced", status="theirs")
                inserted.set()
                assert release.wait(timeout=30)
        finally:
            connection.close()

    results: list[UpsertResult] = []

    def upsert() -> None:
        try:
            rows = [{"tenant_id": TENANT, "name": "raced", "status": "mine"}]
            results.append(upsert_rows(Folder, rows, conflict_fields=["tenant_id", "name"], update_fields=["status"]))
        finally:
            connection.close()

    inserter, upserter = threading.Thread(target=insert_then_wait), threading.Thread(target=upsert)
    inserter.start()
    assert inserted.wait(timeout=30)
    upserter.start()  # its snapshot cannot see the uncommitted row; its INSERT waits for it
    wait_until_a_backend_waits_for_a_lock()
    release.set()
    inserter.join(timeout=30)
    upserter.join(timeout=30)
    assert results == [UpsertResult(created=0, updated=1)]
    folder = Folder.objects.get(name="raced")
    events = [
        (e.action, e.changes.get("status")) for e in AuditEvent.objects.for_object(Folder, folder.pk).order_by("id")
    ]
    assert events == [("create", [None, "theirs"]), ("update", ["theirs", "mine"])]


@pytest.mark.django_db(transaction=True)
def test_a_race_lost_on_every_attempt_is_a_conflict_and_writes_nothing(postgres: None) -> None:
    """Under REPEATABLE READ a key inserted after the snapshot is a serialization failure on every retry."""
    from apps.core.errors import Conflict

    other = connections.create_connection("default")
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            assert not Folder.objects.exists()  # the snapshot is taken here
            with other.cursor() as cursor:  # committed by another session after it
                cursor.execute(
                    "INSERT INTO testapp_folder (id, created_at, updated_at, created_by, updated_by, deleted_by,"
                    " tenant_id, name, status) VALUES (%s, now(), now(), '', '', '', %s, 'late', 'theirs')",
                    [uuid.uuid4(), TENANT],
                )
            rows = [{"tenant_id": TENANT, "name": "late", "status": "mine"}]
            with pytest.raises(Conflict, match="kept colliding"):
                upsert_rows(Folder, rows, conflict_fields=["tenant_id", "name"], update_fields=["status"])
            # The caller's transaction is still usable (only the savepoint rolled back), and holds nothing of it.
            assert not AuditEvent.objects.exists()
    finally:
        other.close()
    assert Folder.objects.get(name="late").status == "theirs"
