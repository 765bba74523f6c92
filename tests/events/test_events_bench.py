"""The relay benchmark runs end to end at toy size (figures are in docs/benchmarks.md, measured by hand)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT


def test_the_events_benchmark_runs_at_toy_size(broker_url: str, postgres: None) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "events_bench.py"), "--events", "20"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "CELERY_BROKER_URL": broker_url,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "relay, batch 200" in result.stdout
    assert "2 relays in parallel (processes), batch 2000 each" in result.stdout
    assert "baseline: kombu publish, confirmed" in result.stdout
    assert "worker drain: 20 events queued" in result.stdout
    assert "handled          20 of 20" in result.stdout
