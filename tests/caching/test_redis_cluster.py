"""The Redis store on a real three-master Redis Cluster: one slot per script, every master visited.

The race test of the cache layer runs here too (tests/caching/test_decorators.py, `redis-cluster`).
"""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from apps.caching import cache_key, cached, invalidate_pattern, invalidate_tags
from apps.caching.redis_store import RedisStore
from apps.caching.store import CacheStore

pytestmark = [pytest.mark.process, pytest.mark.service("redis")]

BIG_TAG_KEYS = 100_000


def _masters(store: CacheStore) -> list[Redis]:
    assert isinstance(store, RedisStore)
    cluster = store.client
    assert isinstance(cluster, RedisCluster)
    return [Redis(host=node.host, port=node.port) for node in cluster.get_primaries()]  # type: ignore[no-untyped-call]


def test_each_scripts_keys_share_a_slot_and_the_shards_cover_every_master(cluster_store: CacheStore) -> None:
    layout = cluster_store.layout
    for key in ("document:1", "document:2", "report:weekly"):
        shard = layout.shard(key)
        names = [layout.entry(key), layout.key_generation(key), layout.lock(key), layout.refresh_token(key)]
        names += [layout.tag_set("document", shard), layout.tag_generation("document", shard)]
        names.append(layout.draining("document", "x", shard))
        assert len({key_slot(name.encode()) for name in names}) == 1, names
    cluster = cluster_store.client  # type: ignore[attr-defined]
    owners = {cluster.get_node_from_key(space).name for space in layout.spaces}
    assert owners == {node.name for node in cluster.get_primaries()}


def test_pattern_invalidation_and_stats_visit_every_master(cluster_store: CacheStore) -> None:
    @cached(key_prefix="spread", ttl=60, tags=lambda i: ["spread"])
    def read(i: int) -> int:
        return i

    for i in range(200):
        read(i)
    namespace_glob = cluster_store.layout.space_glob() + "e:spread:*"
    per_master = [len(list(master.scan_iter(match=namespace_glob, count=1000))) for master in _masters(cluster_store)]
    assert all(count > 0 for count in per_master), per_master  # the entries live on every master
    assert sum(per_master) == 200
    assert cluster_store.stats().counts["entries"] == 200
    assert invalidate_pattern("spread:*") == 200
    assert all(not list(master.scan_iter(match=namespace_glob)) for master in _masters(cluster_store))


def test_a_100k_key_tag_is_invalidated_quickly_without_stalling_any_master(cluster_store: CacheStore) -> None:
    """A behaviour check on a real cluster, not a benchmark: the bounds are generous (the issue's 2 s and
    50 ms) because what they catch is the failure mode, one script deleting 100,000 keys and blocking a
    master for far longer; the bench (bench/cache_bench.py --cluster) measures the figures."""
    layout = cluster_store.layout
    cluster = cluster_store.client  # type: ignore[attr-defined]
    expires = int(time.time() * 1000) + 600_000
    pipeline = cluster.pipeline(transaction=False)
    for i in range(BIG_TAG_KEYS):
        key = f"big:{i}"
        entry = layout.entry(key)
        pipeline.set(entry, b"x", px=600_000)
        pipeline.zadd(layout.tag_set("big", layout.shard(key)), {entry: expires})
        if i % 10_000 == 9_999:
            pipeline.execute()
    pipeline.execute()
    assert cluster_store.get("big:7") is not None

    worst: dict[str, float] = {}
    stop = threading.Event()

    def ping(master: Redis) -> None:
        name = str(master.connection_pool.connection_kwargs["port"])
        while not stop.is_set():
            started = time.perf_counter()
            master.ping()
            worst[name] = max(worst.get(name, 0.0), time.perf_counter() - started)
            time.sleep(0.002)

    pingers = [threading.Thread(target=ping, args=(master,)) for master in _masters(cluster_store)]
    for pinger in pingers:
        pinger.start()
    time.sleep(0.05)
    try:
        started = time.perf_counter()
        removed = invalidate_tags(["big"])
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        for pinger in pingers:
            pinger.join(5)
    assert removed == BIG_TAG_KEYS
    assert elapsed < 2.0
    assert len(worst) == 3
    assert max(worst.values()) < 0.05, worst
    assert cluster_store.get("big:7") is None
    assert cluster_store.stats().counts["entries"] == 0


def test_an_entry_filled_before_an_invalidation_of_its_tag_is_refused_in_its_shard(cluster_store: CacheStore) -> None:
    key = cache_key("refused", 1)
    snapshot = cluster_store.snapshot(key, ["refused"])
    invalidate_tags(["refused"])
    assert cluster_store.fill(key, b"stale", 60, ["refused"], snapshot) is False
    assert cluster_store.get(key) is None
