"""cacheops's and django-redis's key and invalidation cases, carried over to `@cached` (this run's backend)."""

from __future__ import annotations

import asyncio
import math
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

import pytest

from apps.caching import cache_key, cached, invalidate_cache, invalidate_tags
from tests.caching.test_docs_example import DOC, snippet

pytestmark = pytest.mark.usefixtures("namespace")


def counting(**options: Any) -> tuple[Any, Tally[tuple[Any, ...]]]:
    """A cached `f(a, b=None, c=0, *, d="x")` and how often it really ran per argument set."""
    calls = Tally[tuple[Any, ...]]()

    @cached(key_prefix="peer", ttl=60, **options)
    def f(a: int, b: int | None = None, c: int = 0, *, d: str = "x") -> tuple[Any, ...]:
        calls[(a, b, c, d)] += 1
        return (a, b, c, d)

    return f, calls


# Each group is one call written several ways: one entry, one run, one key to invalidate.
SAME_CALL: dict[str, list[Callable[[Any], Any]]] = {
    "defaults omitted or spelt out": [
        lambda f: f(1),
        lambda f: f(1, None),
        lambda f: f(1, b=None),
        lambda f: f(1, None, 0),
        lambda f: f(a=1, c=0),
        lambda f: f(1, d="x"),
    ],
    "a later argument by keyword or by position": [
        lambda f: f(1, None, 5),
        lambda f: f(1, c=5),
        lambda f: f(a=1, b=None, c=5),
        lambda f: f(c=5, a=1),
    ],
    "keyword-only argument in any order": [
        lambda f: f(1, 2, d="y"),
        lambda f: f(d="y", b=2, a=1),
        lambda f: f(1, b=2, c=0, d="y"),
    ],
}


@pytest.mark.parametrize("group", list(SAME_CALL))
def test_one_call_written_several_ways_is_one_entry(group: str) -> None:
    f, calls = counting()
    results = {call(f) for call in SAME_CALL[group]}
    assert len(results) == 1
    assert sum(calls.values()) == 1


def test_an_entry_of_a_call_with_defaults_is_invalidated_by_the_documented_key() -> None:
    f, calls = counting()
    f(1, b=None)
    assert invalidate_cache(cache_key("peer", 1)) == 1
    f(1)
    assert sum(calls.values()) == 2


def test_a_default_and_an_equal_value_of_another_type_are_different_calls() -> None:
    f, calls = counting()
    f(1, c=0)
    f(1, c=False)  # False == 0 in Python, not the same argument
    f(1, c=0.0)
    assert sum(calls.values()) == 3


def test_keyword_names_cannot_forge_another_call() -> None:
    calls: list[dict[str, Any]] = []

    @cached(key_prefix="forge", ttl=60)
    def report(**filters: Any) -> dict[str, Any]:
        calls.append(filters)
        return filters

    assert report(b=1, c=2) == {"b": 1, "c": 2}
    assert report(**{"b=1:c": 2}) == {"b=1:c": 2}
    assert len(calls) == 2


@pytest.mark.parametrize(
    "argument",
    ["café", "日本語", "🚀", "e\u0301", "x" * 10_000, "a\x00b", "line\u2028sep", "%s{}"],
)
def test_unicode_and_very_long_arguments_hit_and_invalidate(argument: str) -> None:
    _f, calls = counting()

    @cached(key_prefix="text", ttl=60)
    def echo(value: str) -> str:
        calls[(value,)] += 1
        return value

    assert echo(argument) == echo(argument) == argument
    assert len(cache_key("text", argument)) < 200
    assert invalidate_cache(cache_key("text", argument)) == 1
    assert echo(argument) == argument
    assert calls[(argument,)] == 2


def test_methods_classmethods_and_staticmethods_key_on_their_arguments() -> None:
    runs: list[str] = []

    class Repository:
        @cached(key_prefix="method", ttl=60)
        def get(self, pk: int) -> int:
            runs.append("method")
            return pk

        @classmethod
        @cached(key_prefix="classmethod", ttl=60)
        def build(cls, pk: int) -> int:
            runs.append("classmethod")
            return pk

        @staticmethod
        @cached(key_prefix="staticmethod", ttl=60)
        def plain(pk: int) -> int:
            runs.append("staticmethod")
            return pk

    assert Repository().get(1) == Repository().get(pk=1) == 1  # `self` is not part of the key
    assert Repository.build(2) == Repository().build(pk=2) == 2
    assert Repository.plain(3) == Repository().plain(3) == 3
    assert runs == ["method", "classmethod", "staticmethod"]
    assert invalidate_cache(cache_key("method", 1)) == 1


def test_async_functions_share_keys_with_their_sync_twins_and_do_not_cache_exceptions() -> None:
    runs: list[int] = []

    @cached(key_prefix="async", ttl=60)
    async def fetch(pk: int, verbose: bool = False) -> int:
        runs.append(pk)
        if pk < 0:
            raise LookupError(pk)
        return pk

    async def scenario() -> None:
        assert await fetch(1) == await fetch(1, verbose=False) == 1
        for _ in range(2):
            with pytest.raises(LookupError):
                await fetch(-1)

    asyncio.run(scenario())
    assert runs == [1, -1, -1]


def test_an_exception_is_not_cached_and_the_next_call_fills() -> None:
    outcomes: list[ValueError | int] = [ValueError("down"), 7]

    @cached(key_prefix="flaky", ttl=60)
    def flaky() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(ValueError, match="down"):
        flaky()
    assert flaky() == flaky() == 7


def test_condition_refuses_some_results_only() -> None:
    f, calls = counting(condition=lambda result: result[0] % 2 == 0)
    for _ in range(2):
        f(1), f(2)
    assert calls[(1, None, 0, "x")] == 2
    assert calls[(2, None, 0, "x")] == 1


@pytest.mark.parametrize("ttl", [0, -1, None, math.nan, math.inf, "60"])
def test_a_ttl_that_is_not_a_positive_number_of_seconds_is_refused_at_decoration(ttl: Any) -> None:
    with pytest.raises(ValueError, match="ttl"):
        cached(key_prefix="ttl", ttl=ttl)


def test_a_fractional_ttl_is_honoured() -> None:
    @cached(key_prefix="short", ttl=0.5)
    def short() -> int:
        return 1

    assert short() == short() == 1


@pytest.mark.parametrize(
    "tags",
    [
        lambda a, **_: f"peer:{a}",  # a bare string, not a list of tags
        lambda a, **_: [a],  # not a string
        lambda a, **_: [""],
    ],
)
def test_tags_that_are_not_strings_are_refused_before_anything_is_cached(tags: Any) -> None:
    f, calls = counting(tags=tags)
    with pytest.raises(TypeError, match="tags"):
        f(1)
    assert not calls


def test_a_tags_callable_that_raises_fails_the_call_and_caches_nothing() -> None:
    def broken(a: int, **_: Any) -> list[str]:
        raise KeyError("no tag for you")

    f, calls = counting(tags=broken)
    with pytest.raises(KeyError):
        f(1)
    assert not calls


def test_tags_invalidate_every_spelling_of_a_call() -> None:
    f, calls = counting(tags=lambda a, b=None, c=0, **_: [f"peer:{a}"])
    f(1), f(1, None), f(1, c=5)
    assert invalidate_tags(["peer:1"]) == 2
    f(1, b=None), f(1, None, 5)
    assert sum(calls.values()) == 4


def test_invalidate_tags_refuses_a_bare_string_instead_of_invalidating_its_characters() -> None:
    f, _calls = counting(tags=lambda a, **_: [f"peer:{a}"])
    f(1)
    with pytest.raises(TypeError, match=r"\['peer:1'\]"):
        invalidate_tags("peer:1")
    assert invalidate_tags(["peer:1"]) == 1


def test_the_documented_key_spellings() -> None:
    exec(compile(snippet("key-spellings"), str(DOC), "exec"), {})
