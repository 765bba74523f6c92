"""gunicorn settings: `gunicorn --config python:project.gunicorn_config project.wsgi:application`.

- Prometheus multiprocess mode: every worker writes its series to
  `PROMETHEUS_MULTIPROC_DIR` (emptied when the server starts, so a restart does not
  resurrect old counts); `/metrics` merges them; `child_exit` marks a dead worker's
  live gauges gone.
- OpenTelemetry's SDK (and its exporter thread) is created in each worker after the
  fork, never in the master.
- No access log: the service logs one line per request itself, with its context,
  and leaves the probes out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from project.environment import EnvReader
from project.naming import service_names

env = EnvReader()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

bind = [f"0.0.0.0:{env.integer('PORT', 8000, minimum=1)}"]
workers = env.integer("WEB_CONCURRENCY", 3, minimum=1)
timeout = env.integer("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = timeout
accesslog = None
errorlog = "-"

# Read by prometheus_client in every worker; set before any worker imports it.
MULTIPROC_DIR = Path(env.string("PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "prometheus-multiproc")))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(MULTIPROC_DIR)
SERVICE_NAME = service_names(env).name


def on_starting(server: Any) -> None:
    shutil.rmtree(MULTIPROC_DIR, ignore_errors=True)
    MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
    from apps.observability.tracing import defer_tracing_until_fork  # noqa: PLC0415

    defer_tracing_until_fork()


def post_fork(server: Any, worker: Any) -> None:
    # Runs in the worker before it loads the application, so Django's tracing middleware is in place.
    from apps.observability.tracing import configure_tracing  # noqa: PLC0415

    configure_tracing(service_name=SERVICE_NAME, after_fork=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
