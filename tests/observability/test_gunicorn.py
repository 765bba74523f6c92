"""The Dockerfile's server: gunicorn with project/gunicorn_config.py, two workers, metrics merged, traces per worker."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import ROOT, clean_env, free_port, manage


def _dockerfile_command() -> list[str]:
    line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    return [part.strip().strip('"') for part in line.removeprefix("CMD ").strip("[]").split(",")]


def _scrape(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    series = "django_http_responses_total_by_status_view_method_total"
    pattern = rf'^{series}\{{(?=[^}}]*status="200")(?=[^}}]*view="admin:login")[^}}]*\}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, flags=re.MULTILINE))


def _wait_until(condition: object, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.1)
    return False


def test_gunicorn_config_merges_worker_metrics_and_traces_each_worker(tmp_path: Path) -> None:
    command = _dockerfile_command()
    assert command[:3] == ["gunicorn", "--config", "python:project.gunicorn_config"]
    database = tmp_path / "db.sqlite3"
    port = free_port()
    env = clean_env(
        DATABASE_URL=f"sqlite:///{database}",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        OTEL_TRACES_EXPORTER="console",
        OTEL_BSP_SCHEDULE_DELAY="100",
        LOG_FORMAT="json",
    )
    assert manage("migrate", "--noinput", env=env, timeout=120).returncode == 0
    # Only the server gets the directory (the config creates and empties it); other commands need none.
    server_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    output = tmp_path / "server.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", *command], cwd=ROOT, env=server_env, stdout=sink, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        assert _wait_until(answers, 90), output.read_text()[-3000:]  # two workers booting on a loaded machine
        for _ in range(20):  # a worker's first admin page can take seconds under coverage
            assert httpx.get(f"{base_url}/admin/login/", timeout=30).status_code == 200
        # Whichever worker answers the scrape, it reports every worker's requests.
        assert [_scrape(base_url) for _ in range(4)] == [20.0] * 4
        databases = tmp_path / "prometheus"
        assert _wait_until(lambda: len(list(databases.glob("*.db"))) >= 2, 60), sorted(databases.iterdir())
        assert _wait_until(lambda: '"name": "GET admin/login/"' in output.read_text(), 60), output.read_text()[-3000:]
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log = output.read_text()
    assert '"name": "GET health' not in log, "probes are not traced"
    assert '"event": "request_finished"' in log
    assert '"path": "/health/live"' not in log, "probes are not logged"
    assert "GET /admin/login/ HTTP" not in log, "no gunicorn access log"


@pytest.mark.parametrize("name", ["bind", "workers", "accesslog", "on_starting", "post_fork", "child_exit"])
def test_the_config_defines(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Importing the config sets PROMETHEUS_MULTIPROC_DIR in os.environ (for gunicorn's workers);
    # monkeypatch restores it afterwards, or every process this suite starts later would inherit it.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    import project.gunicorn_config as config

    assert hasattr(config, name)
