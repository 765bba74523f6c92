"""Soft-deleting many rows: set-based queryset `.delete()` vs a row loop, measured in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/soft_delete_bench.py
    .venv/bin/python bench/soft_delete_bench.py --rows 200 --loop-rows 50     # toy size (the smoke test)

On PostgreSQL it creates its own database (`bench_soft_delete_<pid>`) on the server
`DATABASE_URL` points at, migrates it, and drops it at the end; it never touches the
database named in the URL. Without `DATABASE_URL` it uses a throwaway SQLite file.

Two models of the test app, each seeded fresh for every case:
- `Label`: soft-deletable, not audited (integer key);
- `Folder`: soft-deletable *and* audited, with a tenant, a UUIDv7 key, a self-referential
  cascade, soft-deletable children and a PROTECT relation to check (the audited path).

Cases per model, the first being the baseline of the ratio:
- row loop, `instance.delete()` per row: what django-safedelete's queryset delete does;
- row loop, one UPDATE per row (the cheapest loop there is: no cascade, no audit);
- `Model.objects.all().delete()`: one UPDATE per model (plus, when audited, one read
  of the batch and one INSERT per 2,000 audit rows).

A row loop costs the same for every row, so it runs on `--loop-rows` rows (default
5,000) and its time is scaled to `--rows`; the table says how many rows each case
really deleted. Loops run inside one transaction (no commit per row), which is
the kinder setting for them. Statements are those Django executes (SAVEPOINTs
included, BEGIN/COMMIT not). `--loop-rows` equal to `--rows` measures the loops in full.
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.own_database import bench_django  # noqa: E402 - after the path is set


@dataclass
class Result:
    model: str
    case: str
    rows_timed: int
    statements: int
    seconds: float

    def scaled(self, rows: int) -> float:
        return self.seconds * rows / self.rows_timed


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def measured(counter: StatementCounter) -> Iterator[list[float]]:
    from django.db import connection

    elapsed: list[float] = []
    counter.count = 0
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        yield elapsed
        elapsed.append(time.perf_counter() - started)


def seed(model: Any, rows: int, tag: str) -> None:
    """Insert `rows` alive rows, set-based and unaudited: setup is not what is measured."""
    from django.db import connection, models

    from apps.core.context import acting_as, in_tenant

    tenant = "aaaaaaaa-0000-4000-8000-000000000001"
    with acting_as("bench:seed"), in_tenant(tenant):
        objs = [model(name=f"{tag}-{index}") for index in range(rows)]
        for obj in objs:
            obj.stamp_for_create()
        models.QuerySet(model).bulk_create(objs, batch_size=5000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def run_case(model: Any, case: str, rows: int, delete: Callable[[Any], None]) -> Result:
    from apps.core.context import acting_as

    seed(model, rows, tag=f"{case[:12]}-{time.monotonic_ns()}")
    counter = StatementCounter()
    with acting_as("bench:delete"), measured(counter) as elapsed:
        delete(model)
    assert not model.objects.exists(), f"{case} left alive rows"
    return Result(model.__name__, case, rows, counter.count, elapsed[0])


def instance_delete_loop(model: Any) -> None:
    from django.db import transaction

    with transaction.atomic():  # one transaction, as in a request or a command: no commit per row
        for obj in list(model.objects.all()):
            obj.delete()


def update_per_row_loop(model: Any) -> None:
    from django.db import models, transaction
    from django.utils import timezone

    from apps.core.context import current_actor
    from apps.core.uuid7 import uuid7

    batch, now, actor = uuid7(), timezone.now(), current_actor() or ""
    with transaction.atomic():
        for pk in list(model.objects.values_list("pk", flat=True)):
            models.QuerySet(model).filter(pk=pk).update(deleted_at=now, deleted_by=actor, delete_batch=batch)


def queryset_delete(model: Any) -> None:
    model.objects.all().delete()


def print_table(results: list[Result], rows: int) -> None:
    print(f"| model | case | rows deleted | statements | s for {rows:,} rows | µs/row | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    baseline: dict[str, float] = {}
    for result in results:
        per_row = result.seconds / result.rows_timed
        base = baseline.setdefault(result.model, per_row)
        scaled = "" if result.rows_timed == rows else " (scaled)"
        print(
            f"| {result.model} | {result.case} | {result.rows_timed:,} | {result.statements:,} "
            f"| {result.scaled(rows):.2f}{scaled} | {per_row * 1e6:,.1f} | {per_row / base:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="rows for the set-based delete")
    parser.add_argument("--loop-rows", type=int, default=5_000, help="rows for each row loop (scaled to --rows)")
    args = parser.parse_args()
    loop_rows = min(args.loop_rows, args.rows)

    # The test app's models are the ones measured.
    with bench_django("soft_delete", settings_module="tests.settings", allow_sqlite=True) as vendor:
        from tests.testapp.models import Folder, Label

        print(f"{vendor}, {args.rows:,} rows, row loops on {loop_rows:,} rows\n")
        results = []
        for model in (Label, Folder):
            results.append(run_case(model, "row loop: instance.delete() (baseline)", loop_rows, instance_delete_loop))
            results.append(run_case(model, "row loop: one UPDATE per row", loop_rows, update_per_row_loop))
            results.append(run_case(model, "queryset .delete()", args.rows, queryset_delete))
        print_table(results, args.rows)


if __name__ == "__main__":
    main()
