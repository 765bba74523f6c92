"""bench/graphql_bench.py runs at toy size in the test database, so it cannot rot."""

from __future__ import annotations

import pytest

from bench import graphql_bench


@pytest.mark.django_db(transaction=True)  # the list cache is invalidated at once, not on a commit that never comes
def test_the_benchmark_serves_the_same_page_both_ways_and_the_cache_skips_the_query() -> None:
    cases = graphql_bench.run(documents=60, requests=3)
    assert "baseline" in cases[0].name
    # Cold, REST and GraphQL run the same page query; served from the cache, neither runs one.
    # (run() itself asserts every case served the same 50 rows.)
    assert [case.queries >= 1 for case in cases] == [True, True, False, False]
    assert cases[0].queries == cases[1].queries
    table = graphql_bench.format_table(cases, documents=60, requests=3, backends="test")
    assert table.count("\n| ") == 5
    assert table.splitlines()[4].endswith("| 1.00 |")  # the baseline is 1.00 of itself
