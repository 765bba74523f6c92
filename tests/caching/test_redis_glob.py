"""Pattern invalidation speaks Redis's glob dialect on both stores, checked against real Redis `SCAN MATCH`."""

from __future__ import annotations

import uuid

import pytest
import redis

from apps.caching.redis_glob import RedisGlob
from apps.caching.store import CacheStore

KEYS = [
    "doc:1", "doc:2", "doc:10", "doc:a", "doc:b", "doc:c", "doc:d", "doc:ab", "doc:a]", "docs:1",
    "doc:!", "doc:^", "doc:-", "doc:]", "doc:[", "doc:[x]", "doc:*", "doc:?", "doc:\\", "doc:é",
]  # fmt: skip
LETTERS = ["doc:a", "doc:b", "doc:c"]
ONE_CHARACTER = ["doc:!", "doc:*", "doc:-", "doc:1", "doc:2", "doc:?", "doc:[", "doc:\\", "doc:]", "doc:^"]

# pattern → the keys real Redis matches (test_the_table_is_what_redis_scan_match_returns proves it).
CASES = {
    "doc:*": [key for key in KEYS if key != "docs:1"],
    "*": KEYS,
    "**:1": ["doc:1", "docs:1"],
    "d*:*1*": ["doc:1", "doc:10", "docs:1"],
    "doc:1*": ["doc:1", "doc:10"],
    "doc:*0": ["doc:10"],
    "doc:?": [*ONE_CHARACTER, *LETTERS, "doc:d"],
    "doc:??": ["doc:10", "doc:a]", "doc:ab", "doc:é"],  # é is two bytes, as Redis counts
    "doc:é": ["doc:é"],
    "doc:[abc]": LETTERS,
    "doc:[a-c]": LETTERS,
    "doc:[c-a]": LETTERS,  # a reversed range is the same range
    "doc:[^a]": [*ONE_CHARACTER, "doc:b", "doc:c", "doc:d"],
    "doc:[^abc]": [*ONE_CHARACTER, "doc:d"],
    "doc:[!a]": ["doc:!", "doc:a"],  # `!` is not a negation in Redis
    "doc:[-a]": ["doc:-", "doc:a"],
    "doc:[a-]": ["doc:]", "doc:^", "doc:a"],  # the range a-] (reversed), and the class runs on
    "doc:[a\\-c]": ["doc:-", "doc:a", "doc:c"],
    "doc:\\*": ["doc:*"],
    "doc:\\?": ["doc:?"],
    "doc:\\\\": ["doc:\\"],
    "doc:\\": ["doc:\\"],  # a trailing lone backslash is literal
    "doc:\\[*": ["doc:[", "doc:[x]"],
    "doc:[[]*": ["doc:[", "doc:[x]"],
    "doc:[\\]]": ["doc:]"],
    "doc:[\\^]": ["doc:^"],
    "doc:a\\]": ["doc:a]"],
    "doc:[ab": ["doc:a", "doc:b"],  # an unclosed class ends with the pattern
    "doc:[": [],
    "doc:[]": [],
    "doc:[]]": [],
}


def _fill(store: CacheStore) -> None:
    for key in KEYS:
        store.fill(key, b"\x00", 60, [], None)


@pytest.mark.parametrize(("pattern", "expected"), CASES.items(), ids=list(CASES))
def test_pattern_invalidation_matches_as_redis_does(each_store: CacheStore, pattern: str, expected: list[str]) -> None:
    _fill(each_store)
    found: list[str] = []
    assert each_store.invalidate_pattern(pattern, dry_run=True, found=found.extend) == len(expected)
    assert sorted(found) == sorted(expected)
    assert each_store.invalidate_pattern(pattern) == len(expected)
    assert [key for key in KEYS if each_store.get(key) is not None] == [key for key in KEYS if key not in expected]


@pytest.mark.parametrize(("pattern", "expected"), CASES.items(), ids=list(CASES))
def test_the_table_is_what_redis_scan_match_returns(redis_url: str, pattern: str, expected: list[str]) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = f"test-glob-{uuid.uuid4().hex[:12]}:"
    try:
        for key in KEYS:
            client.set(prefix + key, b"1", ex=60)
        matched = {name.decode()[len(prefix) :] for name in client.scan_iter(match=prefix + pattern, count=1000)}
    finally:
        client.delete(*(prefix + key for key in KEYS))
    assert matched == set(expected)
    assert {key for key in KEYS if RedisGlob(pattern).matches(key)} == matched


def test_no_pattern_takes_exponential_time() -> None:
    # One backtrack point for the last `*`: linear-times-pattern, whatever the stars.
    assert not RedisGlob("*a" * 40 + "*b").matches("a" * 200)
