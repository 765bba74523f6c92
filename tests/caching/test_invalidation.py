"""Invalidation inside real transactions: queued to on_commit, dropped on rollback; counts returned."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from apps.caching import cache_key, cached, invalidate_cache, invalidate_pattern, invalidate_tags
from apps.caching.serialization import decode
from apps.caching.store import get_store
from apps.caching.uncommitted import has_uncommitted
from tests.caching.conftest import in_another_thread

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
    value(1), value(2), value(3), value(4)
    with transaction.atomic():
        assert invalidate_tags(["inv:1"]) == 0  # queued: nothing removed yet
        assert invalidate_cache(cache_key("inv", 2)) == 0
        assert invalidate_pattern("inv:3") == 0
        assert get_store().get(cache_key("inv", 1)) is not None  # still cached for everyone else
        value(1), value(2), value(3), value(4)
        assert calls == [1, 2, 3, 4, 1, 2, 3]  # reads around what it invalidated; 4 is still a hit
    assert get_store().get(cache_key("inv", 1)) is None  # removed at the commit
    value(1), value(2), value(3), value(4)
    assert calls == [1, 2, 3, 4, 1, 2, 3, 1, 2, 3]


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


# -- read-your-writes ---------------------------------------------------------------------------


@pytest.fixture
def user_name(namespace: str) -> tuple[list[int], Callable[[int], str]]:
    """A cached read of a real row, and the calls that reached the database."""
    calls: list[int] = []

    @cached(key_prefix="ryw", ttl=60, tags=lambda pk: [f"user:{pk}"])
    def first_name(pk: int) -> str:
        calls.append(pk)
        return str(User.objects.values_list("first_name", flat=True).get(pk=pk))

    return calls, first_name


def _rename(pk: int, name: str) -> None:
    User.objects.filter(pk=pk).update(first_name=name)
    invalidate_tags([f"user:{pk}"])


def _cached_value(key: str) -> object:
    payload = get_store().get(key)
    return None if payload is None else decode(payload)[0]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_reads_its_own_writes_and_shares_none_before_the_commit(
    user_name: tuple[list[int], Callable[[int], str]],
) -> None:
    calls, first_name = user_name
    pk = User.objects.create(username="ann", first_name="Ann").pk
    assert first_name(pk) == "Ann"
    with transaction.atomic():
        _rename(pk, "Anna")
        assert first_name(pk) == "Anna"  # not the cached "Ann"
        assert first_name(pk) == "Anna"
        elsewhere = in_another_thread(lambda: first_name(pk)).result(timeout=30)
        assert elsewhere == "Ann"  # the committed value, from the cache
        assert _cached_value(cache_key("ryw", pk)) == "Ann"  # nothing uncommitted was stored
    assert _cached_value(cache_key("ryw", pk)) is None
    assert first_name(pk) == "Anna"
    assert first_name(pk) == "Anna"
    assert calls == [pk, pk, pk, pk]  # filled, bypassed twice, refilled once after the commit
    assert not has_uncommitted()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_leaves_the_cache_and_the_outer_transaction_right(
    user_name: tuple[list[int], Callable[[int], str]],
) -> None:
    _, first_name = user_name
    pk = User.objects.create(username="bo", first_name="Bo").pk
    other = User.objects.create(username="cy", first_name="Cy").pk
    first_name(pk), first_name(other)
    with transaction.atomic():
        _rename(other, "Cyd")
        try:
            with transaction.atomic():
                _rename(pk, "Bob")
                assert first_name(pk) == "Bob"
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        assert first_name(pk) == "Bo"  # the savepoint's write is gone, and so is its value
        assert first_name(other) == "Cyd"  # the outer write is still read
    assert (first_name(pk), first_name(other)) == ("Bo", "Cyd")
    assert _cached_value(cache_key("ryw", pk)) == "Bo"  # never invalidated: the write was rolled back


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_write_poisons_nothing(user_name: tuple[list[int], Callable[[int], str]]) -> None:
    calls, first_name = user_name
    pk = User.objects.create(username="di", first_name="Di").pk
    first_name(pk)
    seen: list[str] = []

    def write_read_and_fail() -> None:
        with transaction.atomic():
            _rename(pk, "Diana")
            seen.append(first_name(pk))
            raise RuntimeError("rollback")

    with pytest.raises(RuntimeError):
        write_read_and_fail()
    assert seen == ["Diana"]
    assert _cached_value(cache_key("ryw", pk)) == "Di"
    calls.clear()
    assert first_name(pk) == "Di"  # a hit: the entry was left alone
    assert calls == []
    assert not has_uncommitted()
