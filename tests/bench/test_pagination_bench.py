"""bench/pagination_bench.py runs at toy size in the test database, so it cannot rot."""

from __future__ import annotations

from bench import pagination_bench


def test_the_benchmark_measures_every_case_and_explains_the_cursor_page(postgres: None) -> None:
    report = pagination_bench.run(rows=300, repeats=1)
    assert [(case.name.split(" ")[0], case.depth) for case in report.cases] == [
        ("cursor:", 0),
        ("cursor", 150),
        ("OFFSET", 150),
        ("ORM", 150),
        ("cursor", 250),
        ("OFFSET", 250),
        ("ORM", 250),
    ]
    # Every case fetched a full page (the OR filter reads limit + 1 rows itself).
    assert all(case.rows in {50, 51} for case in report.cases), report.cases
    cursor_plan = report.explain["cursor page (row-value keyset) at depth 150"]
    assert any("ROW(created_at, id) <" in line for line in cursor_plan), cursor_plan
    assert any(line.strip().startswith("Execution Time") for line in cursor_plan), cursor_plan
    table = pagination_bench.format_report(report)
    assert "| cursor: first page (baseline) | 0 | 50 |" in table
    assert table.count("\n| ") == 8  # header and seven cases
