"""bench/realtime_bench.py runs at toy size against the real services, so it cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.processes import ROOT


def test_the_benchmark_delivers_every_frame_of_every_case(redis_url: str, broker_url: str) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "CELERY_BROKER_URL": broker_url}
    command = [sys.executable, "bench/realtime_bench.py", "--sockets", "5", "--events", "2", "--interval", "0.1"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "frames received" not in line]
    assert len(rows) == 3, result.stdout
    assert [re.search(r"\| ([\d,]+) of ([\d,]+) \|", row).groups() for row in rows] == [  # type: ignore[union-attr]
        ("2", "2"),
        ("10", "10"),
        ("10", "10"),
    ]
    assert "memory per idle subscribed socket" in result.stdout
