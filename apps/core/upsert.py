"""Insert-or-update many rows by a unique key, audited, counting created and updated rows.

On PostgreSQL the rows are streamed with `COPY` into a temporary table, then one
statement does the rest: `INSERT .. SELECT .. ON CONFLICT (key) WHERE deleted_at IS
NULL DO UPDATE` (so it targets the *partial* unique index of a soft-deletable model,
which Django's `bulk_create(update_conflicts=True)` cannot name), stamps `updated_*`
and never `created_*`, and writes one audit event per created or changed row with
the field diff, in the same transaction. Elsewhere (SQLite, the embedded default) it
falls back to chunked `bulk_update` + `bulk_create` through the audited querysets.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.context import current_actor, current_request_id
from apps.core.errors import InvalidInput
from apps.core.models.audit import AuditEvent

__all__ = ["UpsertResult", "upsert_rows"]

_CHUNK = 500
_STAMPS_ON_CREATE = ("created_at", "updated_at", "created_by", "updated_by")


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int


def _field_map(model: type[models.Model]) -> dict[str, models.Field[Any, Any]]:
    return {field.name: field for field in model._meta.concrete_fields}


def _deduplicate(
    rows: Sequence[Mapping[str, Any]], key: Sequence[str], required: Sequence[str]
) -> list[Mapping[str, Any]]:
    """The last row for each key wins, as a sequence of single-row upserts would have it."""
    needed = frozenset(required)
    by_key: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for row in rows:
        if not needed <= row.keys():
            missing = [name for name in required if name not in row]
            raise InvalidInput(
                f"Every row needs {', '.join(required)}.",
                errors={name: ["This field is required."] for name in missing},
            )
        by_key[tuple([str(row[name]) for name in key])] = row
    return list(by_key.values())


def upsert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_fields: Sequence[str],
    update_fields: Sequence[str],
    using: str = "default",
) -> UpsertResult:
    fields = _field_map(model)
    unknown = [name for name in [*conflict_fields, *update_fields] if name not in fields]
    if unknown:
        raise ValueError(f"{model._meta.label} has no fields {unknown}")
    unique_rows = _deduplicate(rows, conflict_fields, [*conflict_fields, *update_fields])
    if not unique_rows:
        return UpsertResult(0, 0)
    if connections[using].vendor == "postgresql":
        return _upsert_postgresql(model, unique_rows, conflict_fields, update_fields, using)
    return _upsert_portable(model, unique_rows, conflict_fields, update_fields, using)


def _constant(value: Any) -> Any:
    return value


def _json_text(field: models.JSONField[Any]) -> Any:
    """A row value of `field` as JSON text for COPY: orjson unless the field has its own encoder."""
    if field.encoder is not None:
        encoder = field.encoder
        return lambda value: json.dumps(value, cls=encoder)

    def dumps(value: Any) -> str:
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # a type orjson does not know: what the field itself would do
            return json.dumps(value)

    return dumps


def _complete_rows(
    model: type[models.Model], rows: Sequence[Mapping[str, Any]], now: Any, actor: str
) -> tuple[list[str], dict[str, Any], list[list[Any]]]:
    """(columns sent per row, constant value per other column, the rows' values for the first).

    Only what varies travels through COPY: the rows' own fields and per-row defaults (the
    primary key). The stamps and plain defaults are one constant each, written by the INSERT.
    """
    fields = _field_map(model)
    stamps = {"created_at": now, "updated_at": now, "created_by": actor, "updated_by": actor}
    supplied = set().union(*(row.keys() for row in rows)) - set(stamps)
    copied, constant = [], {}
    for name, field in fields.items():
        if field.primary_key and isinstance(field, models.AutoField) and name not in supplied:
            continue  # the database numbers new rows (identity/serial): neither copied nor constant
        if name in stamps:
            constant[name] = stamps[name]
        elif name in supplied or (field.has_default() and callable(field.default)):
            copied.append(name)
        else:
            constant[name] = field.get_default()
    fills: list[Callable[[], Any]] = []  # the value of a column for a row without it
    for name in copied:
        field = fields[name]
        if field.has_default() and callable(field.default):
            fills.append(field.default)
        else:
            fills.append(functools.partial(_constant, field.get_default()))
    sources = list(zip(copied, fills, strict=True))
    json_text = [
        (position, _json_text(field))
        for position, field in enumerate(fields[name] for name in copied)
        if isinstance(field, models.JSONField)
    ]
    values = []
    for row in rows:
        line = [row[name] if name in row else fill() for name, fill in sources]
        for position, dumps in json_text:
            line[position] = dumps(line[position])
        values.append(line)
    return copied, constant, values


def _upsert_postgresql(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    conflict_fields: Sequence[str],
    update_fields: Sequence[str],
    using: str,
) -> UpsertResult:
    from psycopg import sql  # noqa: PLC0415 - PostgreSQL only
    from psycopg.types.json import Jsonb  # noqa: PLC0415

    fields = _field_map(model)
    connection = connections[using]
    now = timezone.now()
    actor = current_actor() or ""
    copied, constants, values = _complete_rows(model, rows, now, actor)
    columns = [fields[name].column for name in fields]
    inserted = [name for name in fields if name in constants or name in copied]
    copied_columns = sql.SQL(", ").join(sql.Identifier(fields[name].column) for name in copied)
    select_list = sql.SQL(", ").join(
        sql.Identifier(fields[name].column)
        if name not in constants
        else sql.SQL("CAST({} AS {})").format(
            sql.Literal(
                Jsonb(constants[name])
                if isinstance(fields[name], models.JSONField)
                else fields[name].get_db_prep_value(constants[name], connection)
            ),
            sql.SQL(fields[name].db_type(connection) or "text"),
        )
        for name in inserted
    )
    table = sql.Identifier(model._meta.db_table)
    staging = sql.Identifier(f"upsert_{uuid.uuid4().hex}")
    pk = model._meta.pk.column
    column_list = sql.SQL(", ").join(sql.Identifier(fields[name].column) for name in inserted)
    conflict = sql.SQL(", ").join(sql.Identifier(fields[name].column) for name in conflict_fields)
    soft = "deleted_at" in fields
    only_alive = sql.SQL(" WHERE deleted_at IS NULL") if soft else sql.SQL("")
    set_columns = [fields[name].column for name in update_fields] + [
        fields[name].column for name in ("updated_at", "updated_by") if name in fields
    ]
    assignments = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in set_columns)
    diff_columns = [fields[name].column for name in update_fields]
    join_on = sql.SQL(" AND ").join(
        sql.SQL("t.{0} = s.{0}").format(sql.Identifier(fields[name].column)) for name in conflict_fields
    )
    created_json = sql.SQL("jsonb_build_object({})").format(
        sql.SQL(", ").join(
            sql.SQL("{}, jsonb_build_array(NULL, up.{})").format(sql.Literal(c), sql.Identifier(c)) for c in columns
        )
    )
    changed_json = (
        sql.SQL(" || ").join(
            sql.SQL(
                "CASE WHEN old.{0} IS DISTINCT FROM up.{0} "
                "THEN jsonb_build_object({1}, jsonb_build_array(old.{0}, up.{0})) "
                "ELSE '{{}}'::jsonb END"
            ).format(sql.Identifier(c), sql.Literal(c))
            for c in diff_columns
        )
        if diff_columns
        else sql.SQL("'{}'::jsonb")
    )
    any_changed = (
        sql.SQL(" OR ").join(sql.SQL("old.{0} IS DISTINCT FROM up.{0}").format(sql.Identifier(c)) for c in diff_columns)
        if diff_columns
        else sql.SQL("FALSE")
    )
    tenant = sql.SQL("up.tenant_id") if "tenant_id" in fields else sql.SQL("NULL::uuid")
    returning = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns)
    old_columns = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in {pk, *diff_columns})
    # `old` reads the rows as they were before this statement: every CTE shares one snapshot.
    # (No FOR UPDATE there: a row the upsert itself changes could not be locked, and would vanish.)
    statement = sql.SQL(
        """
        WITH old AS (
            SELECT {old_columns} FROM {table} t JOIN {staging} s ON {join_on}
            {old_filter}
        ), up AS (
            INSERT INTO {table} AS t ({column_list}) SELECT {select_list} FROM {staging}
            ON CONFLICT ({conflict}){only_alive} DO UPDATE SET {assignments}
            RETURNING {returning}, (t.xmax = 0) AS inserted
        ), audit AS (
            INSERT INTO {audit_table}
                (occurred_at, actor, action, model_label, object_pk, tenant_id, request_id, changes)
            SELECT %(now)s, %(actor)s, CASE WHEN up.inserted THEN 'create' ELSE 'update' END, %(label)s,
                   up.{pk}::text, {tenant}, %(request_id)s,
                   CASE WHEN up.inserted THEN {created_json} ELSE {changed_json} END
            FROM up LEFT JOIN old ON old.{pk} = up.{pk}
            WHERE %(audited)s AND (up.inserted OR {any_changed})
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
        """
    ).format(
        old_columns=old_columns,
        table=table,
        staging=staging,
        join_on=join_on,
        old_filter=sql.SQL("WHERE t.deleted_at IS NULL") if soft else sql.SQL(""),
        column_list=column_list,
        select_list=select_list,
        conflict=conflict,
        only_alive=only_alive,
        assignments=assignments,
        returning=returning,
        audit_table=sql.Identifier(AuditEvent._meta.db_table),
        pk=sql.Identifier(pk),
        tenant=tenant,
        created_json=created_json,
        changed_json=changed_json,
        any_changed=any_changed,
    )
    params = {
        "now": now,
        "actor": actor,
        "label": model._meta.label_lower,
        "request_id": current_request_id() or "",
        "audited": bool(getattr(model, "audit_changes", False)),
    }
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        # Only the copied columns, with the table's types and none of its constraints.
        raw.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                staging, copied_columns, table
            )
        )
        with raw.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staging, copied_columns)) as copy:
            for line in values:
                copy.write_row(line)
        raw.execute(statement, params)
        created, updated = raw.fetchone()
        raw.execute(sql.SQL("DROP TABLE {}").format(staging))
    return UpsertResult(int(created), int(updated))


def _upsert_portable(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    conflict_fields: Sequence[str],
    update_fields: Sequence[str],
    using: str,
) -> UpsertResult:
    manager = model._default_manager.db_manager(using)
    created = updated = 0
    with transaction.atomic(using=using):
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            match = Q(pk__in=[])
            for row in chunk:
                match |= Q(**{name: row[name] for name in conflict_fields})
            existing = {
                tuple(str(getattr(obj, name)) for name in conflict_fields): obj for obj in manager.filter(match)
            }
            to_update, to_create = [], []
            for row in chunk:
                obj = existing.get(tuple(str(row[name]) for name in conflict_fields))
                if obj is None:
                    to_create.append(model(**row))
                else:
                    for name in update_fields:
                        setattr(obj, name, row[name])
                    to_update.append(obj)
            if to_update:
                manager.bulk_update(to_update, list(update_fields))
                updated += len(to_update)
            if to_create:
                manager.bulk_create(to_create)
                created += len(to_create)
    return UpsertResult(created, updated)
