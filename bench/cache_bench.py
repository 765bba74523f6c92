"""Benchmark of apps.caching against raw django-redis and django-cacheops, on a real Redis, in one run.

    .venv/bin/python bench/cache_bench.py                      # full size (a few minutes)
    .venv/bin/python bench/cache_bench.py --scale 0.01         # toy size (the smoke test)

Uses Redis db 5 by default (--redis-url) under a unique prefix, and removes everything it wrote.
Never FLUSHDB: SCAN-based numbers include whatever else lives in that database.

django-cacheops (a dev dependency) is configured in this process only: `cacheops` is added to
INSTALLED_APPS and CACHEOPS_REDIS points at the same Redis, before django.setup(); the project's
settings never see it.
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(redis_url: str, prefix: str) -> None:
    os.environ["REDIS_URL"] = redis_url
    os.environ["CACHE_KEY_PREFIX"] = prefix
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django
    from django.conf import settings

    # django-cacheops for the comparison, in this process only (set before the app registry loads).
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "cacheops"]
    settings.CACHEOPS_REDIS = redis_url
    settings.CACHEOPS = {}  # no ORM caching: only its `cached` decorator is measured
    settings.CACHEOPS_PREFIX = lambda _query: f"{prefix}:cacheops:"  # cleaned up with the rest
    django.setup()


class PingProbe:
    """PINGs Redis on its own connection every millisecond; remembers the slowest answer."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self.client = client_factory()
        self.max_ms = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.client.ping()
            self.max_ms = max(self.max_ms, (time.perf_counter() - started) * 1000)
            time.sleep(0.001)

    def __enter__(self) -> PingProbe:
        self.client.ping()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def per_call_us(func: Callable[[], Any], iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        func()
    return (time.perf_counter() - started) / iterations * 1e6


def median_per_call_us(contenders: dict[str, Callable[[], Any]], iterations: int, rounds: int) -> dict[str, float]:
    """Each contender's median over `rounds`, the contenders interleaved in every round (same conditions)."""
    for func in contenders.values():
        for _ in range(min(1000, iterations)):
            func()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, func in contenders.items():
            samples[name].append(per_call_us(func, iterations))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes (100k tag, 1M keys)")
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7, help="hit latency: the median of this many rounds")
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    setup(args.redis_url, prefix)

    import redis
    from cacheops import cached as cacheops_cached  # type: ignore[import-untyped]
    from django.core.cache import cache
    from django_redis import get_redis_connection  # type: ignore[import-untyped]

    from apps.caching import cache_key, cached, invalidate_pattern, invalidate_tags
    from apps.caching.store import get_store

    client = get_redis_connection("default")
    store: Any = get_store()
    rows: list[tuple[str, str, str]] = []

    def probe_client() -> Any:
        return redis.Redis.from_url(args.redis_url)

    try:
        # -- 1. hit latency ----------------------------------------------------------------
        value = {"id": 42, "title": "A document title", "tags": ["a", "b", "c"], "version": 7, "body": "x" * 200}

        @cached(key_prefix="bench-doc", ttl=600, tags=lambda document_id: [f"bench-doc:{document_id}"])
        def document_detail(document_id: int) -> dict[str, Any]:
            return value

        @cacheops_cached(timeout=600)  # type: ignore[untyped-decorator]
        def cacheops_document_detail(document_id: int) -> dict[str, Any]:
            return value

        document_detail(42)
        cacheops_document_detail(42)
        cache.set("bench-raw", value, 600)
        assert document_detail(42) == cacheops_document_detail(42) == cache.get("bench-raw") == value
        # All three really hit Redis (a cacheops miss would SETEX on every call).
        assert client.exists(store.layout.entry(cache_key("bench-doc", 42)), str(cacheops_document_detail.key(42))) == 2
        iterations = max(200, int(args.iterations * max(args.scale, 0.05)))
        hit_us = median_per_call_us(
            {
                "raw": lambda: cache.get("bench-raw"),
                "ours": lambda: document_detail(42),
                "cacheops": lambda: cacheops_document_detail(42),
            },
            iterations,
            max(1, args.rounds),
        )
        raw_us, ours_us, cacheops_us = hit_us["raw"], hit_us["ours"], hit_us["cacheops"]
        rounds_note = f"median of {max(1, args.rounds)} rounds"
        rows.append(("hit: django-redis cache.get (baseline)", f"{raw_us:.1f} µs", f"1.00x ({rounds_note})"))
        rows.append(("hit: django-cacheops @cached", f"{cacheops_us:.1f} µs", f"{cacheops_us / raw_us:.2f}x"))
        rows.append(
            ("hit: @cached", f"{ours_us:.1f} µs", f"{ours_us / raw_us:.2f}x, {ours_us / cacheops_us:.2f}x cacheops")
        )
        cache.delete("bench-raw")

        # -- 2. invalidate one tag of 100k entries -------------------------------------------
        tag_size = max(1000, int(100_000 * args.scale))
        expires = (time.time() + 600) * 1000
        for start in range(0, tag_size, 10_000):
            pipeline = client.pipeline(transaction=False)
            for n in range(start, min(start + 10_000, tag_size)):
                entry = store.layout.entry(f"bench-tag:{n}")
                pipeline.set(entry, b"\x00x", px=600_000)
                pipeline.zadd(store.layout.tag_set("bench-big"), {entry: expires})
            pipeline.execute()
        with PingProbe(probe_client) as probe:
            started = time.perf_counter()
            removed = invalidate_tags(["bench-big"])
            elapsed = time.perf_counter() - started
        assert removed == tag_size, removed
        rows.append(
            (f"invalidate_tags: 1 tag of {tag_size:,} entries", f"{elapsed:.2f} s", f"PING max {probe.max_ms:.1f} ms")
        )

        # -- 3. pattern: 10k matching among 1M keys ------------------------------------------
        total = max(10_000, int(1_000_000 * args.scale))
        matching = max(100, int(10_000 * args.scale))
        for start in range(0, total - matching, 10_000):
            pipeline = client.pipeline(transaction=False)
            for n in range(start, min(start + 10_000, total - matching)):
                pipeline.set(f"{prefix}:filler:{n}", b"x", px=900_000)
            pipeline.execute()

        def add_matching(name: Callable[[int], str]) -> None:
            pipeline = client.pipeline(transaction=False)
            for n in range(matching):
                pipeline.set(name(n), b"\x00x", px=900_000)
            pipeline.execute()

        add_matching(lambda n: store.layout.entry(f"bench-pat:{n}"))
        with PingProbe(probe_client) as probe:
            started = time.perf_counter()
            removed = invalidate_pattern("bench-pat:*")
            ours = time.perf_counter() - started
        assert removed == matching, removed
        ours_ping = probe.max_ms
        add_matching(lambda n: cache.make_key(f"bench-pat:{n}"))
        with PingProbe(probe_client) as probe:
            started = time.perf_counter()
            removed = cache.delete_pattern("bench-pat:*")  # type: ignore[attr-defined]  # django-redis API
            theirs = time.perf_counter() - started
        assert removed == matching, removed
        rows.append(
            (
                f"django-redis delete_pattern: {matching:,} of {total:,} keys (baseline)",
                f"{theirs:.2f} s",
                f"PING max {probe.max_ms:.1f} ms",
            )
        )
        rows.append(
            (
                f"invalidate_pattern: {matching:,} of {total:,} keys",
                f"{ours:.2f} s",
                f"{theirs / ours:.1f}x faster, PING max {ours_ping:.1f} ms",
            )
        )
    finally:
        cleanup(client, prefix)

    width = max(len(row[0]) for row in rows)
    print(f"\n{'case':<{width}}  {'time':>10}  ratio / probe")
    for name, measured, ratio in rows:
        print(f"{name:<{width}}  {measured:>10}  {ratio}")
    return 0


def cleanup(client: Any, prefix: str) -> None:
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, match=f"{prefix}:*", count=5000)
        if keys:
            client.unlink(*keys)
        if cursor == 0:
            return


if __name__ == "__main__":
    sys.exit(main())
