"""Audit columns and the append-only audit log, on save and on every bulk path."""

from __future__ import annotations

import datetime
import re
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.db import models, transaction
from django.test.utils import CaptureQueriesContext

from apps.core.audit import audit_value
from apps.core.context import acting_as, in_tenant
from apps.core.models import AuditEvent, AuditLogIsAppendOnly
from tests.factories import TENANT_A, TENANT_B, FolderFactory, NoteFactory
from tests.testapp.models import Folder, Label, Plain, Reading

pytestmark = pytest.mark.django_db


def events_for(obj: models.Model) -> list[AuditEvent]:
    return list(AuditEvent.objects.for_object(type(obj), obj.pk).order_by("id"))


def test_create_stamps_columns_and_records_the_full_snapshot() -> None:
    with acting_as("admin:alice"), in_tenant(TENANT_A):
        folder = Folder.objects.create(name="q3")
    assert (folder.created_by, folder.updated_by, folder.tenant_id) == ("admin:alice", "admin:alice", TENANT_A)
    assert folder.created_at == folder.updated_at
    [event] = events_for(folder)
    assert (event.action, event.actor, event.tenant_id) == ("create", "admin:alice", TENANT_A)
    assert event.changes["name"] == [None, "q3"]
    assert event.model_label == "testapp.folder"


def test_update_records_only_the_diff_and_never_changes_creation_stamps() -> None:
    with acting_as("admin:alice"):
        folder = FolderFactory.create(status="draft")
    created_at = folder.created_at
    with acting_as("3f0c7f66-user-uuid"):
        folder.status = "published"
        folder.created_by = "forged"
        folder.save()
    stored = Folder.objects.get(pk=folder.pk)
    assert stored.created_by == "admin:alice"
    assert stored.created_at == created_at
    assert stored.updated_by == "3f0c7f66-user-uuid"
    assert stored.updated_at > created_at
    update = events_for(folder)[-1]
    assert (update.action, update.actor) == ("update", "3f0c7f66-user-uuid")
    assert update.changes == {"status": ["draft", "published"]}


def test_a_save_that_changes_nothing_records_nothing() -> None:
    folder = FolderFactory.create()
    reloaded = Folder.objects.get(pk=folder.pk)
    reloaded.save()
    assert [e.action for e in events_for(folder)] == ["create"]


def test_queryset_update_records_a_diff_per_row_with_the_actor() -> None:
    first, second = FolderFactory.create(status="draft"), FolderFactory.create(status="review")
    with acting_as("admin:bob"):
        assert Folder.objects.filter(pk__in=[first.pk, second.pk]).update(status="published") == 2
    assert events_for(first)[-1].changes == {"status": ["draft", "published"]}
    assert events_for(second)[-1].changes == {"status": ["review", "published"]}
    assert {e.actor for e in (events_for(first)[-1], events_for(second)[-1])} == {"admin:bob"}
    assert Folder.objects.get(pk=first.pk).updated_by == "admin:bob"


def test_bulk_create_stamps_and_audits_every_row() -> None:
    with acting_as("svc:importer"), in_tenant(TENANT_B):
        created = Folder.objects.bulk_create([Folder(name=f"bulk-{i}") for i in range(5)])
    assert {f.created_by for f in created} == {"svc:importer"}
    assert {f.tenant_id for f in created} == {TENANT_B}
    events = AuditEvent.objects.filter(model_label="testapp.folder", action="create", actor="svc:importer")
    assert sorted(e.object_pk for e in events) == sorted(str(f.pk) for f in created)


def test_bulk_update_records_the_diff_of_a_bulk_change() -> None:
    folders = FolderFactory.create_batch(3, status="draft")
    for index, folder in enumerate(folders):
        folder.status = f"state-{index}"
    with acting_as("admin:carol"):
        Folder.objects.bulk_update(folders, ["status"])
    for index, folder in enumerate(folders):
        last = events_for(folder)[-1]
        assert (last.action, last.actor) == ("update", "admin:carol")
        assert last.changes == {"status": ["draft", f"state-{index}"]}
    assert Folder.objects.get(pk=folders[0].pk).updated_by == "admin:carol"


def test_soft_delete_cascade_and_restore_are_recorded_with_their_batch() -> None:
    folder = FolderFactory.create()
    note = NoteFactory.create(folder=folder)
    with acting_as("admin:alice"):
        folder.delete()
    deleted = events_for(note)[-1]
    assert (deleted.action, deleted.actor, deleted.batch) == ("soft_delete", "admin:alice", folder.delete_batch)
    with acting_as("admin:bob"):
        folder.restore()
    restored = events_for(folder)[-1]
    assert (restored.action, restored.actor) == ("restore", "admin:bob")
    assert restored.changes["deleted_by"] == ["admin:alice", ""]


def test_hard_delete_records_the_last_values_of_every_row_removed() -> None:
    folder = FolderFactory.create(name="to-purge")
    note = NoteFactory.create(folder=folder)
    folder_pk, note_pk = folder.pk, note.pk
    with acting_as("admin:root"):
        folder.hard_delete()
    last = AuditEvent.objects.for_object(Folder, folder_pk).first()
    assert last is not None
    assert (last.action, last.actor) == ("hard_delete", "admin:root")
    assert last.changes["name"] == ["to-purge", None]
    cascaded = AuditEvent.objects.filter(model_label="testapp.note", object_pk=str(note_pk)).first()
    assert cascaded is not None
    assert cascaded.action == "hard_delete", "cascaded rows are recorded too"


def test_audit_rows_roll_back_with_the_change() -> None:
    created: list[Folder] = []

    def create_then_fail() -> None:
        with transaction.atomic():
            created.append(FolderFactory.create())
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert not AuditEvent.objects.filter(object_pk=str(created[0].pk)).exists()
    assert not Folder.all_objects.filter(pk=created[0].pk).exists()


def test_models_without_audit_columns_write_no_events_but_still_stamp_times() -> None:
    from tests.factories import LabelFactory

    label = LabelFactory.create()
    assert label.created_at is not None
    assert not AuditEvent.objects.filter(model_label="testapp.label").exists()


def test_audit_log_is_append_only_through_the_orm() -> None:
    FolderFactory.create()
    event = AuditEvent.objects.first()
    assert event is not None
    event.actor = "tampered"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().update(actor="tampered")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).actor == ""


def test_queryable_by_actor_across_models() -> None:
    with acting_as("admin:dana"):
        folder = FolderFactory.create()
        plain = Plain.objects.create(value=3)
    labels = {e.model_label for e in AuditEvent.objects.by_actor("admin:dana")}
    assert labels == {"testapp.folder", "testapp.plain"}
    assert events_for(plain)[0].changes["value"] == [None, 3]
    assert folder.created_by == "admin:dana"


def test_refresh_from_db_resets_the_baseline_of_the_next_diff() -> None:
    folder = FolderFactory.create(status="draft")
    Folder.objects.filter(pk=folder.pk).update(status="review")
    folder.refresh_from_db()
    folder.status = "published"
    folder.save()
    assert events_for(folder)[-1].changes == {"status": ["review", "published"]}
    Folder.objects.filter(pk=folder.pk).update(status="archived", name="renamed")
    folder.refresh_from_db(fields=["status"])
    folder.status = "draft"
    folder.save(update_fields=["status"])
    assert events_for(folder)[-1].changes == {"status": ["archived", "draft"]}


def test_bulk_update_records_nothing_for_rows_it_did_not_reach() -> None:
    alive, gone = FolderFactory.create(status="draft"), FolderFactory.create(status="draft")
    gone.delete()
    alive.status = gone.status = "published"
    assert Folder.objects.bulk_update([alive, gone], ["status"]) == 1
    assert events_for(alive)[-1].changes == {"status": ["draft", "published"]}
    assert [e.action for e in events_for(gone)] == ["create", "soft_delete"]


# --- the "before" of a save is what the row held, read under its lock ------------------------------


def test_a_stale_instance_records_the_value_the_row_really_held() -> None:
    folder = FolderFactory.create(status="draft")
    first, stale = Folder.objects.get(pk=folder.pk), Folder.objects.get(pk=folder.pk)
    first.status = "review"
    first.save()
    stale.status = "published"
    stale.save()
    assert [event.changes for event in events_for(folder)[1:]] == [
        {"status": ["draft", "review"]},
        {"status": ["review", "published"]},
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_never_claim_the_same_before_value(postgres: None) -> None:
    folder = FolderFactory.create(status="s0")
    writers = 6
    loaded = threading.Barrier(writers)
    errors: list[BaseException] = []

    def save_as(index: int) -> None:
        try:
            mine = Folder.objects.get(pk=folder.pk)  # every writer loads "s0" before anyone writes
            loaded.wait(timeout=30)
            mine.status = f"s{index + 1}"
            mine.save()
        except BaseException as error:
            errors.append(error)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=save_as, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    updates = [event.changes["status"] for event in events_for(folder) if event.action == "update"]
    befores = [old for old, _new in updates]
    assert len(updates) == writers
    assert len(set(befores)) == writers, f"two events claim the same before value: {befores}"
    assert befores[0] == "s0"
    assert all(old == previous_new for (old, _), (_, previous_new) in zip(updates[1:], updates, strict=False))


# --- one audit format on every write path -----------------------------------------------------------

CHANGED: dict[str, Any] = {
    # A non-UTC offset, microseconds, a decimal written with fewer places than the column keeps.
    "taken_at": datetime.datetime(2026, 3, 1, 12, 0, 0, 500, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    "source": uuid.UUID("0f0e0d0c-0b0a-4908-8706-050403020100"),
    "amount": Decimal("1.5"),
    "payload": {"tags": ["a", "b"], "n": 1},
}
ENCODED = {
    "taken_at": "2026-03-01T10:00:00.000500Z",
    "source": "0f0e0d0c-0b0a-4908-8706-050403020100",
    "amount": "1.50",
    "payload": {"tags": ["a", "b"], "n": 1},
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _update_by_save(reading: Reading) -> None:
    for name, value in CHANGED.items():
        setattr(reading, name, value)
    reading.save()


def _update_by_queryset(reading: Reading) -> None:
    Reading.objects.filter(pk=reading.pk).update(**CHANGED)


def _update_by_bulk_update(reading: Reading) -> None:
    for name, value in CHANGED.items():
        setattr(reading, name, value)
    Reading.objects.bulk_update([reading], list(CHANGED))


def _last_changes(reading: Reading) -> dict[str, list[Any]]:
    return dict(events_for(reading)[-1].changes)


def test_every_write_path_stores_the_same_diff_in_the_same_encoding() -> None:
    updates = []
    for update in (_update_by_save, _update_by_queryset, _update_by_bulk_update):
        reading = Reading.objects.create()
        update(reading)
        updates.append(_last_changes(reading))
    assert updates[0] == {name: [None, value] for name, value in ENCODED.items()}
    assert updates[1] == updates[0]
    assert updates[2] == updates[0]

    saved = Reading(**CHANGED)
    saved.save()
    [bulk] = Reading.objects.bulk_create([Reading(**CHANGED)])
    creations = [{name: _last_changes(obj)[name] for name in CHANGED} for obj in (saved, bulk)]
    assert creations == [{name: [None, value] for name, value in ENCODED.items()}] * 2

    saved.delete()
    deleted = _last_changes(saved)["deleted_at"]
    assert deleted[0] is None
    assert TIMESTAMP.match(deleted[1])
    saved.restore()
    assert _last_changes(saved)["deleted_at"] == [deleted[1], None]
    saved.hard_delete()
    removed = AuditEvent.objects.filter(action="hard_delete").get().changes
    assert {name: removed[name] for name in CHANGED} == {name: [value, None] for name, value in ENCODED.items()}
    assert TIMESTAMP.match(removed["created_at"][0])


def test_a_value_written_differently_but_stored_the_same_is_no_change() -> None:
    reading = Reading.objects.create(amount=Decimal("1.50"), taken_at=CHANGED["taken_at"])
    reading.amount = Decimal("1.5")
    reading.taken_at = CHANGED["taken_at"].astimezone(datetime.UTC)
    reading.save()
    assert [event.action for event in events_for(reading)] == ["create"]


def test_audit_value_is_one_canonical_form_per_type(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    taken_at = Reading._meta.get_field("taken_at")
    amount = Reading._meta.get_field("amount")
    source = Reading._meta.get_field("source")
    assert audit_value(taken_at, datetime.datetime(2026, 7, 1, 12, 0)) == "2026-07-01T10:00:00.000000Z", "naive: local"
    assert audit_value(taken_at, "2026-07-01T10:00:00Z") == "2026-07-01T10:00:00.000000Z"
    assert audit_value(amount, 2) == audit_value(amount, "2.00") == audit_value(amount, Decimal("2")) == "2.00"
    assert audit_value(source, "0F0E0D0C-0B0A-4908-8706-050403020100") == "0f0e0d0c-0b0a-4908-8706-050403020100"
    assert audit_value(None, datetime.date(2026, 7, 1)) == "2026-07-01"
    assert audit_value(None, datetime.timedelta(hours=26)) == "P1DT02H00M00S"
    assert audit_value(None, b"\x00\xff") == "00ff"
    assert audit_value(None, None) is None
    assert audit_value(amount, "not a number") == "not a number", "never an error while recording"


def test_an_audited_save_costs_one_read_and_an_unaudited_one_none() -> None:
    folder = FolderFactory.create()
    label = Label.objects.create(name="red")
    folder.status, label.name = "published", "blue"
    with CaptureQueriesContext(db_connection) as audited:
        folder.save()
    with CaptureQueriesContext(db_connection) as plain:
        label.save()

    def selects(queries: CaptureQueriesContext) -> int:
        return sum(query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries)

    assert selects(audited) == 1
    assert selects(plain) == 0
