"""What only the Redis store can prove: one round trip per hit, atomic Lua writes, chunked drains, pruning."""

from __future__ import annotations

import time
from typing import Any

import pytest
from redis.exceptions import ResponseError

from apps.caching import cache_key, cached, invalidate_pattern, invalidate_tags
from apps.caching.redis_store import CHUNK, RedisStore
from apps.caching.store import CacheStore, get_store, reset_store
from tests.caching.conftest import redis_cache_settings


def _commandstats(client: Any) -> dict[str, int]:
    return {name: int(stats["calls"]) for name, stats in client.info("commandstats").items()}


def _commands_of(client: Any, call: Any) -> dict[str, int]:
    before = _commandstats(client)
    call()
    after = _commandstats(client)
    changed = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    changed.pop("cmdstat_info", None)  # the probe itself
    return changed


def test_a_hit_is_one_read_and_a_miss_one_read_and_one_fill(
    own_redis_server: Any, settings: Any, namespace: str
) -> None:
    settings.CACHES = redis_cache_settings(own_redis_server.url, namespace)

    @cached(key_prefix="one-get", ttl=60, tags=lambda n: [f"one-get:{n}"])
    def value(n: int) -> dict[str, int]:
        return {"n": n}

    value(0)  # loads the scripts, checks the eviction policy
    client = get_store().client  # type: ignore[attr-defined]
    # The miss reads the entry and the generations guarding its fill in one MGET, then fills.
    # (commandstats also counts the GET/SET the fill script runs inside Redis; no client GET is sent.)
    miss = _commands_of(client, lambda: value(1))
    assert (miss["cmdstat_mget"], miss["cmdstat_evalsha"]) == (1, 1)
    assert miss.get("cmdstat_get", 0) == _commands_of(client, lambda: value(2)).get("cmdstat_get", 0)
    assert _commands_of(client, lambda: value(1)) == {"cmdstat_mget": 1}  # the hit: one round trip
    assert value(1) == {"n": 1}
    reset_store()


def test_a_locked_entry_reads_its_generations_under_the_lock(
    own_redis_server: Any, settings: Any, namespace: str
) -> None:
    settings.CACHES = redis_cache_settings(own_redis_server.url, namespace)

    @cached(key_prefix="locked-get", ttl=60, tags=lambda n: [f"locked-get:{n}"], lock=True)
    def value(n: int) -> dict[str, int]:
        return {"n": n}

    value(0)
    client = get_store().client  # type: ignore[attr-defined]
    assert _commands_of(client, lambda: value(1))["cmdstat_mget"] == 1  # the generations, after the lock
    assert _commands_of(client, lambda: value(1)) == {"cmdstat_get": 1}
    reset_store()


def test_a_fill_writes_value_and_tag_membership_together(redis_store: RedisStore) -> None:
    client = redis_store.client
    snapshot = redis_store.snapshot("doc:1", ["a", "b"])
    assert redis_store.fill("doc:1", b"\x00payload", 60, ["a", "b"], snapshot)
    entry = redis_store.layout.entry("doc:1")
    for tag in ("a", "b"):
        assert client.zscore(redis_store.layout.tag_set(tag), entry) == pytest.approx(
            (time.time() + 60) * 1000, abs=5000
        )
        assert 60_000 < client.pttl(redis_store.layout.tag_set(tag)) <= 120_000  # outlives the entry
    invalidate_tags(["b"])
    # A refused fill writes nothing at all: neither the value nor any membership.
    assert not redis_store.fill("doc:2", b"\x00payload", 60, ["a", "b"], snapshot)
    assert client.exists(redis_store.layout.entry("doc:2")) == 0
    assert client.zscore(redis_store.layout.tag_set("a"), redis_store.layout.entry("doc:2")) is None


def test_a_redis_error_that_is_not_an_outage_propagates(redis_store: RedisStore) -> None:
    redis_store.client.set(redis_store.layout.tag_set("wrongtype"), "a string, not a sorted set")

    @cached(key_prefix="wrongtype", ttl=60, tags=lambda n: ["wrongtype"])
    def value(n: int) -> int:
        return n

    with pytest.raises(ResponseError, match="WRONGTYPE"):
        value(1)


def test_tag_invalidation_drains_large_tags_in_chunks(redis_store: RedisStore) -> None:
    total = CHUNK * 2 + 37
    pipeline = redis_store.client.pipeline(transaction=False)
    for n in range(total):
        pipeline.set(redis_store.layout.entry(f"big:{n}"), b"\x00x", px=60_000)
        pipeline.zadd(
            redis_store.layout.tag_set("big"), {redis_store.layout.entry(f"big:{n}"): time.time() * 1000 + 60_000}
        )
    pipeline.execute()
    found: list[str] = []
    assert invalidate_tags(["big"], found=found.extend) == total
    assert len(found) == total
    assert found[0].startswith("big:")
    assert list(redis_store.client.scan_iter(match=redis_store.layout.namespace + "e:*")) == []


def test_pattern_invalidation_removes_only_matching_entries(redis_store: RedisStore) -> None:
    for n in range(2500):
        redis_store.fill(f"pat:{n}", b"\x00x", 60, [], None)
    redis_store.fill("other:1", b"\x00x", 60, [], None)
    assert redis_store.invalidate_pattern("pat:*", dry_run=True) == 2500
    assert invalidate_pattern("pat:*") == 2500
    assert redis_store.get("other:1") is not None


def test_prune_leaves_no_expired_members_and_finishes_interrupted_drains(redis_store: RedisStore) -> None:
    for n in range(30):
        redis_store.fill(f"short:{n}", b"\x00x", 0.05, ["short", f"short:{n}"], None)
    redis_store.fill("long:1", b"\x00x", 60, ["short"], None)
    # An invalidation that died after the rename: its drain set still holds live entries.
    client = redis_store.client
    redis_store.fill("orphan:1", b"\x00x", 60, [], None)
    client.zadd(redis_store.layout.draining("gone", "deadbeef"), {redis_store.layout.entry("orphan:1"): 1})
    time.sleep(0.1)
    report = redis_store.prune()
    assert report.members_removed >= 30
    assert report.orphaned_drains == 1
    assert report.entries_removed == 1
    assert client.zrange(redis_store.layout.tag_set("short"), 0, -1) == [redis_store.layout.entry("long:1").encode()]
    stale = list(client.scan_iter(match=redis_store.layout.namespace + "t:short:*"))
    assert stale == []  # per-entry tag sets emptied by the prune are gone


def test_keys_of_other_namespaces_are_never_touched(redis_store: RedisStore, settings: Any) -> None:
    outsider = redis_store.layout.namespace.replace("test-cache", "outsider") + "e:pat:1"
    redis_store.client.set(outsider, b"keep", px=60_000)
    try:
        redis_store.fill("pat:1", b"\x00x", 60, [], None)
        assert invalidate_pattern("*") == 1
        assert redis_store.client.get(outsider) == b"keep"
    finally:
        redis_store.client.unlink(outsider)


def test_allkeys_eviction_policy_is_reported(own_redis_server: Any, settings: Any, namespace: str, caplog: Any) -> None:
    from apps.caching.checks import check_eviction_policy

    settings.CACHES = redis_cache_settings(own_redis_server.url, namespace)
    store: CacheStore = get_store()
    store.client.config_set("maxmemory-policy", "allkeys-lru")  # type: ignore[attr-defined]
    [warning] = check_eviction_policy()
    assert warning.id == "caching.W001"
    assert "allkeys-lru" in warning.msg

    @cached(key_prefix="policy", ttl=60)
    def value() -> int:
        return 1

    with caplog.at_level("WARNING", logger="apps.caching"):
        value()
    assert "maxmemory-policy is allkeys-lru" in caplog.text
    store.client.config_set("maxmemory-policy", "volatile-lru")  # type: ignore[attr-defined]
    assert check_eviction_policy() == []
    reset_store()


def test_the_eviction_check_passes_quietly_when_redis_is_down(
    own_redis_server: Any, settings: Any, namespace: str
) -> None:
    from apps.caching.checks import check_eviction_policy

    settings.CACHES = redis_cache_settings(own_redis_server.url, namespace)
    own_redis_server.stop()
    started = time.monotonic()
    assert check_eviction_policy() == []
    assert time.monotonic() - started < 2
    reset_store()


def test_cache_key_is_the_key_redis_holds(redis_store: RedisStore) -> None:
    @cached(key_prefix="where", ttl=60)
    def value(n: int, *, kind: str) -> int:
        return n

    value(1, kind="x")
    assert redis_store.client.exists(redis_store.layout.entry(cache_key("where", 1, kind="x"))) == 1
