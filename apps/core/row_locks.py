"""Lock the rows a queryset shows, then read them: the one way the audited write paths take their "before"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import models

__all__ = ["chunks", "locked_rows"]

_CHUNK = 1000


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    """`items` in slices of `size`: one statement's parameters stay under every backend's limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def locked_rows(queryset: models.QuerySet[Any], *columns: str) -> dict[Any, tuple[Any, ...]]:
    """`{pk: (column values...)}` of the rows `queryset` shows, each locked until the transaction ends.

    The lock is taken by key, not on `queryset` itself: PostgreSQL refuses `FOR UPDATE` with
    `DISTINCT` (which a filter across a to-many relation needs) and would lock every joined
    table's rows too. The values are read through `queryset` once the locks are held, so a row
    a concurrent commit moved out of its filter meanwhile is not reported (nor then written).
    """
    base = queryset.model._base_manager.using(queryset.db)
    keys = list(base.filter(pk__in=queryset.values("pk")).select_for_update().values_list("pk", flat=True))
    rows: dict[Any, tuple[Any, ...]] = {}
    for chunk in chunks(keys):
        rows.update({row[0]: tuple(row[1:]) for row in queryset.filter(pk__in=chunk).values_list("pk", *columns)})
    return rows
