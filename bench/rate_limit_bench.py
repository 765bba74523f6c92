"""Benchmark of the rate limiter (apps.security.rate_limit): microseconds per hit, memory and Redis.

    .venv/bin/python bench/rate_limit_bench.py                 # 20,000 hits per round
    .venv/bin/python bench/rate_limit_bench.py --hits 200      # toy size (the smoke test)

Redis is measured only with --redis-url (e.g. redis://127.0.0.1:6379/5), under a unique prefix
whose keys are removed afterwards. Each figure is the median of 5 rounds; 50 keys in turn, a limit
no hit reaches (the cost of an allowed hit, the one nearly every request pays).
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hits", type=int, default=20_000)
    parser.add_argument("--redis-url", default="")
    arguments = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django

    django.setup()
    from redis import Redis

    from apps.security.rate_limit import MemoryWindow, RedisWindow, Window
    from apps.security.rates import Rate

    rate = Rate(limit=10**9, seconds=60)
    windows: list[tuple[str, Window]] = [("memory", MemoryWindow())]
    client = Redis.from_url(arguments.redis_url) if arguments.redis_url else None
    prefix = f"bench-rl-{uuid.uuid4().hex}:"
    if client is not None:
        windows.append(("redis", RedisWindow(client, prefix)))
    print("| store | µs per hit (median of 5) |\n|---|---|")
    try:
        for label, window in windows:
            rounds = []
            for _ in range(5):
                started = time.perf_counter()
                for index in range(arguments.hits):
                    window.hit(f"k{index % 50}", rate)
                rounds.append((time.perf_counter() - started) / arguments.hits * 1e6)
            print(f"| {label} | {statistics.median(rounds):.0f} |")
    finally:
        if client is not None:
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)
            client.close()


if __name__ == "__main__":
    main()
