"""apps.caching on a Redis Cluster against a single Redis, in one run: cache hit and tag invalidation.

    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/cluster_bench.py [--tag-keys 100000]

Starts its own three-master cluster on free loopback ports (tests.processes.OwnRedisCluster), stops
and removes it at the end. The single node is `--redis-url` (its keys under a unique prefix, removed).
Both stores are driven by the same code in the same process, interleaved, so the ratio is the figure.
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def per_call_us(func: Callable[[], Any], iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        func()
    return (time.perf_counter() - started) / iterations * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5"))
    parser.add_argument("--tag-keys", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["CACHE_KEY_PREFIX"] = prefix
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django

    django.setup()
    import redis
    from django.test import override_settings

    from apps.caching import cached, invalidate_tags
    from apps.caching.store import get_store
    from project.backends import cache_settings
    from project.environment import EnvReader
    from tests.processes import OwnRedisCluster

    directory = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    cluster = OwnRedisCluster(directory)
    cluster.start()
    stores = {
        "single node": cache_settings(EnvReader({"REDIS_URL": args.redis_url, "CACHE_KEY_PREFIX": prefix})),
        "cluster (3 masters)": cache_settings(EnvReader({"REDIS_URL": cluster.url, "CACHE_KEY_PREFIX": prefix})),
    }
    value = {"id": 42, "title": "A document title", "tags": ["a", "b", "c"], "version": 7, "body": "x" * 200}

    @cached(key_prefix="bench-doc", ttl=600, tags=lambda document_id: [f"bench-doc:{document_id}"])
    def document_detail(document_id: int) -> dict[str, Any]:
        return value

    hits: dict[str, list[float]] = {name: [] for name in stores}
    invalidation: dict[str, tuple[float, float]] = {}
    try:
        for _ in range(args.rounds):
            for name, caches in stores.items():
                with override_settings(CACHES=caches):
                    document_detail(42)
                    hits[name].append(per_call_us(lambda: document_detail(42), args.iterations))
        for name, caches in stores.items():
            with override_settings(CACHES=caches):
                invalidation[name] = tag_invalidation(get_store(), args.tag_keys, invalidate_tags, redis)
    finally:
        for caches in stores.values():
            with override_settings(CACHES=caches):
                client = get_store().client  # type: ignore[attr-defined]
                for pattern in (f"{prefix}:*", "{" + f"{prefix}:*"):
                    for key in client.scan_iter(match=pattern, count=1000):
                        client.unlink(key)
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)

    single = "single node"
    print(f"{'measure':<44} {'single node':>14} {'cluster':>14} {'cluster/single':>15}")
    cluster_name = "cluster (3 masters)"
    hit_single, hit_cluster = statistics.median(hits[single]), statistics.median(hits[cluster_name])
    label = "cache hit, µs/call (median of rounds)"
    print(f"{label:<44} {hit_single:>14.1f} {hit_cluster:>14.1f} {hit_cluster / hit_single:>14.2f}x")
    (took_single, ping_single), (took_cluster, ping_cluster) = invalidation[single], invalidation[cluster_name]
    label = f"invalidate a {args.tag_keys:,}-key tag, s"
    print(f"{label:<44} {took_single:>14.3f} {took_cluster:>14.3f} {took_cluster / took_single:>14.2f}x")
    print(f"{'  worst PING of any master meanwhile, ms':<44} {ping_single:>14.1f} {ping_cluster:>14.1f}")
    return 0


def tag_invalidation(
    store: Any, keys: int, invalidate_tags: Callable[[list[str]], int], redis: Any
) -> tuple[float, float]:
    """Fill a tag with `keys` entries (pipelined), then time its invalidation while PINGing every master."""
    layout, client = store.layout, store.client
    expires = int(time.time() * 1000) + 600_000
    pipeline = client.pipeline(transaction=False)
    for i in range(keys):
        key = f"bench-big:{i}"
        pipeline.set(layout.entry(key), b"x", px=600_000)
        pipeline.zadd(layout.tag_set("bench-big", layout.shard(key)), {layout.entry(key): expires})
        if i % 10_000 == 9_999:
            pipeline.execute()
    pipeline.execute()
    if layout.shards:
        masters = [redis.Redis(host=node.host, port=node.port) for node in client.get_primaries()]
    else:
        masters = [redis.Redis(connection_pool=client.connection_pool)]
    worst = [0.0]
    stop = threading.Event()

    def ping(master: Any) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            master.ping()
            worst[0] = max(worst[0], (time.perf_counter() - started) * 1000)
            time.sleep(0.001)

    pingers = [threading.Thread(target=ping, args=(master,), daemon=True) for master in masters]
    for pinger in pingers:
        pinger.start()
    time.sleep(0.05)
    started = time.perf_counter()
    removed = invalidate_tags(["bench-big"])
    took = time.perf_counter() - started
    stop.set()
    for pinger in pingers:
        pinger.join(5)
    assert removed == keys, (removed, keys)
    return took, worst[0]


if __name__ == "__main__":
    raise SystemExit(main())
