"""Changelist counts that stay cheap on huge tables: the planner's estimate instead of `COUNT(*)`.

On PostgreSQL, `EXPLAIN` gives the planner's row estimate for the exact query the
changelist will page through (filters, search and tenant scope included) from the
table statistics (`pg_class.reltuples` and the column histograms) without reading
the table. Below `exact_below` rows the exact count is cheap, so it is used; above
it the estimate is shown as "about N". Other databases count exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections, models
from django.http import HttpRequest

__all__ = [
    "DEFAULT_EXACT_BELOW",
    "EstimatedCountChangeList",
    "EstimatedCountPaginator",
    "LargeTableAdminMixin",
    "planner_row_estimate",
]

DEFAULT_EXACT_BELOW = 10_000
_M = TypeVar("_M", bound=models.Model)


def planner_row_estimate(queryset: models.QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of how many rows `queryset` returns; None on other databases."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.get_compiler(using=queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        row = cursor.fetchone()
    plan = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator[Any]):
    """A paginator whose `count` is exact for small results and estimated for large ones."""

    def __init__(
        self,
        object_list: models.QuerySet[Any] | Sequence[Any],
        per_page: int | str,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
        *,
        exact_below: int = DEFAULT_EXACT_BELOW,
    ) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.exact_below = exact_below
        self.is_estimated = False

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, models.QuerySet) and not self.object_list.query.is_empty():
            estimate = planner_row_estimate(self.object_list)
            if estimate is not None and estimate >= self.exact_below:
                self.is_estimated = True
                return estimate
        return int(super().count)


class EstimatedCountChangeList(ChangeList):
    """Knows whether its count is an estimate, and the page links to show then."""

    count_is_estimated = False
    estimated_page_range: list[int | str] = []

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.count_is_estimated = bool(getattr(self.paginator, "is_estimated", False))
        if self.count_is_estimated and self.multi_page:
            self.estimated_page_range = list(self.paginator.get_elided_page_range(self.page_num))


class LargeTableAdminMixin(admin.ModelAdmin[_M]):
    """Changelists that never `COUNT(*)` a huge table: no full count, an estimated filtered count.

    `exact_count_below`: under this many (estimated) rows the exact count is used.
    Keep list queries constant in page size with `list_select_related` for every
    foreign key shown in `list_display`.
    """

    show_full_result_count = False
    exact_count_below: ClassVar[int] = DEFAULT_EXACT_BELOW
    change_list_template = "admin/core/change_list.html"

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: models.QuerySet[_M],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> EstimatedCountPaginator:
        return EstimatedCountPaginator(
            queryset, per_page, orphans, allow_empty_first_page, exact_below=self.exact_count_below
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return EstimatedCountChangeList
