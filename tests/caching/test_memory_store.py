"""The local-memory store bounds tag memory as the Redis store does (the same tests run on both)."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command

from apps.caching.keys import KeyLayout
from apps.caching.memory_store import LocalMemoryStore
from apps.caching.store import CacheStore


def test_fills_shed_expired_members_of_their_tags(each_store: CacheStore) -> None:
    for n in range(40):
        each_store.fill(f"short:{n}", b"\x00", 0.05, ["shed"], None)
    time.sleep(0.1)
    for n in range(6):  # each fill drops up to 8 expired members of the tag it touches
        each_store.fill(f"long:{n}", b"\x00", 60, ["shed"], None)
    assert each_store.stats().counts["tag_members"] == 6
    assert each_store.invalidate_tags(["shed"]) == 6


@pytest.mark.django_db  # the command also replays missed invalidations
def test_prune_cache_tags_sweeps_expired_members(each_store: CacheStore) -> None:
    for n in range(5):
        each_store.fill(f"short:{n}", b"\x00", 0.05, ["a", "b"], None)
    each_store.fill("long", b"\x00", 60, ["a"], None)
    time.sleep(0.1)
    report = each_store.prune()
    assert (report.members_removed, each_store.stats().counts["tag_members"]) == (10, 1)
    out = StringIO()
    call_command("prune_cache_tags", stdout=out)
    assert out.getvalue().startswith("pruned 0 expired member(s) from 1 tag set(s)")
    assert each_store.invalidate_tags(["a"]) == 1


def test_evicted_entries_leave_no_tag_members_behind() -> None:
    store = LocalMemoryStore(KeyLayout.for_prefix("bounded"), max_entries=10, generation_ttl=60)
    for n in range(1000):
        store.fill(f"k:{n}", b"\x00", 60, [f"tag:{n % 7}", "all"], None)
    counts = store.stats().counts
    assert counts["entries"] == 10
    assert counts["tag_members"] <= 4 * 2 * 10  # swept whenever members outnumber twice what the entries hold
    assert store.invalidate_tags(["all"]) == 10


def test_a_tag_of_only_expired_members_is_dropped_by_the_sweep() -> None:
    store = LocalMemoryStore(KeyLayout.for_prefix("bounded"), max_entries=10, generation_ttl=60)
    store.fill("gone", b"\x00", 0.05, ["lonely"], None)
    time.sleep(0.1)
    assert store.prune().members_removed == 1
    assert store.stats().counts["tag_sets"] == 0
