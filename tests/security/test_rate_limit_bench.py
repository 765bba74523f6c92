"""The limiter's benchmark still runs (at toy size), on Redis too when the run has one."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT


def test_rate_limit_bench_runs_at_toy_size() -> None:
    redis_url = os.environ.get("REDIS_URL", "")
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rate_limit_bench.py"), "--hits", "200", "--redis-url", redis_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "| memory |" in result.stdout
    assert ("| redis |" in result.stdout) == bool(redis_url)
