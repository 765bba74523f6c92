"""Upserting many rows: `DocumentRepository().upsert` vs `bulk_create(update_conflicts=True)` vs a save() loop.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/upsert_bench.py
    DATABASE_URL=... .venv/bin/python bench/upsert_bench.py --rows 400 --loop-rows 40     # toy size

PostgreSQL only. It creates its own database (`bench_upsert_<pid>`) on the server
`DATABASE_URL` points at, migrates it and drops it at the end; it never touches the
database named in the URL.

Every case upserts the same `--rows` rows by `(tenant_id, title)` into a fresh tenant, half
of them new and half already there (seeded with COPY beforehand, not timed), updating
body, status and tags. Each bulk case runs `--repeats` times (order alternating, a
CHECKPOINT before each so one case's writes are not billed to the next); the median run
is printed.
- Django's `bulk_create(update_conflicts=True, unique_fields=..., update_fields=...)`
  (the baseline). Django cannot name a partial unique index in `ON CONFLICT`, so on
  `Document` PostgreSQL refuses it ("no unique or exclusion constraint matching"). It runs
  on `bench_plain_document` instead: a copy of the documents table (`LIKE .. INCLUDING
  ALL`: the same columns and indexes) whose partial unique index is replaced by a full
  unique constraint, mapped by an unmanaged model in a private app registry. It writes
  no audit events and counts nothing;
- ours on that same plain table, through a `BaseRepository` of it (not audited, so the
  same work as the baseline: the like-for-like figure);
- ours as used, `DocumentRepository().upsert(...)` on `Document`: COPY into a temporary
  table, one `INSERT .. ON CONFLICT (tenant_id, title) WHERE deleted_at IS NULL DO
  UPDATE` that targets the partial unique index, one audit event per created or changed
  row, created and updated counts;
- `Document.objects.update_or_create(...)` per row inside one transaction (the save()
  loop: a locking read, then `save()` with its audit event). It runs on `--loop-rows`
  rows (default 2,000, half new) and its rows/s is extrapolated to `--rows`.
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import datetime
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.own_database import bench_django  # noqa: E402 - after the path is set

PLAIN_TABLE = "bench_plain_document"
BULK_CREATE_BATCH = 2_000
BULK_CREATE = f"`bulk_create(update_conflicts=True)`, batch {BULK_CREATE_BATCH:,}, plain table (baseline)"
OURS_PLAIN = "ours, `BaseRepository.upsert` on the same plain table (no audit events)"
OURS_DOCUMENT = "ours, `DocumentRepository().upsert` on `Document` (partial unique index, audited)"
SAVE_LOOP = "`update_or_create()` loop on `Document`: a locking read and a `save()` per row"
UPDATE_FIELDS = ("body", "status", "tags")


@dataclass(frozen=True)
class Case:
    name: str
    rows: int
    seconds: float
    created: int | None
    updated: int | None
    extrapolated: bool = False

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def rows_to_upsert(count: int) -> list[dict[str, Any]]:
    """`count` rows; titles 0..count/2-1 exist after `seed`, the rest are new."""
    return [
        {"title": f"doc {index:07d}", "body": f"new body {index}", "status": "published", "tags": ["a", "b"]}
        for index in range(count)
    ]


def seed(table: str, tenant: uuid.UUID, count: int) -> None:
    """COPY the first `count` titles of `rows_to_upsert` as live rows with an old body (setup, not timed)."""
    from django.db import connection

    from apps.core.uuid7 import uuid7

    at = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    columns = "id, created_at, updated_at, created_by, updated_by, deleted_by, tenant_id, title, body, status, tags"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for index in range(count):
                copy.write_row((uuid7(), at, at, "seed", "seed", "", tenant, f"doc {index:07d}", "old", "draft", "[]"))
        raw.execute(f"ANALYZE {table}")


def create_plain_table() -> type[Any]:
    """The documents table's twin with a *full* unique (tenant_id, title), and a model for it."""
    from django.apps.registry import Apps
    from django.db import connection, models

    from apps.documents.models import Document

    source = Document._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {PLAIN_TABLE} (LIKE {source} INCLUDING ALL)")
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE 'CREATE UNIQUE%%WHERE%%'",
            [PLAIN_TABLE],
        )
        for (name,) in cursor.fetchall():  # the copy of the partial unique index Django cannot target
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(f"ALTER TABLE {PLAIN_TABLE} ADD CONSTRAINT {PLAIN_TABLE}_title UNIQUE (tenant_id, title)")
    from apps.core.models import TimestampMixin

    meta = type("Meta", (), {"app_label": "bench", "db_table": PLAIN_TABLE, "managed": False, "apps": Apps()})
    # Stamped by TimestampMixin's hooks (as the upsert asks every model), with none of the audit.
    stamped = {field.name for field in TimestampMixin._meta.fields}
    attributes: dict[str, Any] = {
        field.name: field.clone()  # type: ignore[attr-defined]
        for field in Document._meta.concrete_fields
        if field.name not in stamped
    }
    # A plain manager: the baseline's bulk_create is Django's own.
    attributes.update({"__module__": __name__, "Meta": meta, "objects": models.Manager()})
    return type("PlainDocument", (TimestampMixin,), attributes)


def _timed(action: Callable[[], tuple[int | None, int | None]]) -> tuple[float, int | None, int | None]:
    from django.db import connection

    if not connection.in_atomic_block:  # settle the previous case's writes so they are not billed to this one
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    started = time.perf_counter()
    created, updated = action()
    return time.perf_counter() - started, created, updated


def measure_bulk_create(plain: type[Any], rows: list[dict[str, Any]]) -> Case:
    from django.db import transaction
    from django.utils import timezone

    tenant = uuid.uuid4()
    seed(PLAIN_TABLE, tenant, len(rows) // 2)

    def bulk_create() -> tuple[None, None]:
        now = timezone.now()
        objects = [
            plain(tenant_id=tenant, created_at=now, updated_at=now, created_by="bench", updated_by="bench", **row)
            for row in rows
        ]
        with transaction.atomic():
            plain.objects.bulk_create(
                objects,
                batch_size=BULK_CREATE_BATCH,
                update_conflicts=True,
                unique_fields=["tenant_id", "title"],
                update_fields=[*UPDATE_FIELDS, "updated_at", "updated_by"],
            )
        return None, None

    seconds, _, _ = _timed(bulk_create)
    alive = plain.objects.filter(tenant_id=tenant)
    assert alive.count() == len(rows), "bulk_create did not upsert"
    assert not alive.filter(body="old").exists(), "bulk_create did not update"
    return Case(BULK_CREATE, len(rows), seconds, None, None)


def measure_ours_on_plain(plain: type[Any], rows: list[dict[str, Any]]) -> Case:
    from apps.core.context import acting_as, in_tenant
    from apps.core.repository import BaseRepository

    class PlainRepository(BaseRepository[Any]):
        model = plain

    tenant = uuid.uuid4()
    seed(PLAIN_TABLE, tenant, len(rows) // 2)

    def upsert() -> tuple[int, int]:
        with in_tenant(tenant), acting_as("bench"):
            result = PlainRepository().upsert(rows, conflict_fields=["title"], update_fields=UPDATE_FIELDS)
        return result.created, result.updated

    return Case(OURS_PLAIN, len(rows), *_timed(upsert))


def measure_ours(rows: list[dict[str, Any]]) -> Case:
    from apps.core.context import acting_as, in_tenant
    from apps.documents.models import Document
    from apps.documents.repositories import DocumentRepository

    tenant = uuid.uuid4()
    seed(Document._meta.db_table, tenant, len(rows) // 2)

    def upsert() -> tuple[int, int]:
        with in_tenant(tenant), acting_as("bench"):
            result = DocumentRepository().upsert(rows, conflict_fields=["title"], update_fields=UPDATE_FIELDS)
        return result.created, result.updated

    return Case(OURS_DOCUMENT, len(rows), *_timed(upsert))


def measure_save_loop(rows: list[dict[str, Any]]) -> Case:
    from django.db import transaction

    from apps.core.context import acting_as, in_tenant
    from apps.documents.models import Document

    tenant = uuid.uuid4()
    seed(Document._meta.db_table, tenant, len(rows) // 2)

    def loop() -> tuple[int, int]:
        created = 0
        with in_tenant(tenant), acting_as("bench"), transaction.atomic():
            for row in rows:
                values = {name: row[name] for name in UPDATE_FIELDS}
                _, was_created = Document.objects.update_or_create(
                    tenant_id=tenant, title=row["title"], defaults=values
                )
                created += was_created
        return created, len(rows) - created

    return Case(SAVE_LOOP, len(rows), *_timed(loop), extrapolated=True)


def run(*, rows: int, loop_rows: int, repeats: int = 1) -> list[Case]:
    """Every case `repeats` times (a fresh tenant each time, order alternating); the median run of each."""
    plain = create_plain_table()
    upserted = rows_to_upsert(rows)
    measures: list[Callable[[], Case]] = [
        lambda: measure_bulk_create(plain, upserted),
        lambda: measure_ours_on_plain(plain, upserted),
        lambda: measure_ours(upserted),
    ]
    runs: dict[str, list[Case]] = {}
    for repeat in range(repeats):
        for measure in measures if repeat % 2 == 0 else measures[::-1]:
            case = measure()
            runs.setdefault(case.name, []).append(case)
    runs[SAVE_LOOP] = [measure_save_loop(rows_to_upsert(loop_rows))]
    return [sorted(cases, key=lambda case: case.seconds)[len(cases) // 2] for cases in runs.values()]


def format_table(cases: list[Case], rows: int, repeats: int = 1) -> str:
    baseline = cases[0].rows_per_second
    lines = [
        f"{rows:,} rows upserted, half new and half existing; PostgreSQL; median of {repeats} run(s) per bulk case",
        "",
        f"| case | rows timed | s | s for {rows:,} | rows/s | ratio to bulk_create | created / updated |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for case in cases:
        for_all = rows / case.rows_per_second
        counts = "not reported" if case.created is None else f"{case.created:,} / {case.updated:,}"
        scaled = " (extrapolated)" if case.extrapolated and case.rows != rows else ""
        lines.append(
            f"| {case.name} | {case.rows:,} | {case.seconds:.2f} | {for_all:.1f}{scaled} "
            f"| {case.rows_per_second:,.0f} | {case.rows_per_second / baseline:.2f} | {counts} |"
        )
    ours, loop = cases[2].rows_per_second, cases[3].rows_per_second
    lines += ["", f"ours on `Document` vs the save() loop: {ours / loop:.1f}x the rows/s"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="rows upserted by ours and by bulk_create")
    parser.add_argument("--loop-rows", type=int, default=2_000, help="rows of the save() loop (extrapolated)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each bulk case (the median is printed)")
    args = parser.parse_args(argv)
    with bench_django("upsert"):
        cases = run(rows=args.rows, loop_rows=min(args.loop_rows, args.rows), repeats=args.repeats)
        print(format_table(cases, args.rows, args.repeats))


if __name__ == "__main__":
    main()
