"""The audit log is append-only in PostgreSQL itself, not only through the ORM (migration 0002)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from apps.core.context import acting_as
from apps.core.models import AuditEvent
from tests.factories import FolderFactory, NoteFactory
from tests.testapp.models import Folder

append_only = importlib.import_module("apps.core.migrations.0002_audit_append_only")
TABLE = AuditEvent._meta.db_table


def _raw(sql: str, params: list[str | int] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _triggers() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [TABLE])
        return [row[0] for row in cursor.fetchall()]


def _refused(sql: str, params: list[str | int] | None = None) -> str:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        _raw(sql, params)
    return str(caught.value)


def test_raw_update_and_delete_are_refused_by_the_database(postgres: None) -> None:
    folder = FolderFactory.create()
    [event] = AuditEvent.objects.for_object(Folder, folder.pk)
    assert "UPDATE on core_auditevent refused" in _refused(
        f"UPDATE {TABLE} SET actor = %s WHERE id = %s", ["tampered", event.pk]
    )
    assert "DELETE on core_auditevent refused" in _refused(f"DELETE FROM {TABLE} WHERE id = %s", [event.pk])
    # A statement that matches nothing is refused too: the rule is on the statement, not on rows.
    assert "append-only" in _refused(f"DELETE FROM {TABLE} WHERE id = %s", [-1])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.action) == ("", "create")


def test_inserts_still_work_so_every_write_path_is_recorded(postgres: None) -> None:
    folder = FolderFactory.create()
    note = NoteFactory.create(folder=folder)
    folder_pk, note_pk = folder.pk, note.pk
    with acting_as("admin:alice"):
        Folder.objects.filter(pk=folder_pk).update(status="published")
        folder.delete()
        folder.restore()
        folder.hard_delete()  # rows go; the audit table only receives INSERTs
    assert not Folder.all_objects.filter(pk=folder_pk).exists()
    actions = list(AuditEvent.objects.for_object(Folder, folder_pk).order_by("id").values_list("action", flat=True))
    assert actions == ["create", "update", "soft_delete", "restore", "hard_delete"]
    note_event = AuditEvent.objects.filter(model_label="testapp.note", object_pk=str(note_pk)).first()
    assert note_event is not None
    assert note_event.action == "hard_delete"


def test_the_reverse_migration_removes_the_trigger_and_forward_puts_it_back(postgres: None) -> None:
    FolderFactory.create()
    assert _triggers() == [append_only.TRIGGER]
    # PostgreSQL DDL is transactional: the test transaction undoes all of this afterwards.
    with connection.schema_editor() as editor:
        append_only.drop_trigger(apps, editor)
    assert _triggers() == []
    assert _raw(f"UPDATE {TABLE} SET actor = %s", ["now allowed"]) == 1
    with connection.schema_editor() as editor:
        append_only.create_trigger(apps, editor)
    assert _triggers() == [append_only.TRIGGER]
    assert "append-only" in _refused(f"UPDATE {TABLE} SET actor = %s", ["refused again"])


def test_the_trigger_exists_exactly_on_postgresql(db: None) -> None:
    """Elsewhere (the embedded SQLite) the migration is a no-op and only the ORM guards the log."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            assert _triggers() == [append_only.TRIGGER]
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
            assert cursor.fetchall() == []
