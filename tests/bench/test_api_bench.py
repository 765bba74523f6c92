"""bench/api_bench.py runs at toy size in the test database, so it cannot rot."""

from __future__ import annotations

import pytest

from bench import api_bench


@pytest.mark.django_db(transaction=True)  # the list cache is invalidated at once, not on a commit that never comes
def test_the_benchmark_serves_the_same_page_every_way_and_the_cache_skips_the_query() -> None:
    cases = api_bench.run(documents=60, requests=3)
    assert "baseline" in cases[0].name
    assert "floor" in cases[-1].name
    # DRF, ours cold and ours without the cache layer each run the page query; the cached page
    # and the floor run none. (run() itself asserts every case served the same 50 rows.)
    assert [case.queries >= 1 for case in cases] == [True, True, True, False, False]
    table = api_bench.format_table(cases, documents=60, requests=3, backends="test")
    assert table.count("\n| ") == 6
    assert table.splitlines()[-1].endswith("| 0 | 0.00 |")  # the floor is 0 above itself
