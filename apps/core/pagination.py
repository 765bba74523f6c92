"""Offset and keyset (cursor) pagination over any queryset.

Cursor pagination orders by the given fields plus the primary key, so the order is
total and stable under concurrent inserts. The "rows after the cursor" condition is
written so PostgreSQL can range-scan a matching index:

- non-null fields all in one direction: one row-value comparison,
  `(created_at, id) < (%s, %s)`, which an index on `(created_at, id)` answers with
  an index range scan (the OR-expanded form most ORMs write cannot);
- nullable fields or mixed directions: the OR-expanded form with explicit
  `NULLS LAST` handling, so NULLs are neither skipped nor repeated.

Cursors are opaque and signed (`django.core.signing.Signer`, no timestamp: nothing
expires them, and the same position always encodes to the same cursor), bound to the
model and the ordering they were made for: a tampered or foreign cursor is
`InvalidInput`, never a wrong page. A page reached through a cursor that comes back
empty (its rows were deleted meanwhile) still links back the way it came, as DRF's
`CursorPagination` does: from the cursor's own position.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core import signing
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.expressions import OrderBy

from apps.core.errors import InvalidInput

__all__ = [
    "CursorPage",
    "OffsetPage",
    "Ordering",
    "cursor_fields",
    "paginate_cursor",
    "paginate_offset",
]

T = TypeVar("T")
MAX_PAGE_SIZE = 500
_SALT = "apps.core.pagination.cursor"


@dataclass(frozen=True)
class OffsetPage(Generic[T]):
    items: list[T]
    offset: int
    limit: int
    total: int | None
    has_next: bool


@dataclass(frozen=True)
class CursorPage(Generic[T]):
    items: list[T]
    next_cursor: str | None
    previous_cursor: str | None


@dataclass(frozen=True)
class Ordering:
    """Field names with an optional leading `-`; the primary key is appended to break ties."""

    fields: tuple[str, ...]

    @classmethod
    def parse(cls, raw: str | Sequence[str], *, allowed: Sequence[str]) -> Ordering:
        names = [part.strip() for part in (raw.split(",") if isinstance(raw, str) else raw) if part.strip()]
        unknown = [name for name in names if name.removeprefix("-") not in allowed]
        if unknown or not names:
            choices = ", ".join(f"{name}, -{name}" for name in allowed)
            raise InvalidInput(
                f"Cannot order by {', '.join(unknown) or 'nothing'}; choose from {choices}.",
                errors={"ordering": [f"Unknown ordering field: {name}" for name in unknown] or ["Empty ordering."]},
            )
        return cls(tuple(names))

    def key(self) -> str:
        return ",".join(self.fields)

    def with_pk(self) -> tuple[str, ...]:
        """The fields plus the primary key in the last field's direction: a total order one index can serve."""
        descending = bool(self.fields) and self.fields[-1].startswith("-")
        return (*self.fields, "-pk" if descending else "pk")


class _Row(Func):
    """A SQL row value `(a, b, ...)`, compared element by element."""

    template = "(%(expressions)s)"
    arg_joiner = ", "
    output_field = models.Field()


@dataclass(frozen=True)
class _Column:
    """One column of the total order a cursor page is read in (the ordering fields, then the pk)."""

    name: str
    descending: bool
    nullable: bool
    field: models.Field[Any, Any]


def _columns(model: type[models.Model], ordering: Ordering) -> list[_Column]:
    columns = []
    for spec in ordering.fields:
        name = spec.removeprefix("-")
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field)
        columns.append(_Column(name, spec.startswith("-"), bool(field.null), field))
    pk = model._meta.pk
    assert pk is not None
    if pk.name not in {column.name for column in columns}:
        descending = columns[-1].descending if columns else False
        columns.append(_Column(pk.name, descending, False, pk))
    return columns


def cursor_fields(model: type[models.Model], ordering: Ordering) -> tuple[models.Field[Any, Any], ...]:
    """The fields a cursor records, in order: the ordering fields, then the primary key."""
    return tuple(column.field for column in _columns(model, ordering))


def _order_by(columns: list[_Column], *, reverse: bool) -> list[OrderBy]:
    expressions = []
    for column in columns:
        descending = column.descending != reverse
        # NULLs last in the forward order; reversing the order reverses that too. Only for
        # nullable columns: PostgreSQL cannot read `DESC NULLS LAST` from a DESC index (NULLS
        # FIRST) even when the column is NOT NULL, and would sort every matching row per page.
        nulls = {} if not column.nullable else {"nulls_first": True} if reverse else {"nulls_last": True}
        expressions.append(F(column.name).desc(**nulls) if descending else F(column.name).asc(**nulls))
    return expressions


def _after(columns: list[_Column], values: list[Any], *, reverse: bool) -> Q:
    """Rows strictly after `values` in the (possibly reversed) order, NULLs included: the OR-expanded form."""
    condition = Q(pk__in=[])
    equal_so_far = Q()
    for column, value in zip(columns, values, strict=True):
        descending = column.descending != reverse
        if value is None:
            # Forward: NULLs come last, nothing non-null follows them. Reversed: every non-null follows.
            step = Q(**{f"{column.name}__isnull": False}) if reverse else Q(pk__in=[])
            same = Q(**{f"{column.name}__isnull": True})
        else:
            step = Q(**{f"{column.name}__{'lt' if descending else 'gt'}": value})
            if column.nullable and not reverse:
                step |= Q(**{f"{column.name}__isnull": True})
            same = Q(**{column.name: value})
        condition |= equal_so_far & step
        equal_so_far &= same
    return condition


def _to_json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)  # UUID, Decimal: the field's to_python parses it back


def _row_values(columns: list[_Column], row: Any) -> list[Any]:
    return [row[c.name] if isinstance(row, dict) else getattr(row, c.field.attname) for c in columns]


def _signer(model: type[models.Model], ordering: Ordering) -> signing.Signer:
    # Not `signing.dumps`: its TimestampSigner stamps the time, so equal pages would get different
    # cursors (and cached pages would differ) for an expiry nothing checks.
    return signing.Signer(salt=f"{_SALT}:{model._meta.label}:{ordering.key()}")


def _encode(model: type[models.Model], ordering: Ordering, values: Sequence[Any], direction: str) -> str:
    return _signer(model, ordering).sign_object({"v": [_to_json(value) for value in values], "d": direction})


def _decode(
    model: type[models.Model], ordering: Ordering, columns: list[_Column], cursor: str
) -> tuple[list[Any], str]:
    try:
        data = _signer(model, ordering).unsign_object(cursor)
        raw, direction = data["v"], data["d"]
        if direction not in {"next", "prev"} or len(raw) != len(columns):
            raise ValueError(direction)
        values = [
            None if value is None else column.field.to_python(value) for column, value in zip(columns, raw, strict=True)
        ]
    except Exception as error:  # BadSignature, a malformed payload, a value the field rejects
        raise InvalidInput(
            "The cursor is invalid: it was altered, or made for another list or ordering. Start again without it.",
            errors={"cursor": [f"Invalid cursor ({type(error).__name__})."]},
        ) from None
    return values, direction


def paginate_cursor(
    queryset: models.QuerySet[Any, T],
    *,
    ordering: Ordering,
    cursor: str | None = None,
    limit: int = 50,
) -> CursorPage[T]:
    """One page of `queryset` (instances, or `.values()` dicts that include the cursor's fields)
    after (or before) `cursor`, in `ordering` + pk order."""
    model = queryset.model
    columns = _columns(model, ordering)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    direction = "next"
    values: list[Any] | None = None
    if cursor:
        values, direction = _decode(model, ordering, columns, cursor)
    reverse = direction == "prev"
    page_qs = queryset if values is None else _apply_after(queryset, columns, values, reverse=reverse)
    rows = list(page_qs.order_by(*_order_by(columns, reverse=reverse))[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if reverse:
        rows.reverse()
    # Going one way, the other way is open from wherever the cursor stood; that also holds for
    # an empty page (its rows deleted meanwhile), which then links back from the cursor itself.
    has_next = more if not reverse else values is not None
    has_previous = values is not None if not reverse else more
    last = _row_values(columns, rows[-1]) if rows else values
    first = _row_values(columns, rows[0]) if rows else values
    return CursorPage(
        items=rows,
        next_cursor=_encode(model, ordering, last, "next") if has_next and last is not None else None,
        previous_cursor=_encode(model, ordering, first, "prev") if has_previous and first is not None else None,
    )


def _apply_after(queryset: models.QuerySet[Any], columns: list[_Column], values: list[Any], *, reverse: bool) -> Any:
    if all(not c.nullable for c in columns) and len({c.descending for c in columns}) == 1:
        row = _Row(*(F(c.name) for c in columns))
        bound = _Row(*(Value(v, output_field=c.field) for c, v in zip(columns, values, strict=True)))
        lookup = "lt" if columns[0].descending != reverse else "gt"
        return queryset.alias(_keyset=row).filter(**{f"_keyset__{lookup}": bound})
    return queryset.filter(_after(columns, values, reverse=reverse))


def paginate_offset(
    queryset: models.QuerySet[Any, T],
    *,
    offset: int = 0,
    limit: int = 50,
    with_total: bool = False,
) -> OffsetPage[T]:
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    rows = list(queryset[offset : offset + limit + 1])
    return OffsetPage(
        items=rows[:limit],
        offset=offset,
        limit=limit,
        total=queryset.count() if with_total else None,
        has_next=len(rows) > limit,
    )
