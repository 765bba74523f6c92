"""The benchmark still runs (at toy size) and reports one Redis round trip at most."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT


def test_auth_bench_runs_at_toy_size() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "auth_bench.py"), "--requests", "20", "--checks", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "| token, warm cache, ACL checked |" in result.stdout
    assert "Accent-Auth validations over 140 requests: 1" in result.stdout
    assert "| refused by a negative pattern |" in result.stdout
