"""bench/upsert_bench.py runs at toy size in the test database, so it cannot rot."""

from __future__ import annotations

from bench import upsert_bench


def test_the_benchmark_upserts_half_new_half_existing_rows_four_ways(postgres: None) -> None:
    cases = upsert_bench.run(rows=200, loop_rows=20, repeats=1)
    bulk_create, ours_plain, ours, loop = cases
    assert "baseline" in bulk_create.name
    assert (bulk_create.rows, bulk_create.created) == (200, None)  # bulk_create counts nothing
    assert (ours_plain.rows, ours_plain.created, ours_plain.updated) == (200, 100, 100)
    assert (ours.rows, ours.created, ours.updated) == (200, 100, 100)
    assert (loop.rows, loop.created, loop.updated, loop.extrapolated) == (20, 10, 10, True)
    table = upsert_bench.format_table(cases, 200)
    assert "| 1.00 | not reported |" in table
    assert "(extrapolated)" in table
