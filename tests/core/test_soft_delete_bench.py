"""bench/soft_delete_bench.py runs at toy size (on the session's PostgreSQL server when there is one)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT, clean_env


def test_the_benchmark_runs_at_toy_size_and_deletes_set_based() -> None:
    server = os.environ.get("DATABASE_URL", "")
    env = clean_env(DATABASE_URL=server) if server.startswith("postgres") else clean_env()
    result = subprocess.run(
        [sys.executable, "bench/soft_delete_bench.py", "--rows", "60", "--loop-rows", "20"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [
        line.split(" | ")
        for line in result.stdout.splitlines()
        if line.startswith("| Label") or line.startswith("| Folder")
    ]
    assert len(rows) == 6, result.stdout
    by_case = {(cells[0].lstrip("| "), cells[1]): cells for cells in rows}
    for model in ("Label", "Folder"):
        baseline = by_case[(model, "row loop: instance.delete() (baseline)")]
        set_based = by_case[(model, "queryset .delete()")]
        assert baseline[-1] == "1.000 |"
        assert set_based[2] == "60"
        # A handful of statements for 60 rows, where the loop needs several per row.
        assert int(set_based[3]) < 60 < int(baseline[3].replace(",", ""))
