"""A cursor page rendered as JSON bytes, by PostgreSQL when the database is PostgreSQL.

Loading rows into Python costs more than the query: psycopg and Django convert every
`timestamptz` and `uuid` into Python objects, and the API then turns them back into text.
On PostgreSQL, `paginate_cursor_json` asks the database for each row as one compact JSON
text instead; the cursor's ordering values are read back from the first and last rows
only (to sign the cursors), from their JSON or, for a field not in it, a text column.
The page's `results` is then a JSON array in bytes: the API splices it into its
response (`orjson.Fragment`), and a cache stores one `bytes` value instead of pickling
dicts of datetimes. For plain querysets (one table, filters only) the page's SQL is
written here too, the ORM's query building cost as much as running it.

The JSON is what `apps.core.api.renderers.FastJSONRenderer` writes for the same row:

- datetimes in UTC with a `Z`, microseconds only when non-zero (`2026-11-26T11:05:42.705439Z`,
  `2026-11-26T11:05:42Z`), as orjson's `OPT_UTC_Z` writes them;
- UUIDs lowercase and hyphenated; strings escaped by PostgreSQL's `to_json`
  (the same escapes as orjson: `\\"`, `\\\\`, `\\n`..., `\\u00XX` for other controls;
  non-ASCII as UTF-8); NULL as `null`;
- JSON columns as PostgreSQL's `jsonb` text, which puts a space after `,` and `:`
  (`["a", "b"]`): equal once parsed, not byte for byte.

Other databases, and a project with `USE_TZ = False`, take the fallback: the rows as
dicts, rendered by orjson with the renderer's options (the same output, whitespace aside).
Field types whose PostgreSQL JSON differs from orjson's (float, decimal, time, binary...)
are refused with `TypeError` rather than rendered differently.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections, models
from django.db.models import TextField
from django.db.models.expressions import RawSQL
from django.db.models.sql import Query

from apps.core.api.renderers import render_json
from apps.core.pagination import KeysetColumn, KeysetFetch, Ordering, cursor_fields, paginate_cursor

__all__ = ["JsonPage", "json_object", "paginate_cursor_json", "renders_in_database"]


@dataclass(frozen=True)
class JsonPage:
    """One cursor page; `results` is a JSON array (UTF-8 bytes) of the rows."""

    results: bytes
    next_cursor: str | None
    previous_cursor: str | None


# The field types rendered by `to_json(column)`, whose output is orjson's for the same value.
_TO_JSON = (
    models.CharField,
    models.TextField,
    models.UUIDField,
    models.BooleanField,
    models.IntegerField,  # also Big/Small/Positive*, AutoField and BigAutoField
    models.DateField,  # "YYYY-MM-DD" (DateTimeField is handled before this check)
)


# orjson's OPT_UTC_Z: UTC, "Z", the fraction only when the microseconds are not zero. One
# to_char (the costly part) and a replace: ".000000Z" can only be the end of the text.
_DATETIME = (
    "COALESCE('\"' || replace(to_char({column} AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z') || '\"', 'null')"
)
_JSON = "COALESCE(({column})::text, 'null')"  # jsonb text: already JSON
_TO_JSON_TEXT = "COALESCE(to_json({column})::text, 'null')"


def _template_or_none(field: models.Field[Any, Any]) -> str | None:
    if isinstance(field, models.DateTimeField):
        return _DATETIME
    if isinstance(field, models.JSONField):
        return _JSON
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, _TO_JSON):
        return _TO_JSON_TEXT
    return None


def _template(field: models.Field[Any, Any]) -> str:
    template = _template_or_none(field)
    if template is None:
        raise TypeError(f"{field!r} ({type(field).__name__}) has no JSON rendering identical to orjson's")
    return template


def _literal(text: str) -> str:
    """A SQL string literal, also safe from the driver's %-parameter formatting."""
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column(model: type[models.Model], field: models.Field[Any, Any]) -> str:
    # The base table's alias is its name in Django's SQL (joins of the same table get T2, T3...).
    return f"{_identifier(model._meta.db_table)}.{_identifier(str(field.column))}"


@functools.cache
def _json_object_sql(model: type[models.Model], names: tuple[str, ...]) -> str:
    parts = []
    for position, name in enumerate(names):
        field = model._meta.get_field(name)
        if not isinstance(field, models.Field) or field.column is None:
            raise TypeError(f"{model.__name__}.{name} is not a column")
        key = ("{" if position == 0 else ",") + render_json(name).decode() + ":"
        parts += [_literal(key), _template(field).format(column=_column(model, field))]
    parts.append(_literal("}" if names else "{}"))
    return "(" + " || ".join(parts) + ")"


def json_object(model: type[models.Model], names: Sequence[str]) -> RawSQL:
    """A PostgreSQL expression: each row of `model` as a compact JSON object text of `names`, in order.

    One raw SQL node built once per (model, names): Django resolves and hashes a tree of
    expressions on every query, which cost more than rendering the rows.
    """
    # Built from the model's metadata only (quoted identifiers, escaped literals): no input reaches it.
    return RawSQL(_json_object_sql(model, tuple(names)), (), output_field=TextField())  # noqa: S611


def _text_sql(model: type[models.Model], field: models.Field[Any, Any]) -> str:
    """A value's text that the field's `to_python` reads back: ISO 8601 whatever `DateStyle` says."""
    return f"(to_json({_column(model, field)}) #>> '{{}}')"


def renders_in_database(queryset: models.QuerySet[Any, Any]) -> bool:
    """Whether `paginate_cursor_json` lets the database render `queryset`'s rows."""
    return connections[queryset.db].vendor == "postgresql" and bool(settings.USE_TZ)


def paginate_cursor_json(
    queryset: models.QuerySet[Any, Any],
    *,
    fields: Sequence[str],
    ordering: Ordering,
    cursor: str | None = None,
    limit: int = 50,
) -> JsonPage:
    """`paginate_cursor` of `queryset`, each row as a JSON object of `fields`; the same cursors.

    Raises what `paginate_cursor` raises (`InvalidInput` for a bad cursor), and `TypeError`
    for a field type this module does not render (on PostgreSQL).
    """
    if not renders_in_database(queryset):
        page = paginate_cursor(queryset.values(*fields), ordering=ordering, cursor=cursor, limit=limit)
        return JsonPage(render_json(page.items), page.next_cursor, page.previous_cursor)
    model: type[models.Model] = queryset.model
    keys = cursor_fields(model, ordering)
    # Cursor values come from the first and last rows' JSON when the field is in it (and its
    # JSON text is what `to_python` reads back); other fields are fetched as text beside it.
    in_json = [
        field.name in fields and _template_or_none(field) in {_DATETIME, _TO_JSON_TEXT} and not field.is_relation
        for field in keys
    ]
    extra = [field for field, found in zip(keys, in_json, strict=True) if not found]
    selected = [_json_object_sql(model, tuple(fields)), *(_text_sql(model, field) for field in extra)]

    def ordering_values(row: tuple[Any, ...]) -> list[Any]:  # first and last row only
        rendered, texts = orjson.loads(row[0]), iter(row[1:])
        values = []
        for field, found in zip(keys, in_json, strict=True):
            text = rendered[field.name] if found else next(texts)
            values.append(None if text is None else field.to_python(text))
        return values

    one_direction = len({name.startswith("-") for name in ordering.fields}) == 1
    if _is_plain(queryset.query) and one_direction and not any(field.null for field in keys):
        # Our own SQL reads the page; the queryset is then only its filters (no values_list clone).
        rows_qs, fetch = queryset, _fetch_with_sql(queryset, selected)
    else:
        # Built from the model's metadata only, like json_object's.
        expressions = (RawSQL(sql, (), output_field=TextField()) for sql in selected)  # noqa: S611
        rows_qs, fetch = queryset.values_list(*expressions), None
    rows = paginate_cursor(
        rows_qs, ordering=ordering, cursor=cursor, limit=limit, ordering_values=ordering_values, fetch=fetch
    )
    body = "[" + ",".join(row[0] for row in rows.items) + "]"
    return JsonPage(body.encode(), rows.next_cursor, rows.previous_cursor)


def _is_plain(query: Query) -> bool:
    """One table, filters only: what `_fetch_with_sql` can read with `WHERE <the filters>`."""
    return (
        len(query.alias_map) <= 1  # no alias yet (no filter), or the base table's
        and not query.annotations
        and not query.distinct
        and query.group_by is None
        and not query.extra
        and not query.combinator
        and not query.select_for_update
        and query.low_mark == 0
        and query.high_mark is None
    )


def _fetch_with_sql(queryset: models.QuerySet[Any, Any], select: list[str]) -> KeysetFetch:
    """The page's SQL written here rather than by the ORM: building and compiling the ORM's
    query (values, ordering, keyset row value, slice) cost about as much as running it.

    The SQL is what the ORM writes for the same page (`paginate_cursor`): the queryset's
    compiled filters, the row-value keyset `(a, pk) < (%s, %s)`, `ORDER BY a DESC, pk DESC`,
    `LIMIT`. Nullable or mixed-direction orderings, and querysets with joins or annotations,
    are left to the ORM by the caller.
    """

    def fetch(
        columns: Sequence[KeysetColumn], values: Sequence[Any] | None, reverse: bool, count: int
    ) -> list[Any] | None:
        # Only called for what paginate_cursor_json checked: a plain query, one direction, no NULLs.
        query = queryset.query
        connection = connections[queryset.db]
        try:
            where, where_params = query.get_compiler(connection=connection).compile(query.where)
        except EmptyResultSet:
            return []
        except FullResultSet:
            where, where_params = "", ()
        model = queryset.model
        conditions = [f"({where})"] if where else []
        params = list(where_params)
        descending = columns[0].descending != reverse
        if values is not None:
            names = ", ".join(_column(model, column.field) for column in columns)
            marks = ", ".join(["%s"] * len(columns))
            conditions.append(f"({names}) {'<' if descending else '>'} ({marks})")
            params += [
                column.field.get_db_prep_value(value, connection) for column, value in zip(columns, values, strict=True)
            ]
        order = ", ".join(f"{_column(model, column.field)} {'DESC' if descending else 'ASC'}" for column in columns)
        # Identifiers quoted from the model, values as parameters, `count` an int: no input in the text.
        sql = (
            f"SELECT {', '.join(select)} FROM {_identifier(model._meta.db_table)}"  # noqa: S608
            f"{' WHERE ' + ' AND '.join(conditions) if conditions else ''} ORDER BY {order} LIMIT {int(count)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    return fetch
