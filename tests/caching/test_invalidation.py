"""Invalidation inside real transactions: queued to on_commit, dropped on rollback; counts returned."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction

from apps.caching import cache_key, cached, invalidate_cache, invalidate_pattern, invalidate_tags

pytestmark = pytest.mark.usefixtures("namespace")


@pytest.fixture
def counted(namespace: str) -> tuple[list[int], Callable[[int], int]]:
    calls: list[int] = []

    @cached(key_prefix="inv", ttl=60, tags=lambda n: [f"inv:{n}", "inv:all"])
    def value(n: int) -> int:
        calls.append(n)
        return n

    return calls, value


@pytest.mark.django_db(transaction=True)
def test_invalidation_inside_a_transaction_runs_at_commit(counted: tuple[list[int], Callable[[int], int]]) -> None:
    calls, value = counted
    value(1), value(2), value(3)
    with transaction.atomic():
        assert invalidate_tags(["inv:1"]) == 0  # queued: nothing removed yet
        assert invalidate_cache(cache_key("inv", 2)) == 0
        assert invalidate_pattern("inv:3") == 0
        value(1), value(2), value(3)
        assert calls == [1, 2, 3]  # still cached until the commit
    value(1), value(2), value(3)
    assert calls == [1, 2, 3, 1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_invalidation_in_a_rolled_back_transaction_never_runs(
    counted: tuple[list[int], Callable[[int], int]],
) -> None:
    calls, value = counted
    value(1)

    def write_then_fail() -> None:
        with transaction.atomic():
            invalidate_tags(["inv:1"])
            raise RuntimeError("rollback")

    with pytest.raises(RuntimeError):
        write_then_fail()
    value(1)
    assert calls == [1]


def test_counts_and_empty_calls(counted: tuple[list[int], Callable[[int], int]]) -> None:
    _, value = counted
    for n in range(5):
        value(n)
    assert invalidate_cache() == 0
    assert invalidate_tags([]) == 0
    assert invalidate_tags(["inv:0", "inv:0"]) == 1
    assert invalidate_pattern("inv:[12]") == 2
    assert invalidate_tags(["inv:all"]) == 2
