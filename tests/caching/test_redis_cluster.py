"""The Redis store on a real three-master Redis Cluster: one slot per script, every master visited.

The race test of the cache layer runs here too (tests/caching/test_decorators.py, `redis-cluster`).
"""

from __future__ import annotations

import sys
import threading
import time

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from redis import Redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from apps.caching import cache_key, cached, invalidate_pattern, invalidate_tags
from apps.caching.errors import CacheUnavailable
from apps.caching.redis_store import RedisStore
from apps.caching.store import CacheStore, get_store
from tests.caching.conftest import redis_cluster_cache_settings
from tests.processes import free_port

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
    """A behaviour check on a real cluster, not a benchmark (bench/cluster_bench.py measures the figures).

    What it catches is the failure mode: one call deleting 100,000 keys, which blocks a master for
    well over 50 ms. Two views of "no master stalled": Redis's own SLOWLOG (every command slower
    than 10 ms, recorded by the server: no command may reach 50 ms), and PINGs sent from a thread,
    which also carry this process's and the OS's scheduling (and coverage's tracing). On a shared
    2-core machine a thread is sometimes not run for hundreds of milliseconds, so the PINGs only
    catch a gross stall (p99 < 0.5 s, worst < 2 s); the server-side bound is the exact one.

    The whole invalidation must take < 2 s (the issue's figure; bench/cluster_bench.py: 0.35 s).
    Measured here on 2 cores: 0.45 s idle, 0.6 s under coverage, 1.2 s under coverage with three
    busy loops beside it; so the invalidating thread runs without coverage's tracer (its lines are
    covered by the other cluster tests), which leaves the bound its margin on a loaded machine.
    """
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
    masters = _masters(cluster_store)
    for master in masters:
        master.config_set("slowlog-log-slower-than", 10_000)
        master.slowlog_reset()

    pings: dict[int, list[float]] = {}
    stop = threading.Event()

    def ping(master: Redis) -> None:
        times = pings.setdefault(int(master.connection_pool.connection_kwargs["port"]), [])
        while not stop.is_set():
            started = time.perf_counter()
            master.ping()
            times.append(time.perf_counter() - started)
            time.sleep(0.002)

    pingers = [threading.Thread(target=ping, args=(master,)) for master in masters]
    for pinger in pingers:
        pinger.start()
    time.sleep(0.05)
    try:
        tracer = sys.gettrace()  # coverage's, when it runs: it triples the Python side of the call
        sys.settrace(None)
        try:
            started = time.perf_counter()
            removed = invalidate_tags(["big"])
            elapsed = time.perf_counter() - started
        finally:
            sys.settrace(tracer)
    finally:
        stop.set()
        for pinger in pingers:
            pinger.join(5)
    slowest_us = [max((entry["duration"] for entry in master.slowlog_get(128)), default=0) for master in masters]
    for master in masters:
        master.config_set("slowlog-log-slower-than", 10_000)  # the server's default
    assert removed == BIG_TAG_KEYS
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    assert max(slowest_us) < 50_000, slowest_us  # no master ran a command for 50 ms
    assert len(pings) == 3
    for port, times in pings.items():
        times.sort()
        assert times[int(len(times) * 0.99)] < 0.5, (port, times[-5:])
        assert times[-1] < 2.0, (port, times[-5:])
    assert cluster_store.get("big:7") is None
    assert cluster_store.stats().counts["entries"] == 0


def test_an_entry_filled_before_an_invalidation_of_its_tag_is_refused_in_its_shard(cluster_store: CacheStore) -> None:
    key = cache_key("refused", 1)
    snapshot = cluster_store.snapshot(key, ["refused"])
    invalidate_tags(["refused"])
    assert cluster_store.fill(key, b"stale", 60, ["refused"], snapshot) is False
    assert cluster_store.get(key) is None


def test_a_cluster_that_does_not_answer_is_an_outage_the_cache_reads_through(
    settings: SettingsWrapper, namespace: str
) -> None:
    settings.CACHES = redis_cluster_cache_settings(f"redis+cluster://127.0.0.1:{free_port()}", namespace)
    calls: list[int] = []

    @cached(key_prefix="down", ttl=60, tags=lambda i: ["down"])
    def read(i: int) -> int:
        calls.append(i)
        return i

    assert read(1) == 1
    assert read(1) == 1
    assert calls == [1, 1]  # no cache, every call computed; nothing raised
    with pytest.raises(CacheUnavailable):
        get_store().get("down:1")
