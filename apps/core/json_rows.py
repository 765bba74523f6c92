"""A resource's JSON from its one output serializer: `.values()` rows rendered by orjson.

An output serializer (HackSoft's `OutputSerializer`) is the only description of what the
API returns for a resource. drf-spectacular reads it for the OpenAPI schema; `OutputShape`
reads it for everything else: the `.values()` a selector asks for, the JSON of a list page
or an offset page (one `bytes` value, which is also what a cache stores), and the body of a
single instance a write answers with. One list of fields, so the schema, a list item, a
detail body and a write's body cannot drift apart.

Running DRF's `to_representation` over a page of rows costs more than the query, so the
rows are rendered by the API's renderer (`render_json`: orjson, `OPT_UTC_Z`) instead. An
`OutputShape` accepts only the field types whose value renders to what `to_representation`
gives for it, and refuses any other with `TypeError` when it is built:

| serializer field | a value renders as |
|---|---|
| `CharField` (and subclasses), `ChoiceField`, `IntegerField`, `BooleanField` | the value |
| `UUIDField` (`hex_verbose`, the default) | lowercase, hyphenated |
| `DateTimeField` (ISO 8601, the default) | UTC with `Z`, microseconds only when non-zero (`TIME_ZONE = "UTC"`) |
| `DateField` (ISO 8601) | `YYYY-MM-DD` |
| `JSONField`, `ListField` of the scalars above | compact JSON (`["a","b"]`) |

Each field's `source` must be its name (a model field): a dotted source or a method field
would need the instance, not a `.values()` row. The output is the same bytes on every
database: the values are Python's, rendered by orjson, whatever the backend returned them as
(PostgreSQL's `jsonb` text is `["a", "b"]`, orjson's `["a","b"]`: a JSON column is parsed
and written again, never spliced in as the database's text).

JSON and datetime model fields are read as their text (`Cast` to text) and parsed here
(orjson; `datetime.fromisoformat`): Django's `JSONField` parses with the field's decoder,
which for our models also re-validates every stored string (`StorableJSONDecoder`), and
Django's PostgreSQL timestamp loader runs psycopg's pure-Python parser; the two cost more
than the rest of a page's rows. (A field of the cursor's ordering is read as a value: the cursor needs it.)
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db import models
from django.db.models.functions import Cast
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from apps.core.api.renderers import render_json
from apps.core.pagination import Ordering, cursor_fields, paginate_cursor, paginate_offset

__all__ = ["JsonOffsetPage", "JsonPage", "OutputShape", "paginate_cursor_json", "paginate_offset_json"]


@dataclass(frozen=True)
class JsonPage:
    """One cursor page; `results` is a JSON array (UTF-8 bytes) of the rows."""

    results: bytes
    next_cursor: str | None
    previous_cursor: str | None


@dataclass(frozen=True)
class JsonOffsetPage:
    """One offset page; `results` is a JSON array (UTF-8 bytes) of the rows; `total` only when asked for."""

    results: bytes
    offset: int
    limit: int
    total: int | None
    has_next: bool


def _iso_format(field: serializers.Field[Any, Any, Any, Any], default: str | None) -> bool:
    """An ISO 8601 output format, or none (the value itself, which orjson then writes in ISO 8601)."""
    return getattr(field, "format", default) in {None, ISO_8601}


def _renders_as_orjson(field: serializers.Field[Any, Any, Any, Any]) -> bool:
    """Whether orjson writes `field`'s values as `field.to_representation` would."""
    if isinstance(field, serializers.ListField):
        child = field.child
        return not isinstance(child, serializers.ListField) and _renders_as_orjson(child)
    checks: list[tuple[type[Any], Callable[[Any], bool]]] = [
        (serializers.MultipleChoiceField, lambda _: False),  # a set, written as a list in no fixed order
        (serializers.ChoiceField, lambda _: True),
        (serializers.JSONField, lambda it: not it.binary),
        (serializers.UUIDField, lambda it: it.uuid_format == "hex_verbose"),
        # DRF writes the current time zone's offset; orjson writes the value's: equal in UTC only.
        (
            serializers.DateTimeField,
            lambda it: (
                _iso_format(it, api_settings.DATETIME_FORMAT) and settings.USE_TZ and settings.TIME_ZONE == "UTC"
            ),
        ),
        (serializers.DateField, lambda it: _iso_format(it, api_settings.DATE_FORMAT)),
        (serializers.CharField, lambda _: True),
        # Exactly these types: a subclass of Integer/BooleanField may represent its values otherwise.
        (object, lambda it: type(it) in {serializers.IntegerField, serializers.BooleanField}),
    ]
    return next(bool(check(field)) for kind, check in checks if isinstance(field, kind))


def _utc_datetime(text: str | None) -> datetime.datetime | None:
    """A timestamp's text in SQL (`2026-11-26 11:05:42.705439+00`; naive UTC on SQLite) as an aware datetime."""
    if text is None:
        return None
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC) if moment.utcoffset() else moment


def _json_value(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


# Columns read as text, by alias (an alias may not be a field's name), and how their text is parsed.
_AS_TEXT: dict[type[models.Field[Any, Any]], tuple[str, Callable[[str | None], Any]]] = {
    models.JSONField: ("_json_of_", _json_value),
    models.DateTimeField: ("_time_of_", _utc_datetime),
}


@dataclass(frozen=True)
class _Plan:
    """How `.values()` reads a shape from one model: its columns, those read as text, each field's key and parser."""

    plain: tuple[str, ...]
    as_text: dict[str, Cast]
    keys: tuple[tuple[str, str, Callable[[str | None], Any] | None], ...]


@functools.cache
def _plan(model: type[models.Model], names: tuple[str, ...], values: tuple[str, ...]) -> _Plan:
    """`names` read as they are, or as text (by alias) where that parses faster; `values` always as they are."""
    plain: dict[str, None] = dict.fromkeys(values)
    as_text: dict[str, Cast] = {}
    keys: list[tuple[str, str, Callable[[str | None], Any] | None]] = []
    for name in names:
        field = model._meta.get_field(name)
        kind = next((kind for kind in _AS_TEXT if isinstance(field, kind)), None)
        if kind is None or name in values:
            plain[name] = None
            keys.append((name, name, None))
        else:
            prefix, parse = _AS_TEXT[kind]
            as_text[prefix + name] = Cast(name, models.TextField())
            keys.append((name, prefix + name, parse))
    return _Plan(tuple(plain), as_text, tuple(keys))


class OutputShape:
    """The fields of `serializer_class`, as the names a selector reads and the JSON the API writes.

    Raises `TypeError` for a field this module cannot render as the serializer would (see the
    module's table) or whose source is not its own name.
    """

    def __init__(self, serializer_class: type[serializers.Serializer[Any]]) -> None:
        self.serializer_class = serializer_class
        declared = serializer_class().fields
        for name, field in declared.items():
            if field.source != name:
                raise TypeError(f"{serializer_class.__name__}.{name}: the source must be the field's name")
            if not _renders_as_orjson(field):
                raise TypeError(
                    f"{serializer_class.__name__}.{name} ({type(field).__name__}) has no rendering "
                    "identical to its to_representation"
                )
        self.fields: tuple[str, ...] = tuple(declared)

    def __repr__(self) -> str:
        return f"OutputShape({self.serializer_class.__name__})"

    def values(self, queryset: models.QuerySet[Any, Any], *also: str) -> models.QuerySet[Any, dict[str, Any]]:
        """`queryset` as raw rows of this shape (and of the model fields `also`, read as values): see `rows()`."""
        plan = self._plan(queryset, also)
        return queryset.values(*plan.plain, **plan.as_text)

    def rows(
        self, queryset: models.QuerySet[Any, Any], raw_rows: Iterable[Mapping[str, Any]], *also: str
    ) -> list[dict[str, Any]]:
        """Raw rows of `values(queryset, *also)` as rows of this shape: the declared fields, in order."""
        keys = self._plan(queryset, also).keys
        return [{name: raw[key] if parse is None else parse(raw[key]) for name, key, parse in keys} for raw in raw_rows]

    def row(self, queryset: models.QuerySet[Any, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
        """One raw row of `values(queryset)` as a row of this shape."""
        return self.rows(queryset, [raw])[0]

    def _plan(self, queryset: models.QuerySet[Any, Any], also: tuple[str, ...]) -> _Plan:
        model: type[models.Model] = queryset.model
        return _plan(model, self.fields, also)

    def of(self, instance: object) -> dict[str, Any]:
        """An instance as a row of this shape (what a write answers with), read from its attributes."""
        return {name: getattr(instance, name) for name in self.fields}

    def render(self, rows: Iterable[Mapping[str, Any]]) -> bytes:
        """Rows of this shape as a JSON array, as the API renders them."""
        return render_json(list(rows))


def paginate_cursor_json(
    queryset: models.QuerySet[Any, Any],
    *,
    shape: OutputShape,
    ordering: Ordering,
    cursor: str | None = None,
    limit: int = 50,
) -> JsonPage:
    """`paginate_cursor` of `queryset`, its rows rendered in `shape`; the same cursors.

    Raises what `paginate_cursor` raises (`InvalidInput` for a bad cursor).
    """
    # The cursor records the ordering fields and the pk: read those too when the shape has not.
    keys = tuple(field.name for field in cursor_fields(queryset.model, ordering))
    page = paginate_cursor(shape.values(queryset, *keys), ordering=ordering, cursor=cursor, limit=limit)
    return JsonPage(shape.render(shape.rows(queryset, page.items, *keys)), page.next_cursor, page.previous_cursor)


def paginate_offset_json(
    queryset: models.QuerySet[Any, Any],
    *,
    shape: OutputShape,
    offset: int = 0,
    limit: int = 50,
    with_total: bool = False,
) -> JsonOffsetPage:
    """`paginate_offset` of `queryset` (ordered by the caller), its rows rendered in `shape`."""
    page = paginate_offset(shape.values(queryset), offset=offset, limit=limit, with_total=with_total)
    rows = shape.rows(queryset, page.items)
    return JsonOffsetPage(shape.render(rows), page.offset, page.limit, page.total, page.has_next)
