"""Cursor (keyset) pagination at depth vs the first page, OFFSET and the ORM's OR-expanded keyset filter.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/pagination_bench.py
    DATABASE_URL=... .venv/bin/python bench/pagination_bench.py --rows 2000 --repeats 3   # toy size

PostgreSQL only. It creates its own database (`bench_pagination_<pid>`) on the server
`DATABASE_URL` points at, migrates it, loads `--rows` documents into one tenant with
`COPY` (secondary indexes dropped during the load and rebuilt after it, so the load
stays well under a minute for 1,000,000 rows), and drops the database at the end; it
never touches the database named in the URL.

Cases, each the median of `--repeats` timed runs after one warm-up (the cases interleaved
run by run, so a burst of load on the machine hits them alike), all fetching 50 rows
as dicts of the API's output fields in `-created_at, -id` order: the first page through
`DocumentRepository().paginate_cursor` (the baseline), then at two depths, the middle
(`rows / 2`) and the deepest page (`rows - 50`, ~1,000,000 by default):
- the cursor page (a signed cursor for the row just before that depth);
- `OFFSET depth LIMIT 51` in the same order (`apps.core.pagination.paginate_offset`);
- the common ORM keyset filter `Q(created_at__lt=x) | Q(created_at=x, id__lt=y)`.
The middle matters for the OR filter: its cost grows with the rows *after* the cursor,
where OFFSET's grows with the rows *before* it.

Then `EXPLAIN (ANALYZE, BUFFERS)` summary lines of each query, from the SQL Django
really sent (`CaptureQueriesContext`, psycopg's exact statement).
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.own_database import bench_django  # noqa: E402 - after the path is set

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000be")
LIMIT = 50
_EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Case:
    name: str
    depth: int
    seconds: float  # median
    rows: int


@dataclass(frozen=True)
class Report:
    documents: int
    load_seconds: float
    cases: list[Case]
    explain: dict[str, list[str]]


def load_documents(rows: int) -> float:
    """COPY `rows` live documents of TENANT into the table, secondary indexes rebuilt after; returns seconds.

    created_at is one millisecond apart per row, so the order `-created_at, -id` is that of
    insertion and the row at depth d is known.
    """
    from django.db import connection

    from apps.core.uuid7 import uuid7
    from apps.documents.models import Document

    table = Document._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        secondary = raw.fetchall()
        for name, _ in secondary:
            raw.execute(f'DROP INDEX "{name}"')
        columns = "id, created_at, updated_at, created_by, updated_by, deleted_by, tenant_id, title, body, status, tags"
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for index in range(rows):
                at = _EPOCH + datetime.timedelta(milliseconds=index)
                copy.write_row(
                    (uuid7(), at, at, "bench", "bench", "", TENANT, f"doc {index:07d}", "body", "draft", '["x"]')
                )
        for _, definition in secondary:
            raw.execute(definition)
        raw.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def _interleaved_medians(runs: list[Callable[[], int]], repeats: int) -> list[tuple[float, int]]:
    """(median seconds, rows fetched) of each run: one warm-up each, then round-robin `repeats` times,
    so that a burst of load on the shared machine hits every case alike."""
    counts = [run() for run in runs]  # warm-up: plan caches, buffers
    timings: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for position, run in enumerate(runs):
            started = time.perf_counter()
            counts[position] = run()
            timings[position].append(time.perf_counter() - started)
    return [(statistics.median(times), count) for times, count in zip(timings, counts, strict=True)]


def _explain(sql: str) -> list[str]:
    """The plan's node lines and its buffer and timing totals, without the per-node noise."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        lines = [line for (line,) in cursor.fetchall()]
    keep = ("Scan", "Limit", "Sort", "Index Cond", "Filter", "Rows Removed", "Buffers", "Execution Time")
    return [line.rstrip() for line in lines if any(word in line for word in keep)]


def _captured_sql(run: Callable[[], int]) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    return str(captured.captured_queries[-1]["sql"])  # psycopg's mogrify: the exact statement sent


def measure(*, depths: list[int], repeats: int) -> tuple[list[Case], dict[str, list[str]]]:
    """Time the first page, then a cursor page, OFFSET and the ORM OR filter at each depth."""
    from django.db.models import Q

    from apps.core.context import in_tenant
    from apps.core.pagination import paginate_offset
    from apps.documents.api.serializers import DOCUMENT
    from apps.documents.repositories import DocumentRepository

    repository = DocumentRepository()
    results: list[Case] = []
    explain: dict[str, list[str]] = {}
    with in_tenant(TENANT):
        rows = DOCUMENT.values(repository.queryset(), "created_at", "id")  # the cursor reads these as values
        ordered = rows.order_by("-created_at", "-id")  # the cursor's total order, for OFFSET and the OR filter

        def first_page() -> int:
            return len(repository.paginate_cursor(rows, limit=LIMIT).items)

        cases: list[tuple[str, int, Callable[[], int]]] = [("cursor: first page (baseline)", 0, first_page)]
        for depth in depths:
            anchor = ordered.values("created_at", "id")[depth - 1]  # setup, not timed
            # A real cursor for "after the anchor", made by the public API: a one-row page starting at it.
            at_anchor = rows.filter(created_at__lte=anchor["created_at"])
            next_cursor = repository.paginate_cursor(at_anchor, limit=1).next_cursor
            assert next_cursor is not None
            cursor = next_cursor
            after = Q(created_at__lt=anchor["created_at"]) | Q(created_at=anchor["created_at"], id__lt=anchor["id"])

            def cursor_page(cursor: str = cursor) -> int:
                return len(repository.paginate_cursor(rows, cursor=cursor, limit=LIMIT).items)

            def offset_page(depth: int = depth) -> int:
                return len(paginate_offset(ordered, offset=depth, limit=LIMIT).items)

            def or_filter_page(after: Q = after) -> int:
                return len(list(ordered.filter(after)[: LIMIT + 1]))

            cases += [
                ("cursor page (row-value keyset)", depth, cursor_page),
                (f"OFFSET {depth:,} LIMIT {LIMIT + 1}", depth, offset_page),
                ("ORM keyset `Q(created_at__lt=x) \\| Q(created_at=x, id__lt=y)`", depth, or_filter_page),
            ]
        medians = _interleaved_medians([page for _, _, page in cases], repeats)
        for (name, depth, page), (seconds, count) in zip(cases, medians, strict=True):
            results.append(Case(name, depth, seconds, count))
            label = name if depth == 0 else f"{name} at depth {depth:,}"
            explain[label] = _explain(_captured_sql(page))
    return results, explain


def run(*, rows: int, repeats: int) -> Report:
    """Load `rows` documents and measure; the caller provides a migrated, empty PostgreSQL database."""
    load_seconds = load_documents(rows)
    depths = sorted({max(1, rows // 2), max(1, rows - LIMIT)})
    cases, explain = measure(depths=depths, repeats=repeats)
    return Report(rows, load_seconds, cases, explain)


def format_report(report: Report) -> str:
    baseline = report.cases[0].seconds
    lines = [
        f"{report.documents:,} documents in one tenant, loaded with COPY in {report.load_seconds:.1f} s; "
        f"page size {LIMIT}, median of the timed runs",
        "",
        "| case | depth (rows before the page) | rows | ms | ratio to the first page |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {c.name} | {c.depth:,} | {c.rows} | {c.seconds * 1e3:.2f} | {c.seconds / baseline:.2f} |"
        for c in report.cases
    ]
    for name, plan in report.explain.items():
        lines += ["", f"EXPLAIN (ANALYZE, BUFFERS), {name}:", *(f"    {line}" for line in plan)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="documents to load (the depth is rows - 50)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case (the median is printed)")
    args = parser.parse_args(argv)
    with bench_django("pagination"):
        print(format_report(run(rows=args.rows, repeats=args.repeats)))


if __name__ == "__main__":
    main()
