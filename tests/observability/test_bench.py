"""bench/observability_bench.py runs at toy size and prints its table."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT, clean_env


def test_the_benchmark_runs_at_toy_size() -> None:
    result = subprocess.run(
        [sys.executable, "bench/observability_bench.py", "--probes", "5", "--lines", "10"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "ratio" not in line]
    assert len(rows) == 7
    assert rows[0].endswith("| 1.00 |")
