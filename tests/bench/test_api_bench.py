"""bench/api_bench.py runs at toy size in the test database, so it cannot rot."""

from __future__ import annotations

import pytest

from bench import api_bench


@pytest.mark.django_db(transaction=True)  # the list cache is invalidated at once, not on a commit that never comes
def test_the_benchmark_serves_the_same_page_both_ways_and_the_cache_skips_the_query() -> None:
    cases = api_bench.run(documents=60, requests=3)
    drf, cold, warm = cases
    assert "baseline" in drf.name
    # DRF: the page query; ours cold: the page query too; ours cached: no SQL at all.
    assert drf.queries >= 1
    assert cold.queries >= 1
    assert warm.queries == 0
    table = api_bench.format_table(cases, documents=60, requests=3, backends="test")
    assert table.count("\n| ") == 4
