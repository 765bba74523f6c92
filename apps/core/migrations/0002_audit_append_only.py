"""Make the audit log append-only in the database itself (PostgreSQL).

The ORM already refuses to update or delete `AuditEvent` rows; this trigger also
refuses raw SQL, a `dbshell` session or another service sharing the database.
INSERT stays allowed (every write path, hard deletes included, only appends).
TRUNCATE is left alone on purpose: Django's test flush and an owner's deliberate
purge use it; production roles should not be granted TRUNCATE on the table.

On other databases (SQLite in the embedded setup) this migration does nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

FUNCTION = "core_auditevent_append_only"
TRIGGER = "core_auditevent_append_only"


def _table(apps: Any, schema_editor: Any) -> str:
    return str(schema_editor.quote_name(apps.get_model("core", "AuditEvent")._meta.db_table))


def create_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """,
        params=None,  # no placeholders: the `%` in RAISE must reach PostgreSQL as written
    )
    # Statement-level: refused even when no row matches, and no per-row cost.
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {_table(apps, schema_editor)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
    )


def drop_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {_table(apps, schema_editor)}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger, elidable=False)]
