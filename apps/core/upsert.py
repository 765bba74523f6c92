"""Insert-or-update many rows by a unique key, audited, counting created and updated rows.

Semantics, on every database:

- a row updates only the fields it gives (of `update_fields`); a field it omits keeps the
  value the row holds. Defaults fill omitted fields only on the rows it inserts. Rows of
  one call may give different fields;
- two rows with the same key: later rows' fields win over earlier ones', as a sequence of
  single-row upserts would leave it;
- the stamps are the model's own hooks (`stamp_for_create()` for the rows it inserts,
  `update_stamps()` for the rows it updates, as every other write path asks them): with the
  core mixins, `updated_*` are stamped and `created_*` never change; a soft-deleted row is never touched
  (the key targets the live rows' partial unique index, so its key can be created again);
- one audit event per created or changed row, in the same transaction, its diff built by
  `apps.core.audit.changed_fields` from the values read back (as every other write path
  builds it) and encoded by the `AuditEvent.changes` field itself;
- the model's declared side effects (`apps.core.side_effects`) run once for the whole call:
  one summary event, and the tags of every row it wrote.

On PostgreSQL the rows are streamed with `COPY` into a temporary table; then, set-based:

1. `UPDATE .. FROM (SELECT .. FOR NO KEY UPDATE)`: the existing live rows are locked in key
   order, and what each held *under that lock* is returned beside what it holds after, so
   the audit's "before" is the true one even when other transactions changed the row a
   moment earlier (a snapshot read would return a stale value, or none);
2. `INSERT .. SELECT .. ORDER BY key ON CONFLICT (key) WHERE deleted_at IS NULL DO
   NOTHING` for the rest, in key order too. Two upserts over overlapping keys lock and
   insert in the same order, so they queue instead of deadlocking;
3. a row that neither step wrote was inserted by another transaction in between: the next
   round updates it (its "before" read under the lock), so it is never mislabelled a
   create, nor an update with made-up old values (the loop of PostgreSQL's own
   "UPDATE, else INSERT, else retry" upsert example);
4. the audit events are streamed in with one more `COPY`.

A deadlock or serialization failure that still happens (other writers that lock in another
order) rolls back to a savepoint and the whole call is retried, a few times with jittered
backoff; then it is `Conflict` (409), never a server error. Elsewhere (SQLite, the embedded
default) the same semantics come from chunked `bulk_update` + `bulk_create` through the
audited querysets; SQLite serializes writers, so there is nothing to race.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from django.core.exceptions import ValidationError
from django.db import OperationalError, connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core import side_effects
from apps.core.audit import AuditRecord, changed_fields, encoded_changes, is_audited
from apps.core.backoff import retry_delay
from apps.core.bulk_copy import copy_rows
from apps.core.context import current_actor, current_request_id
from apps.core.errors import Conflict, InvalidInput
from apps.core.models.audit import AuditAction, AuditEvent
from apps.core.models.features import is_soft_deletable
from apps.core.models.mixins import CoreModel
from apps.core.tenant_ownership import TENANT_FIELD, has_tenant_column

if TYPE_CHECKING:
    from psycopg.sql import Composable

__all__ = ["UpsertResult", "upsert_rows"]

_CHUNK = 500
# deadlock_detected, serialization_failure: the transaction lost a race, a retry may win it.
_LOST_RACE = frozenset({"40P01", "40001"})
_ATTEMPTS = 5
_RETRY_BASE_SECONDS = 0.02
_RETRY_CAP_SECONDS = 0.5
# Rounds of "update, else insert" while other transactions keep inserting the same keys.
_ROUNDS = 5
# The staging column of the per-row mask: no Django field name contains a space.
_GIVEN = "upsert given"


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int


def _field_map(model: type[models.Model]) -> dict[str, models.Field[Any, Any]]:
    return {field.name: field for field in model._meta.concrete_fields}


def _creation_stamps(model: type[models.Model]) -> dict[str, Any]:
    """`{field: value}` the model's `stamp_for_create()` fills on a row that gives nothing (none off the core)."""
    if not issubclass(model, CoreModel):
        return {}
    probe = model()
    fields = model._meta.concrete_fields
    blank = {field.name: getattr(probe, field.attname) for field in fields}
    probe.stamp_for_create()
    return {
        field.name: getattr(probe, field.attname)
        for field in fields
        if getattr(probe, field.attname) != blank[field.name]
    }


def _update_stamps(model: type[models.Model]) -> dict[str, Any]:
    """`{field: value}` every update writes: the model's `update_stamps()` (none off the core)."""
    return model.update_stamps() if issubclass(model, CoreModel) else {}


def _merge_by_key(
    rows: Sequence[Mapping[str, Any]], key: Sequence[str], known: Mapping[str, models.Field[Any, Any]]
) -> list[Mapping[str, Any]]:
    """One row per key, later rows' fields over earlier ones'; every row must give the key.

    Keys are compared as their fields read them (`to_python`), so `"AB.."` and `UUID("ab..")`
    are one key, as they are one row in the table.
    """
    by_key: dict[tuple[str, ...], Mapping[str, Any]] = {}
    key_fields = [known[name] for name in key]
    for row in rows:
        missing = [name for name in key if name not in row]
        if missing:
            raise InvalidInput(
                f"Every row needs {', '.join(key)}.", errors={name: ["This field is required."] for name in missing}
            )
        nulls = [name for name in key if row[name] is None]
        if nulls:  # NULLs never conflict: an upsert by them could only ever insert
            raise InvalidInput(
                f"Rows need a value for {', '.join(nulls)}.", errors={name: ["May not be null."] for name in nulls}
            )
        unknown = row.keys() - known.keys()
        if unknown:
            raise InvalidInput(
                f"Rows may only give fields of the model; unknown: {', '.join(sorted(unknown))}.",
                errors={name: ["Unknown field."] for name in sorted(unknown)},
            )
        try:
            identity = _key_of(row, key_fields)
        except ValidationError as error:
            raise InvalidInput(
                "A row's key is not a valid value; see errors.", errors={"key": error.messages}
            ) from None
        earlier = by_key.get(identity)
        by_key[identity] = row if earlier is None else {**earlier, **row}
    return list(by_key.values())


def _key_of(values: Mapping[str, Any], key_fields: Sequence[models.Field[Any, Any]]) -> tuple[str, ...]:
    return tuple([str(field.to_python(values[field.name])) for field in key_fields])


def upsert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_fields: Sequence[str],
    update_fields: Sequence[str],
    using: str = "default",
) -> UpsertResult:
    """Insert or update `rows` by `conflict_fields`; on conflict, write only the `update_fields` a row gives."""
    fields = _field_map(model)
    unknown = [name for name in [*conflict_fields, *update_fields] if name not in fields]
    if unknown:
        raise ValueError(f"{model._meta.label} has no fields {unknown}")
    if not update_fields and not _update_stamps(model):
        raise ValueError(f"Nothing to update on conflict: give update_fields ({model._meta.label} has no stamps)")
    unique_rows = _merge_by_key(rows, conflict_fields, fields)
    if not unique_rows:
        return UpsertResult(0, 0)
    write = _upsert_postgresql if connections[using].vendor == "postgresql" else _upsert_portable
    for attempt in range(_ATTEMPTS):
        try:
            # A savepoint when the caller has a transaction: a lost race undoes only this attempt (and
            # its side effects: the events it wrote, the invalidation it queued).
            with transaction.atomic(using=using), side_effects.gathered(model) as written:
                result = write(model, unique_rows, conflict_fields, update_fields, using)
                side_effects.upserted(model, written, created=result.created, updated=result.updated, using=using)
                return result
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) not in _LOST_RACE:
                raise
            if attempt == _ATTEMPTS - 1:
                raise Conflict(
                    "Other writes to the same rows kept colliding with this upsert; retry it.",
                    errors={"rows": [f"Deadlock or serialization failure, {_ATTEMPTS} attempts."]},
                ) from error
            time.sleep(retry_delay(attempt, base=_RETRY_BASE_SECONDS, cap=_RETRY_CAP_SECONDS))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


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


@dataclass(frozen=True)
class _Staged:
    """What goes through COPY, and what the statements write as constants."""

    copied: list[str]  # field names, one staging column each
    constants: dict[str, Any]  # field name -> the one value every inserted row gets
    update_stamps: dict[str, Any]  # field name -> the one value every updated row gets
    always_given: list[str]  # update fields every row gives: updated from the staging column
    sometimes_given: list[str]  # update fields some rows give: updated where the row's mask says so
    lines: list[list[Any]]  # per row: the copied values, then the mask when there is one


def _stage(model: type[models.Model], rows: Sequence[Mapping[str, Any]], update_fields: Sequence[str]) -> _Staged:
    """Only what varies travels through COPY: the rows' own fields and per-row defaults (the
    primary key). The creation stamps and plain defaults are one constant each, written by the
    INSERT. A row that omits a field gets its default (or stamp) in the staging table, for the
    INSERT only. A stamp a row gives is kept, as `stamp_for_create()` keeps it on a save.
    """
    fields = _field_map(model)
    supplied = set().union(*(row.keys() for row in rows))
    creation_stamps = _creation_stamps(model)
    stamps = {name: value for name, value in creation_stamps.items() if name not in supplied}
    given_stamps = {name: value for name, value in creation_stamps.items() if name in supplied}
    copied, constants = [], {}
    for name, field in fields.items():
        if field.primary_key and isinstance(field, models.AutoField) and name not in supplied:
            continue  # the database numbers new rows (identity/serial): neither copied nor constant
        if name in stamps:
            constants[name] = stamps[name]
        elif name in supplied or (field.has_default() and callable(field.default)):
            copied.append(name)
        else:
            constants[name] = field.get_default()
    givers = {name: sum(1 for row in rows if name in row) for name in update_fields if name in supplied}
    always_given = [name for name, count in givers.items() if count == len(rows)]
    sometimes_given = [name for name, count in givers.items() if count < len(rows)]
    fills: list[Callable[[], Any]] = []  # the value of a column for a row without it
    for name in copied:
        field = fields[name]
        if name in given_stamps:  # some rows give it: the others get the stamp
            fills.append(functools.partial(_constant, given_stamps[name]))
        elif field.has_default() and callable(field.default):
            fills.append(field.default)
        else:
            fills.append(functools.partial(_constant, field.get_default()))
    sources = list(zip(copied, fills, strict=True))
    json_text = [
        (position, _json_text(field))
        for position, field in enumerate(fields[name] for name in copied)
        if isinstance(field, models.JSONField)
    ]
    lines = []
    for row in rows:
        line = [row[name] if name in row else fill() for name, fill in sources]
        for position, dumps in json_text:
            line[position] = dumps(line[position])
        if sometimes_given:
            line.append([name in row for name in sometimes_given])
        lines.append(line)
    return _Staged(copied, constants, _update_stamps(model), always_given, sometimes_given, lines)


def _reader(model: type[models.Model], names: Sequence[str], using: str) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Turns a returned row of `names` into `{attname: value}`, converted as the ORM converts what it reads."""
    connection = connections[using]
    columns = []
    for name in names:
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field)
        column = field.get_col(model._meta.db_table)
        converters = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
        columns.append((field.attname, column, converters))

    def read(row: Sequence[Any]) -> dict[str, Any]:
        values = {}
        for (attname, column, converters), raw in zip(columns, row, strict=True):
            value = raw
            for converter in converters:
                value = converter(value, column, connection)
            values[attname] = value
        return values

    return read


@dataclass(frozen=True)
class _Plan:
    """The statements of one PostgreSQL upsert, and the layout of what they return."""

    create_staging: Composable
    copy: Composable
    update: Composable  # one round's UPDATE of existing rows: returns the audit's rows, or a count
    insert: Composable  # one round's INSERT of the rest: the same
    drop_staging: Composable
    identity: list[str]  # after the key: what an updated row returns (pk, tenant), then old and new values
    diff: list[str]
    inserted: list[str]  # after the key: what an inserted row returns (every field)


def _plan(
    model: type[models.Model],
    staged: _Staged,
    conflict_fields: Sequence[str],
    update_fields: Sequence[str],
    using: str,
) -> _Plan:
    from psycopg import sql  # noqa: PLC0415 - PostgreSQL only
    from psycopg.types.json import Jsonb  # noqa: PLC0415

    fields = _field_map(model)
    connection = connections[using]
    audited = is_audited(model)

    def column(name: str) -> sql.Identifier:
        return sql.Identifier(fields[name].column)

    def joined(template: str, names: Sequence[str], separator: str = ", ") -> sql.Composable:
        return sql.SQL(separator).join(sql.SQL(template).format(column(name)) for name in names)

    def constant(name: str, value: Any) -> sql.Composable:
        field = fields[name]
        literal = Jsonb(value) if isinstance(field, models.JSONField) else field.get_db_prep_value(value, connection)
        return sql.SQL("CAST({} AS {})").format(sql.Literal(literal), sql.SQL(field.db_type(connection) or "text"))

    def returning(values: Sequence[sql.Composable]) -> dict[str, sql.Composable]:
        """RETURNING the key (to consume the staging rows written), then what the audit needs;
        the statement answers those values, or only a count when nothing is audited."""
        expressions = [sql.SQL("t.{}").format(column(name)) for name in conflict_fields] + list(values)
        aliases = [sql.Identifier(f"r{position}") for position in range(len(expressions))]
        return {
            "returning": sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(expression, alias)
                for expression, alias in zip(expressions, aliases, strict=True)
            ),
            "consumed": sql.SQL(" AND ").join(
                sql.SQL("s.{} = done.{}").format(column(name), alias)
                for name, alias in zip(conflict_fields, aliases, strict=False)  # the key's aliases
            ),
            "answer": sql.SQL(", ").join(aliases[len(conflict_fields) :]) if values else sql.SQL("count(*)"),
        }

    table = sql.Identifier(model._meta.db_table)
    staging = sql.Identifier(f"upsert_{uuid.uuid4().hex}")
    pk_name = model._meta.pk.name
    identity = [pk_name, *([TENANT_FIELD] if has_tenant_column(model) else [])]
    diff = list(update_fields)
    inserted = [name for name in fields if name in staged.constants or name in staged.copied]
    common = {
        "table": table,
        "staging": staging,
        "key_order": joined("s.{}", conflict_fields),
    }
    soft_deletable = is_soft_deletable(model)

    assignments = [sql.SQL("{0} = s.{0}").format(column(name)) for name in staged.always_given]
    assignments += [
        sql.SQL("{0} = CASE WHEN s.{1}[{2}] THEN s.{0} ELSE t.{0} END").format(
            column(name), sql.Identifier(_GIVEN), sql.Literal(position)
        )
        for position, name in enumerate(staged.sometimes_given, start=1)
    ]
    assignments += [
        sql.SQL("{} = {}").format(column(name), constant(name, value))
        for name, value in staged.update_stamps.items()
        if name not in staged.always_given and name not in staged.sometimes_given
    ]
    if not assignments:  # no row gives an update field, and no stamps: lock and count, change nothing
        assignments = [sql.SQL("{0} = t.{0}").format(column(update_fields[0]))]
    updated_values = [
        *(sql.SQL("t.{}").format(column(name)) for name in identity),
        *(sql.SQL("old.{}").format(column(name)) for name in diff),
        *(sql.SQL("t.{}").format(column(name)) for name in diff),
    ]
    # `old` is read by the locking subquery: what each row holds under the lock, as it is updated.
    update = sql.SQL(
        """
        WITH done AS (
            UPDATE {table} AS t SET {assignments}
            FROM (
                SELECT {old_columns} FROM {table} AS o JOIN {staging} AS s ON {o_is_s}
                {o_alive} ORDER BY {key_order} FOR NO KEY UPDATE OF o
            ) AS old, {staging} AS s
            WHERE t.{pk} = old.{pk} AND {s_is_old}
            RETURNING {returning}
        ), consumed AS (
            DELETE FROM {staging} AS s USING done WHERE {consumed}
        )
        SELECT {answer} FROM done
        """
    ).format(
        **common,
        **returning(updated_values if audited else []),
        assignments=sql.SQL(", ").join(assignments),
        old_columns=joined("o.{}", list(dict.fromkeys([pk_name, *conflict_fields, *diff]))),
        o_is_s=joined("o.{0} = s.{0}", conflict_fields, " AND "),
        o_alive=sql.SQL("WHERE o.deleted_at IS NULL") if soft_deletable else sql.SQL(""),
        pk=column(pk_name),
        s_is_old=joined("s.{0} = old.{0}", conflict_fields, " AND "),
    )
    insert = sql.SQL(
        """
        WITH done AS (
            INSERT INTO {table} AS t ({column_list})
            SELECT {select_list} FROM {staging} AS s ORDER BY {key_order}
            ON CONFLICT ({conflict}) {only_alive} DO NOTHING
            RETURNING {returning}
        ), consumed AS (
            DELETE FROM {staging} AS s USING done WHERE {consumed}
        )
        SELECT {answer} FROM done
        """
    ).format(
        **common,
        **returning([sql.SQL("t.{}").format(column(name)) for name in fields] if audited else []),
        column_list=joined("{}", inserted),
        select_list=sql.SQL(", ").join(
            sql.SQL("s.{}").format(column(name)) if name in staged.copied else constant(name, staged.constants[name])
            for name in inserted
        ),
        conflict=joined("{}", conflict_fields),
        # The predicate names the partial unique index of live rows (`bulk_create` cannot).
        only_alive=sql.SQL("WHERE deleted_at IS NULL") if soft_deletable else sql.SQL(""),
    )
    staged_columns: list[sql.Composable] = [column(name) for name in staged.copied]
    mask: sql.Composable = sql.SQL("")
    if staged.sometimes_given:
        staged_columns.append(sql.Identifier(_GIVEN))
        mask = sql.SQL(", CAST(NULL AS boolean[]) AS {}").format(sql.Identifier(_GIVEN))
    return _Plan(
        # Only the copied columns, with the table's types and none of its constraints.
        create_staging=sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {}{} FROM {} WITH NO DATA").format(
            staging, joined("{}", staged.copied), mask, table
        ),
        copy=sql.SQL("COPY {} ({}) FROM STDIN").format(staging, sql.SQL(", ").join(staged_columns)),
        update=update,
        insert=insert,
        drop_staging=sql.SQL("DROP TABLE {}").format(staging),
        identity=identity,
        diff=diff,
        inserted=list(fields),
    )


def _upsert_postgresql(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    conflict_fields: Sequence[str],
    update_fields: Sequence[str],
    using: str,
) -> UpsertResult:
    now = timezone.now()
    staged = _stage(model, rows, update_fields)
    plan = _plan(model, staged, conflict_fields, update_fields, using)
    audited = is_audited(model)
    returned: dict[str, list[Sequence[Any]]] = {"updated": [], "created": []}
    counts = {"updated": 0, "created": 0}
    pending = len(staged.lines)
    connection = connections[using]
    # The psycopg cursor (for COPY) raises psycopg's errors: Django's, as from any query, from here.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        raw.execute(plan.create_staging)
        with raw.copy(plan.copy) as copy:
            for line in staged.lines:
                copy.write_row(line)
        for _round in range(_ROUNDS):
            for kind, statement in (("updated", plan.update), ("created", plan.insert)):
                raw.execute(statement)
                answer = raw.fetchall()
                written = len(answer) if audited else int(answer[0][0])
                if audited:
                    returned[kind] += answer
                counts[kind] += written
                pending -= written
            if not pending:
                break
        if pending:
            raise Conflict(
                "Other transactions kept inserting and deleting the same keys during this upsert; retry it.",
                errors={"rows": [f"{pending} row(s) could be neither inserted nor updated."]},
            )
        raw.execute(plan.drop_staging)
        if audited:
            for action, records in _audit_records(model, plan, returned["created"], returned["updated"], using):
                # An updated row whose diff is empty moved only its stamps: no audit event, but a change.
                logged = [item for item in records if item.changes or action is not AuditAction.UPDATE]
                _copy_events(model, action, logged, occurred_at=now, using=using)
                side_effects.changed(model, action, records, using=using)
    return UpsertResult(counts["created"], counts["updated"])


def _audit_records(
    model: type[models.Model],
    plan: _Plan,
    created: Sequence[Sequence[Any]],
    updated: Sequence[Sequence[Any]],
    using: str,
) -> list[tuple[AuditAction, list[AuditRecord]]]:
    """The audit records of what the statements returned, diffed as every other write path diffs."""
    pk = model._meta.pk.attname
    read_inserted = _reader(model, plan.inserted, using)
    creations = []
    for row in created:
        values = read_inserted(row)
        creations.append(AuditRecord(values[pk], changed_fields(model, {}, values), values.get("tenant_id")))
    read_identity, read_diff = _reader(model, plan.identity, using), _reader(model, plan.diff, using)
    width, diff_width = len(plan.identity), len(plan.diff)
    changes = []
    for row in updated:
        diff = changed_fields(model, read_diff(row[width : width + diff_width]), read_diff(row[width + diff_width :]))
        identity = read_identity(row[:width])
        changes.append(AuditRecord(identity[pk], diff, identity.get("tenant_id")))
    return [(AuditAction.UPDATE, changes), (AuditAction.CREATE, creations)]


def _copy_events(
    model: type[models.Model],
    action: AuditAction,
    records: Sequence[AuditRecord],
    *,
    occurred_at: Any,
    using: str,
) -> None:
    """`audit.record()`'s events, streamed with COPY: its one INSERT per 2,000 rows, quoted
    client-side, cost more than the upsert itself. `changes` is encoded by the AuditEvent
    field's own adapter (its DjangoJSONEncoder), so the stored JSON is the ORM's, byte for byte.
    """
    if not records:
        return
    connection = connections[using]
    changes_field = AuditEvent._meta.get_field("changes")
    assert isinstance(changes_field, models.JSONField)
    actor, request_id, label = current_actor() or "", current_request_id() or "", model._meta.label_lower
    names = ["occurred_at", "actor", "action", "model_label", "object_pk", "tenant_id", "request_id", "changes"]
    copy_rows(
        AuditEvent,
        names,
        (
            (
                occurred_at,
                actor,
                action.value,
                label,
                str(item.pk),
                item.tenant_id,
                request_id,
                changes_field.get_db_prep_value(encoded_changes(model, item.changes), connection),
            )
            for item in records
        ),
        using=using,
    )


def _upsert_portable(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    conflict_fields: Sequence[str],
    update_fields: Sequence[str],
    using: str,
) -> UpsertResult:
    manager = model._default_manager.db_manager(using)
    key_fields = [_field_map(model)[name] for name in conflict_fields]
    created = updated = 0
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        match = Q(pk__in=[])
        for row in chunk:
            match |= Q(**{name: row[name] for name in conflict_fields})
        existing = {
            _key_of({field.name: getattr(obj, field.attname) for field in key_fields}, key_fields): obj
            for obj in manager.filter(match).select_for_update()
        }
        to_create = []
        by_fields_given: dict[tuple[str, ...], list[models.Model]] = {}
        for row in chunk:
            obj = existing.get(_key_of(row, key_fields))
            if obj is None:
                to_create.append(model(**row))
                continue
            given = tuple(name for name in update_fields if name in row)
            for name in given:
                setattr(obj, name, row[name])
            by_fields_given.setdefault(given, []).append(obj)
        for given, objs in by_fields_given.items():
            if given:
                manager.bulk_update(objs, list(given))
            else:  # the row gave only its key: stamped as updated, nothing else changes
                manager.filter(pk__in=[obj.pk for obj in objs]).update()
            updated += len(objs)
        if to_create:
            manager.bulk_create(to_create)
            created += len(to_create)
    return UpsertResult(created, updated)
