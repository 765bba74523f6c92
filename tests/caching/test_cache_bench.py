"""The benchmark runs end to end at toy size (figures are in docs/benchmarks.md, measured by hand)."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT


def test_the_cache_benchmark_runs_at_toy_size(redis_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "cache_bench.py"),
            "--redis-url",
            redis_url,
            "--scale",
            "0.01",
            "--iterations",
            "500",
        ],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "hit: @cached" in result.stdout
    assert "hit: django-cacheops @cached" in result.stdout
    assert "invalidate_pattern" in result.stdout


TOY_CLUSTER_BENCH = ["--tag-keys", "2000", "--iterations", "200", "--rounds", "1"]


def test_the_cluster_benchmark_runs_at_toy_size(redis_url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cluster_bench.py"), "--redis-url", redis_url, *TOY_CLUSTER_BENCH],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "cache hit, µs/call" in result.stdout
    assert "invalidate a 2,000-key tag" in result.stdout
    assert "worst PING of any master" in result.stdout
